//go:build !race

// The race detector slows this test's Go half (assembling, the stand-in
// network over a whole volume, SEG and SC rendering) past two minutes on a
// shared 2-core machine; the pipeline's concurrency is small and the
// daemon's other tests run under -race, so this one runs in the ordinary
// (non-race) pass only (build.sh test runs both).

package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metsentry/firmware/analyze"
	"metsentry/firmware/cache"
	"metsentry/firmware/panel"
	"metsentry/firmware/report"
	"metsentry/firmware/testenv"
	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
	"metsentry/tools/phantom/phantom"
)

// echoBright is a stand-in network: lesion probability 1 where the
// normalised bright channel is far above the head's mean (the enhancing
// lesions and vessels of a phantom), else 0. zeroNet finds nothing.
type echoBright struct{}

func (echoBright) Run(_ context.Context, in []float32, shape [5]int64) ([]float32, error) {
	n := int(shape[2] * shape[3] * shape[4])
	out := make([]float32, n)
	bright := in[int(shape[1]-1)*n:]
	for i := range out {
		if bright[i] > 3 {
			out[i] = 1
		}
	}
	return out, nil
}
func (echoBright) Provider() string { return "cpu" }
func (echoBright) Close() error     { return nil }

type zeroNet struct{ echoBright }

func (zeroNet) Run(_ context.Context, _ []float32, shape [5]int64) ([]float32, error) {
	return make([]float32, shape[2]*shape[3]*shape[4]), nil
}

func standIn(e infer.Engine) *analyze.Analyzer {
	return &analyze.Analyzer{
		Model: &analyze.Model{
			Manifest: &manifest.Manifest{
				Schema: 1, Name: "echo", Version: "0", Precision: "fp32", SHA256: strings.Repeat("ab", 32),
				Channels: []string{"black", "bright"}, BrightOnly: true, SpacingMM: [3]float64{1, 1, 1},
				Normalisation: manifest.Normalisation{Method: "zscore-mask"},
				Layout:        manifest.Layout{Mode: manifest.LayoutWhole, Multiple: 8},
				Output:        manifest.Output{Meaning: "lesion-probability", Threshold: 0.5, MinComponentMM3: 2},
			},
			Engine: e,
			Plan:   infer.Plan{Multiple: 8, BudgetBytes: 1 << 40, BytesPerVoxel: 64, OutChannels: 1},
		},
		Equipment: report.Equipment{Manufacturer: "metsentry", ModelName: "test", SerialNumber: "0", SoftwareVersion: "test", DeviceUID: "2.25.1"},
	}
}

// TestEndToEnd is the appliance's whole job in process: dcmtk's storescu
// sends a phantom VISIBLE study to the daemon's intake service; the study
// is complete, analysed (a stand-in network), and its results delivered to
// dcmtk's storescp acting as PACS on loopback, where dciodvfy finds the
// SEG, SR and SC valid. A lesion-free reading gives an SR that says so and
// no SEG. The panel shows the result.
func TestEndToEnd(t *testing.T) {
	storescu, storescp, dciodvfy := testenv.Program(t, "storescu"), testenv.Program(t, "storescp"), testenv.Program(t, "dciodvfy")
	g, err := phantom.NewGenerator(testenv.SharedData(t, "anatomy", "colin27"), phantom.Config{Dims: [3]int{96, 96, 64}, LesionFree: -1, GhostProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.Generate(3, phantom.Val)
	if err != nil {
		t.Fatal(err)
	}
	study := t.TempDir()
	if err := phantom.WriteDICOM(study, c); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		engine   infer.Engine
		positive bool
	}{
		{"with lesions", echoBright{}, true},
		{"lesion-free", zeroNet{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var scpOut bytes.Buffer
			pacsDir, pacsPort := startPACS(t, ctx, storescp, tmp, &scpOut)
			port := testenv.FreePort(t)
			site := testSite(t, port, "STORESCU", pacsDestination(pacsPort, "seg, sr, sc"), "")
			board := simBoard(t, filepath.Join(tmp, "data"))
			events := make(chan JobEvent, 16)
			pan := panel.NewMachine(ctx, panel.MachineConfig{Logger: slog.New(slog.DiscardHandler)})
			svc := NewIntake(site, board, slog.New(slog.DiscardHandler))
			svc.Analyzer, svc.Panel = standIn(tc.engine), pan
			svc.Events = func(e JobEvent) { events <- e }
			done := make(chan error, 1)
			go func() { done <- svc.Run(ctx) }()
			defer func() { cancel(); <-done }()

			files, _ := filepath.Glob(filepath.Join(study, "s*", "*.dcm"))
			var out []byte
			for try := 0; try < 50; try++ { // until the SCP listens
				out, err = exec.CommandContext(ctx, storescu, "-aet", "STORESCU", "-aec", "METSENTRY", "127.0.0.1", fmt.Sprint(port), "+sd", "+r", study).CombinedOutput()
				if err == nil || !strings.Contains(string(out), "Connection refused") {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("storescu: %v\n%s", err, out)
			}
			var final JobEvent
			for final.State == "" || !cache.Terminal(final.State) {
				select {
				case final = <-events:
				case <-ctx.Done():
					t.Fatalf("no terminal job state; storescp said:\n%s", scpOut.String())
				}
			}
			if final.State != cache.JobDelivered {
				t.Fatalf("job ended %s: %s", final.State, final.Reason)
			}
			// storescp names each file for its SOP class: SG (SEG), SR3
			// (Comprehensive 3D SR), SC (secondary capture).
			got, _ := filepath.Glob(filepath.Join(pacsDir, "*"))
			kinds := map[string]int{}
			for _, f := range got {
				kind := strings.SplitN(filepath.Base(f), ".", 2)[0]
				kinds[kind]++
				if kind == "SR3" {
					b, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					if neg := bytes.Contains(b, []byte("Negative study")); neg == tc.positive {
						t.Errorf("the SR says negative: %v; want %v", neg, !tc.positive)
					}
					if !bytes.Contains(b, []byte(analyze.Visible.Describe())) {
						t.Errorf("the SR does not name the mode (%q)", analyze.Visible.Describe())
					}
				}
				if out, err := exec.Command(dciodvfy, "-new", f).CombinedOutput(); strings.Contains(string(out), "Error") {
					t.Errorf("dciodvfy %s: %v\n%s", filepath.Base(f), err, out)
				}
			}
			v := pan.Current()
			t.Logf("%d study files sent; PACS received %v; panel %v %d", len(files), kinds, v.Show, v.Count)
			if (kinds["SG"] == 1) != tc.positive || kinds["SR3"] != 1 || kinds["SC"] == 0 {
				t.Errorf("PACS received %v; want one SR, SC images and a SEG only when lesions were found", kinds)
			}
			if want := map[bool]panel.Indication{true: panel.Positive, false: panel.Negative}[tc.positive]; v.Show != want || (v.Count > 0) != tc.positive {
				t.Errorf("panel shows %v with count %d; want %v", v.Show, v.Count, want)
			}
		})
	}
}
