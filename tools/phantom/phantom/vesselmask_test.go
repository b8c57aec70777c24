package phantom

import (
	"bytes"
	"math"
	"sort"
	"testing"
)

func TestPVCount(t *testing.T) {
	for _, tc := range []struct {
		name string
		frac float64
		want uint8
		err  bool
	}{
		{"half", VesselHalf, 14, false},
		{"quarter", 0.25, 7, false},
		{"one sub-sample", 1.0 / 27, 1, false},
		{"all", 1, 27, false},
		{"zero", 0, 0, true},
		{"negative", -0.1, 0, true},
		{"above one", 1.5, 0, true},
		{"NaN", math.NaN(), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PVCount(tc.frac)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("PVCount(%g) = %d, %v; want %d, error %v", tc.frac, got, err, tc.want, tc.err)
			}
		})
	}
	if _, err := (&Case{}).VesselMask(0.5); err == nil {
		t.Error("a case without a partial-volume map gave a mask")
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// TestVesselMask checks the vessel map against the images it was rendered
// with: vessels bright on bright-blood and mostly dark on black-blood, the
// choroid plexus and pituitary bright on both, and hardly any vessel voxel
// inside a lesion label.
func TestVesselMask(t *testing.T) {
	for _, seed := range []uint64{3, 11} {
		c := testCase(t, seed, Train)
		t.Run(c.ID, func(t *testing.T) {
			n := c.Grid.Len()
			if len(c.VesselPV) != n || len(c.GlandPV) != n {
				t.Fatalf("partial-volume maps of %d and %d voxels for a %d-voxel grid", len(c.VesselPV), len(c.GlandPV), n)
			}
			vm, err := c.VesselMask(VesselHalf)
			if err != nil {
				t.Fatal(err)
			}
			gm, err := c.GlandMask(VesselHalf)
			if err != nil {
				t.Fatal(err)
			}
			var vb, vk, gb, gk []float64
			labelled, onVessel, darkish := 0, 0, 0
			for i := range c.VesselPV {
				if int(c.VesselPV[i])+int(c.GlandPV[i]) > PVSamples {
					t.Fatalf("voxel %d: %d vessel and %d gland sub-samples of %d", i, c.VesselPV[i], c.GlandPV[i], PVSamples)
				}
				if vm[i] != (c.VesselPV[i] >= 14) {
					t.Fatalf("voxel %d: mask %v for %d/27", i, vm[i], c.VesselPV[i])
				}
				if c.Labels[i] != 0 {
					labelled++
					if vm[i] {
						onVessel++
					}
					continue
				}
				if vm[i] {
					vb = append(vb, float64(c.Bright[i]))
					vk = append(vk, float64(c.Black[i]))
					if c.Black[i] < c.Bright[i]/2 {
						darkish++
					}
				}
				if gm[i] {
					gb = append(gb, float64(c.Bright[i]))
					gk = append(gk, float64(c.Black[i]))
				}
			}
			if len(vb) < 200 {
				t.Fatalf("%d vessel voxels in the crop: the map is nearly empty", len(vb))
			}
			// white matter is near 1000; vessels are 2-3× it on bright-blood
			if m := median(vb); m < 1500 {
				t.Errorf("vessel voxels: median %.0f on bright-blood (want > 1500)", m)
			}
			if m := median(vk); m > 500 {
				t.Errorf("vessel voxels: median %.0f on black-blood (want < 500: flow voids)", m)
			}
			if f := float64(darkish) / float64(len(vb)); f < 0.8 {
				t.Errorf("only %.0f%% of vessel voxels are under half as bright on black-blood as on bright-blood (want ≥ 80%%; slow flow and sinuses are the rest)", 100*f)
			}
			if len(gb) > 0 && median(gk) < 0.6*median(gb) {
				t.Errorf("choroid plexus / pituitary: median %.0f black vs %.0f bright (want bright in both)", median(gk), median(gb))
			}
			if labelled > 0 && float64(onVessel) > 0.02*float64(labelled) {
				t.Errorf("%d of %d lesion voxels are mostly vessel (want ≤ 2%%: a lesion only abuts a vessel)", onVessel, labelled)
			}
		})
	}
	t.Run("deterministic", func(t *testing.T) {
		a := testCase(t, 3, Train)
		b, err := smallGenerator(t).Generate(3, Train)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.VesselPV, b.VesselPV) || !bytes.Equal(a.GlandPV, b.GlandPV) {
			t.Error("the same case gave different partial-volume maps")
		}
	})
}
