package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"metsentry/firmware/analyze"
	"metsentry/firmware/detect"
	"metsentry/firmware/nifti"
	"metsentry/firmware/testenv"
	"metsentry/firmware/volume"
	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
	"metsentry/tools/evaluate/score"
	"metsentry/tools/phantom/phantom"
)

var (
	small   = phantom.Config{Dims: [3]int{80, 80, 56}, LesionFree: -1, GhostProb: -1}
	genOnce sync.Once
	gen     *phantom.Generator
	genErr  error
)

// generator loads the anatomy once for all tests of the package.
func generator(t *testing.T) *phantom.Generator {
	t.Helper()
	dir := testenv.SharedData(t, "anatomy", "colin27")
	genOnce.Do(func() { gen, genErr = phantom.NewGenerator(dir, small) })
	if genErr != nil {
		t.Fatal(genErr)
	}
	return gen
}

// oracle answers with the truth of the case the runner is on: it makes the
// same (split, seed) case with its own generator, so a perfect score also
// shows the phantom is deterministic and that the DICOM round trip keeps
// the grid voxel for voxel.
type oracle struct {
	g     *phantom.Generator
	split phantom.Split
	seeds []uint64
	n     int
	miss  bool
}

func (o *oracle) Name() string { return "oracle" }

func (o *oracle) Prob(ctx context.Context, black, bright *volume.Volume) ([]float32, error) {
	c, err := o.g.Generate(o.seeds[o.n], o.split)
	o.n++
	if err != nil {
		return nil, err
	}
	p := make([]float32, len(c.Labels))
	if !o.miss {
		for i, v := range c.Labels {
			if v != 0 {
				p[i] = 0.9
			}
		}
	}
	return p, nil
}

func TestRunPipeline(t *testing.T) {
	g := generator(t)
	seeds := []uint64{4, 7}
	for _, tc := range []struct {
		name     string
		miss     bool
		wantSens float64
	}{{"perfect", false, 1}, {"all missed", true, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(context.Background(), Options{
				Generator: g, Split: phantom.Val, Seeds: seeds,
				Detector: &oracle{g: g, split: phantom.Val, seeds: seeds, miss: tc.miss},
				Params:   detect.Params{Threshold: 0.5}, FROCThresholds: []float64{0.5, 0.95},
				ScratchDir: t.TempDir(),
			})
			if err != nil {
				t.Fatal(err)
			}
			s := rep.Summary
			if s.Lesions == 0 {
				t.Fatal("no lesions in the cases: nothing was scored")
			}
			if s.Sensitivity != tc.wantSens || s.FP != 0 {
				t.Errorf("sensitivity %v with %d FP, want %v with 0", s.Sensitivity, s.FP, tc.wantSens)
			}
			if !tc.miss && s.LesionDice != 1 {
				t.Errorf("lesion Dice %v, want 1 for the truth itself", s.LesionDice)
			}
			if rep.Split != "val" || rep.Generator != phantom.Version || len(rep.Seeds) != 2 || !strings.Contains(rep.Data, "synthetic") {
				t.Errorf("report does not name its data: %+v", rep)
			}
			want := []score.FROCPoint{{Threshold: 0.5, Sensitivity: tc.wantSens}, {Threshold: 0.95}}
			if len(rep.FROC) != 2 || rep.FROC[0] != want[0] || rep.FROC[1] != want[1] {
				t.Errorf("FROC %+v, want %+v", rep.FROC, want)
			}
			for _, c := range rep.Cases {
				if c.Seconds <= 0 {
					t.Errorf("case %s: no time measured", c.ID)
				}
			}
			out := t.TempDir()
			if err := WriteReport(out, rep); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"report.md", "report.json", "froc.png"} {
				if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
					t.Errorf("%s not written: %v", f, err)
				}
			}
		})
	}
}

// clockRef is a speed reference that takes a fixed time; it counts its
// passes and can fail.
type clockRef struct {
	secs  float64
	calls int
	fail  error
}

func (r *clockRef) Name() string { return "a fixed 2 s" }

func (r *clockRef) Time(context.Context) (float64, error) {
	r.calls++
	return r.secs, r.fail
}

