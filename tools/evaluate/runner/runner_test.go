package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"metsentry/firmware/detect"
	"metsentry/firmware/nifti"
	"metsentry/firmware/testenv"
	"metsentry/firmware/volume"
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

func TestMainRefusesE2E(t *testing.T) {
	if err := Main(context.Background(), CLI{E2E: "127.0.0.1:11112"}, nil); err != ErrE2E {
		t.Errorf("got %v, want ErrE2E", err)
	}
}
