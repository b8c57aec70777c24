//go:build !race

package realcheck

import (
	"testing"

	"metsentry/firmware/testenv"
	"metsentry/firmware/volume"
)

// TestBrainGateCoversRealBrains: on every real brain of the shared data
// (whole heads and skull-stripped, every scanner), the mask that
// detect.GateBrain gates findings by (volume.ModelInput.BrainMask) holds
// the brain: at least 99.5% of each brain mask's voxels (given with the data
// or extracted here by ExtractBrain's own rule) lie in it, so a metastasis
// anywhere in the brain is never gated away; and on whole heads it leaves
// most of the head that is not brain out (what it is for).
func TestBrainGateCoversRealBrains(t *testing.T) {
	if testing.Short() {
		t.Skip("six real heads through Prepare (about a minute)")
	}
	root := testenv.SharedData(t)
	for _, name := range BackgroundNames {
		t.Run(name, func(t *testing.T) {
			b, err := LoadBackground(root, name)
			if err != nil {
				t.Fatal(err)
			}
			mi, err := volume.Prepare(nil, b.Image, testManifest())
			if err != nil {
				t.Fatal(err)
			}
			if mi.BrainMask == nil {
				t.Fatal("no brain found: nothing would be gated")
			}
			gate, err := mi.ToSource(mi.BrainMask)
			if err != nil {
				t.Fatal(err)
			}
			head, err := mi.ToSource(mi.HeadMask)
			if err != nil {
				t.Fatal(err)
			}
			var brain, covered, other, otherIn int
			for i, m := range b.Brain {
				switch {
				case m != 0:
					brain++
					covered += int(gate[i])
				case head[i] != 0:
					other++
					otherIn += int(gate[i])
				}
			}
			cover := float64(covered) / float64(brain)
			rest := float64(otherIn) / float64(max(other, 1))
			t.Logf("%s: %.2f%% of %d brain voxels in the gate; %.1f%% of the other %d head voxels in it", name, 100*cover, brain, 100*rest, other)
			if cover < 0.995 {
				t.Errorf("%s: the gate holds %.2f%% of the brain, want at least 99.5%%", name, 100*cover)
			}
			if !b.SkullStripped && rest > 0.5 {
				t.Errorf("%s: the gate holds %.1f%% of the head outside the brain, want under half", name, 100*rest)
			}
		})
	}
}