// The reference is timed once after each study and read against its time;
// a reference that fails stops the run with its name in the error.
func TestRunSpeedReference(t *testing.T) {
	g := generator(t)
	seeds := []uint64{4, 7}
	ref := &clockRef{secs: 2}
	o := Options{
		Generator: g, Split: phantom.Val, Seeds: seeds,
		Detector:   &oracle{g: g, split: phantom.Val, seeds: seeds},
		Params:     detect.Params{Threshold: 0.5},
		ScratchDir: t.TempDir(),
		Reference:  ref,
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if ref.calls != 2 || rep.SpeedReference != "a fixed 2 s" {
		t.Fatalf("%d reference passes for 2 studies, report names %q", ref.calls, rep.SpeedReference)
	}
	var study float64
	for _, c := range rep.Cases {
		if c.ReferenceSeconds != 2 || c.Seconds <= 0 {
			t.Errorf("case %s: %g s, reference %g s", c.ID, c.Seconds, c.ReferenceSeconds)
		}
		study += c.Seconds
	}
	if s := rep.Summary; s.ReferenceSeconds != 2 || s.StudyOverReference != study/4 {
		t.Errorf("summary: reference %g s, ratio %g; want 2 and %g", s.ReferenceSeconds, s.StudyOverReference, study/4)
	}
	o.Detector = &oracle{g: g, split: phantom.Val, seeds: seeds}
	o.Reference = &clockRef{fail: errors.New("session closed")}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "a fixed 2 s") {
		t.Errorf("failing reference: %v", err)
	}
	if err := Main(context.Background(), CLI{Files: true, Reference: ref}, nil); err == nil || !strings.Contains(err.Error(), "in-process") {
		t.Errorf("reference with -files: %v", err)
	}
}

func TestScoreFiles(t *testing.T) {
	g := generator(t)
	cases, preds := t.TempDir(), t.TempDir()
	c, err := g.Generate(2, phantom.Test)
	if err != nil {
		t.Fatal(err)
	}
	if err := phantom.WriteCase(filepath.Join(cases, c.ID), c, "nifti"); err != nil {
		t.Fatal(err)
	}
	if len(c.Lesions) < 2 {
		t.Fatalf("case has %d lesions, the test needs 2", len(c.Lesions))
	}
	// predict every lesion but the first, as a label map
	pred := make([]uint16, len(c.Labels))
	for i, v := range c.Labels {
		if v > 1 {
			pred[i] = 1
		}
	}
	os.MkdirAll(filepath.Join(preds, c.ID), 0o755)
	if err := nifti.Write(filepath.Join(preds, c.ID, "pred.nii.gz"), phantom.LabelImage(c.Grid, pred)); err != nil {
		t.Fatal(err)
	}
	rep, err := ScoreFiles(cases, preds, 0.5, DefaultFROC)
	if err != nil {
		t.Fatal(err)
	}
	n := len(c.Lesions)
	if rep.Summary.Hits != n-1 || rep.Summary.Lesions != n || rep.Summary.FP != 0 {
		t.Errorf("hits %d of %d with %d FP, want %d of %d with 0", rep.Summary.Hits, rep.Summary.Lesions, rep.Summary.FP, n-1, n)
	}
	if rep.Split != "test" || len(rep.Seeds) != 1 || rep.Seeds[0] != 2 || len(rep.FROC) != 0 {
		t.Errorf("report: split %q seeds %v froc %d", rep.Split, rep.Seeds, len(rep.FROC))
	}
	// the same as probabilities: FROC points appear
	prob := make([]float32, len(pred))
	for i, v := range pred {
		prob[i] = float32(v) * 0.8
	}
	os.Remove(filepath.Join(preds, c.ID, "pred.nii.gz"))
	if err := nifti.Write(filepath.Join(preds, c.ID, "prob.nii.gz"), &nifti.Image{Grid: c.Grid, Data: prob, Datatype: nifti.DTFloat32}); err != nil {
		t.Fatal(err)
	}
	rep, err = ScoreFiles(cases, preds, 0.5, []float64{0.5, 0.9})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Hits != n-1 || len(rep.FROC) != 2 || rep.FROC[1].Sensitivity != 0 {
		t.Errorf("prob: hits %d, froc %+v", rep.Summary.Hits, rep.FROC)
	}
	if _, err := ScoreFiles(cases, t.TempDir(), 0.5, nil); err == nil {
		t.Error("missing predictions gave no error")
	}
}

