//go:build !race

package volume

import (
	"math"
	"testing"

	"metsentry/firmware/geom"
	"metsentry/firmware/nifti"
	"metsentry/firmware/testenv"
	"metsentry/runtime/manifest"
)

// readNIfTI reads a shared-data NIfTI as a Volume.
func readNIfTI(t *testing.T, rel ...string) *Volume {
	t.Helper()
	img, err := nifti.Read(testenv.SharedData(t, rel...))
	if err != nil {
		t.Fatal(err)
	}
	v, err := FromNIfTI(img)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// clearance returns the smallest distance, in mm, from a set voxel of mask
// (on src) to the edge of the model grid, negative when one lies outside.
func clearance(mi *ModelInput, src geom.Grid, mask []float32) float64 {
	inv, err := mi.Grid.Affine.Inverse()
	if err != nil {
		return math.Inf(-1)
	}
	m := inv.Mul(src.Affine)
	best := math.Inf(1)
	nx, ny, nz := src.Dims[0], src.Dims[1], src.Dims[2]
	for k := range nz {
		for j := range ny {
			for i := range nx {
				if mask[(k*ny+j)*nx+i] <= 0 {
					continue
				}
				p := m.Apply(geom.Vec3{float64(i), float64(j), float64(k)})
				for a := range 3 {
					sp := mi.Grid.Affine[a][a]
					best = min(best, (p[a]+0.5)*sp, (float64(mi.Grid.Dims[a])-0.5-p[a])*sp)
				}
			}
		}
	}
	return best
}

// On real heads the brain box keeps every brain voxel, with room to spare,
// and drops a good part of the head grid.
func TestBrainBoxOnRealHeads(t *testing.T) {
	m := testManifestAt([]string{manifest.ChannelBright}, manifest.Normalisation{Method: manifest.NormZScoreMask}, 1)
	m.Layout.Multiple = 8
	for _, tc := range []struct {
		name string
		// head is the image; brain marks its brain voxels (nil: no
		// reference brain mask).
		head, brain *Volume
		// maxKept is the largest share of the head grid the box may keep.
		maxKept float64
	}{
		// Colin27: a full head to below the chin, with the brain mask
		// drawn for it (ch2bet).
		{"colin27", readNIfTI(t, "anatomy", "colin27", "ch2.nii.gz"), readNIfTI(t, "anatomy", "colin27", "ch2bet.nii.gz"), 0.8},
		// BraTS: a skull-stripped post-contrast brain, so the head is the
		// brain; nothing may be cut from it.
		{"brats t1c (skull-stripped)", readNIfTI(t, "anatomy", "brats-gli-00001", "BraTS-GLI-00001-000-t1c.nii.gz"), nil, 1},
		// Philips sagittal MPRAGE: the field of view reaches the neck.
		{"philips mprage", philips(t), nil, 0.6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mi, err := Prepare(nil, tc.head, m)
			if err != nil {
				t.Fatal(err)
			}
			kept := float64(mi.Grid.Len()) / float64(mi.HeadGrid.Len())
			t.Logf("model grid %v of head grid %v (%.0f%%)", mi.Grid.Dims, mi.HeadGrid.Dims, 100*kept)
			if kept > tc.maxKept {
				t.Errorf("the brain box keeps %.0f%% of the head grid, want at most %.0f%%", 100*kept, 100*tc.maxKept)
			}
			// The cut holds the head grid's own values: normalised over the
			// whole head, then cut, voxel for voxel.
			whole, err := PrepareHead(nil, tc.head, m)
			if err != nil {
				t.Fatal(err)
			}
			if whole.Grid != mi.HeadGrid {
				t.Fatalf("head grid %v, the uncut Prepare gives %v", mi.HeadGrid, whole.Grid)
			}
			var org [3]int
			for a := range 3 {
				org[a] = int(math.Round((mi.Grid.Affine[a][3] - whole.Grid.Affine[a][3]) / whole.Grid.Affine[a][a]))
			}
			want := make([]float32, mi.Grid.Len())
			cropInto(want, whole.Data, whole.Grid.Dims, org, mi.Grid.Dims)
			for i, w := range want {
				if mi.Data[i] != w {
					t.Fatalf("voxel %d of the cut grid holds %g, the head grid %g there", i, mi.Data[i], w)
				}
			}
			brain := tc.brain
			if brain == nil && tc.maxKept == 1 {
				brain = tc.head
			}
			if brain == nil {
				return
			}
			// Every brain voxel at least half the margin inside the grid
			// (the reference masks are drawn to about a voxel).
			if c := clearance(mi, brain.Grid, brain.Data); c < BrainMarginMM/2 {
				t.Errorf("a brain voxel lies %.1f mm from the model grid's edge (negative: outside), want at least %.1f", c, BrainMarginMM/2)
			}
		})
	}
}
