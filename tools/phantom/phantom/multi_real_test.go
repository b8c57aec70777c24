//go:build !race

// Loading two real brains (and their masks, and the glioma fill) over
// 7–9 million voxels takes most of a minute under the race detector; nothing
// in it is concurrent beyond the renderer the other tests race-check, so it
// runs in the ordinary test pass only.

package phantom

import (
	"strings"
	"testing"

	"metsentry/firmware/testenv"
)

// TestMultiRealBrains draws one small case from a real non-contrast head
// and one from a real post-contrast brain with its glioma filled.
func TestMultiRealBrains(t *testing.T) {
	if testing.Short() {
		t.Skip("loads two real brains (about 15 s)")
	}
	root := testenv.SharedData(t)
	m, err := NewMultiGenerator(root, []string{"colin27", "brats-preprocessed-case"}, nil, Config{Dims: [3]int{96, 96, 64}, LesionFree: -1, GhostProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Split{Train, Test} {
		c, err := m.Generate(0, s)
		if err != nil {
			t.Fatal(err)
		}
		tr := TruthOf(c)
		if DefaultBrainSplits[tr.Background] != s {
			t.Errorf("case %s on brain %s of split %s", c.ID, tr.Background, DefaultBrainSplits[tr.Background])
		}
		if tr.Background == "brats-preprocessed-case" && (!c.Params.PostContrast || !strings.Contains(c.Params.Tumour, "mirror")) {
			t.Errorf("post-contrast case params %+v", c.Params)
		}
		if len(c.Lesions) == 0 {
			t.Errorf("case %s on %s: no lesion placed", c.ID, tr.Background)
		}
		// The brain truth: every lesion (placed with its centre inside the
		// brain) mostly in it.
		if len(c.Brain) != c.Grid.Len() {
			t.Fatalf("brain mask of %d voxels for a %d-voxel grid", len(c.Brain), c.Grid.Len())
		}
		in, all := map[uint16]int{}, map[uint16]int{}
		brain := 0
		for i, l := range c.Labels {
			brain += int(c.Brain[i])
			if l != 0 {
				all[l]++
				in[l] += int(c.Brain[i])
			}
		}
		if brain == 0 {
			t.Errorf("case %s: an empty brain mask", c.ID)
		}
		for l, n := range all {
			if 2*in[l] < n {
				t.Errorf("case %s: lesion %d has %d of its %d voxels in the brain mask", c.ID, l, in[l], n)
			}
		}
	}
	if _, err := m.Generate(0, Val); err == nil {
		t.Error("a split without a brain gave a case")
	}
}
