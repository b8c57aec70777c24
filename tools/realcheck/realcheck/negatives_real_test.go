//go:build !race

// The race detector slows the Go half of this test (loading, masks and
// Prepare over a real 7-million-voxel head) to most of a minute; nothing in
// it is concurrent beyond firmware/volume's own tested workers, so it runs
// in the ordinary (non-race) test pass only, like TestShippedModelFindsTumour.

package realcheck

import (
	"context"
	"testing"

	"metsentry/firmware/testenv"
	"metsentry/runtime/infer"
)

// centreEngine is the stand-in engine (bright > 3 sd: on a non-contrast
// head, the scalp's fat and the marrow) that also flags a 6-voxel cube at
// the model grid's centre, inside the brain.
type centreEngine struct{ brightEngine }

func (e *centreEngine) Run(ctx context.Context, in []float32, shape [5]int64) ([]float32, error) {
	out, err := e.brightEngine.Run(ctx, in, shape)
	d, h, w := int(shape[2]), int(shape[3]), int(shape[4])
	for z := d/2 - 3; z < d/2+3; z++ {
		for y := h/2 - 3; y < h/2+3; y++ {
			for x := w/2 - 3; x < w/2+3; x++ {
				out[(z*h+y)*w+x] = 1
			}
		}
	}
	return out, err
}

// TestNegativesRealColin runs the scoreboard on the real Colin27 head with
// a stand-in engine (no model): masks, the derived black-blood image, the
// chain and the table on a real brain. What the stand-in flags outside the
// brain (the scalp's fat) is dropped by the brain gate; the cube it flags in
// the brain is found, named by its AAL region. It fails, naming the path,
// without the shared data.
func TestNegativesRealColin(t *testing.T) {
	if testing.Short() {
		t.Skip("a real whole head (about 10 s)")
	}
	root := testenv.SharedData(t)
	b, err := LoadBackground(root, "colin27")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunNegatives(context.Background(), []*Background{b}, Options{Manifest: testManifest(), ManifestPath: "standin.json", Engine: &centreEngine{}, Plan: infer.Plan{Multiple: 8}}, DefaultNegParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	bg := rep.Backgrounds[0]
	if bg.BrainCM3 < 1000 || bg.BrainCM3 > 2000 || !(bg.Levels.CSF < bg.Levels.GM && bg.Levels.GM < bg.Levels.WM) {
		t.Errorf("colin27: brain %.0f cm³, levels %+v: expected a brain of 1–2 L and CSF < GM < WM", bg.BrainCM3, bg.Levels)
	}
	if bg.BloodCM3 != 0 || rep.Rows[0].Contrast != "non-contrast head, no simulated enhancement" {
		t.Errorf("colin27 is non-contrast: blood %.1f cm³, contrast %q", bg.BloodCM3, rep.Rows[0].Contrast)
	}
	for _, row := range rep.Rows {
		// The brain gate grows the brain 20 mm through tissue (it must reach
		// the inferior temporal lobes), and on Colin27 that takes in a speck
		// of tissue at the skull base: the stand-in flags 2 voxels there. The
		// scalp over the vault and at the sides stays outside the gate.
		var cube []NegFinding
		for _, f := range row.Findings {
			if f.Where == "skull base (outside brain, low)" && f.Voxels <= 8 {
				continue
			}
			cube = append(cube, f)
		}
		if len(cube) != 1 || len(row.Findings) > 2 {
			t.Fatalf("%s: %d findings, want the stand-in's cube in the brain and at most a speck at the skull base (the scalp it flags is outside the brain gate): %+v", row.Input, len(row.Findings), row.Findings)
		}
		f := cube[0]
		if f.AAL == "" || f.Voxels != 216 || f.Outside != 0 {
			t.Errorf("%s: the cube's finding %+v: want 216 voxels in the brain, with an AAL region", row.Input, f)
		}
	}
	checkNegTable(t, rep)
}