func TestMainE2ENeedsResultsDir(t *testing.T) {
	err := Main(context.Background(), CLI{E2E: "127.0.0.1:11112", Split: "test", Count: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "-results-dir") {
		t.Errorf("got %v, want a message naming -results-dir", err)
	}
}

// echoBright is a stand-in network: its lesion probability is 1 where the
// normalised bright channel is far above the head's mean, else 0. It checks
// the model path (Prepare, Predict, mapping back) without ONNX Runtime.
type echoBright struct{}

func (echoBright) Run(_ context.Context, in []float32, shape [5]int64) ([]float32, error) {
	n := int(shape[2] * shape[3] * shape[4])
	out := make([]float32, n)
	bright := in[n : 2*n]
	for i := range out {
		if bright[i] > 3 {
			out[i] = 1
		}
	}
	return out, nil
}
func (echoBright) Provider() string { return "cpu" }
func (echoBright) Close() error     { return nil }

func TestModelDetector(t *testing.T) {
	g := generator(t)
	m := &manifest.Manifest{
		Schema: 1, Name: "echo", Version: "0", Precision: "fp32",
		Channels: []string{"black", "bright"}, SpacingMM: [3]float64{1, 1, 1},
		Normalisation: manifest.Normalisation{Method: "zscore-mask"},
		Layout:        manifest.Layout{Mode: manifest.LayoutWhole, Multiple: 8},
		Output:        manifest.Output{Meaning: "lesion-probability", Threshold: 0.5},
	}
	d := &ModelDetector{Model: analyze.Model{Manifest: m, Engine: echoBright{}, Plan: infer.Plan{Multiple: 8, BudgetBytes: 1 << 40, BytesPerVoxel: 64, OutChannels: 1}}}
	rep, err := Run(context.Background(), Options{
		Generator: g, Split: phantom.Val, Seeds: []uint64{4},
		Detector: d, Params: detect.Params{Threshold: 0.5}, ScratchDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Summary
	// bright-blood alone finds the enhancing lesions and every bright vessel
	if s.Lesions == 0 || s.Hits == 0 || s.FP == 0 {
		t.Errorf("echo of the bright channel: %d/%d lesions with %d FP; want some hits and the vessels as false positives", s.Hits, s.Lesions, s.FP)
	}
	if !strings.Contains(rep.Detector, "model echo 0") {
		t.Errorf("detector name %q", rep.Detector)
	}
}

// The manifest's rescore stage runs on VISIBLE studies: a stage that keeps
// candidates bright on black-blood drops the vessels the bright-channel echo
// marks and keeps its lesion hits; NoRescore scores the echo itself.
func TestModelDetectorRescore(t *testing.T) {
	g := generator(t)
	n := len(detect.RescoreFeatures)
	stage := &manifest.Rescore{Candidate: 0.5, Accept: 0.5, Features: detect.RescoreFeatures,
		Mean: make([]float64, n), Scale: make([]float64, n), Weights: make([]float64, n), Bias: -2}
	for i := range n {
		stage.Scale[i] = 1
	}
	stage.Weights[4] = 3 // mean_black: lesions enhance there, blood is dark
	m := &manifest.Manifest{
		Schema: 1, Name: "echo", Version: "0", Precision: "fp32",
		Channels: []string{"black", "bright"}, SpacingMM: [3]float64{1, 1, 1},
		Normalisation: manifest.Normalisation{Method: "zscore-mask"},
		Layout:        manifest.Layout{Mode: manifest.LayoutWhole, Multiple: 8},
		Output:        manifest.Output{Meaning: "lesion-probability", Threshold: 0.5, Rescore: stage},
	}
	var sums [2]score.Summary
	for i, off := range []bool{true, false} {
		d := &ModelDetector{Model: analyze.Model{Manifest: m, Engine: echoBright{}, NoRescore: off, Plan: infer.Plan{Multiple: 8, BudgetBytes: 1 << 40, BytesPerVoxel: 64, OutChannels: 1}}}
		rep, err := Run(context.Background(), Options{
			Generator: g, Split: phantom.Val, Seeds: []uint64{4},
			Detector: d, Params: detect.Params{Threshold: 0.5}, ScratchDir: t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = rep.Summary
		if want := map[bool]string{true: "rescore stages off", false: "with its rescore stage"}[off]; !strings.Contains(rep.Detector, want) {
			t.Errorf("detector %q does not say %q", rep.Detector, want)
		}
	}
	off, on := sums[0], sums[1]
	t.Logf("echo alone: %d/%d lesions, %d FP; with the stage: %d/%d, %d FP", off.Hits, off.Lesions, off.FP, on.Hits, on.Lesions, on.FP)
	if on.FP >= off.FP || on.Hits == 0 || on.Hits < off.Hits-1 {
		t.Errorf("echo alone: %d/%d lesions, %d FP; with the stage: %d/%d, %d FP; want the vessels dropped and the hits kept", off.Hits, off.Lesions, off.FP, on.Hits, on.Lesions, on.FP)
	}
}
