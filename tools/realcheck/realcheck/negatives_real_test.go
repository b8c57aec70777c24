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

// TestNegativesRealColin runs the scoreboard on the real Colin27 head with
// the stand-in engine (no model): masks, the derived black-blood image, the
// chain and the table on a real brain. It fails, naming the path, without
// the shared data.
func TestNegativesRealColin(t *testing.T) {
	if testing.Short() {
		t.Skip("a real whole head (about 10 s)")
	}
	root := testenv.SharedData(t)
	b, err := LoadBackground(root, "colin27")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunNegatives(context.Background(), []*Background{b}, Options{Manifest: testManifest(), ManifestPath: "standin.json", Engine: &brightEngine{}, Plan: infer.Plan{Multiple: 8}}, DefaultNegParams, nil)
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
	if len(rep.Rows[1].Findings) == 0 {
		t.Fatal("the stand-in engine (bright > 3 sd) flags nothing on a real head: the chain did not run")
	}
	for _, f := range rep.Rows[1].Findings {
		if f.AAL == "" {
			t.Errorf("a finding on colin27 without an AAL region: %+v", f)
			break
		}
	}
	checkNegTable(t, rep)
}
