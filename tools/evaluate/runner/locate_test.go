package runner

import (
	"math"
	"testing"

	"metsentry/firmware/geom"
)

// TestIsoGrid checks the 1 mm grid the false positives are placed on: the
// same points in mm through the returned affine, and nearest-neighbour
// values.
func TestIsoGrid(t *testing.T) {
	// an oblique grid, 0.5 × 0.5 × 2 mm
	c, s := math.Cos(0.3), math.Sin(0.3)
	g := geom.Grid{Dims: [3]int{6, 4, 3}, Affine: geom.Affine{{0.5 * c, -0.5 * s, 0, 10}, {0.5 * s, 0.5 * c, 0, -5}, {0, 0, 2, 7}}}
	iso, to := isoGrid(g)
	if iso.Dims != [3]int{3, 2, 5} {
		t.Errorf("1 mm grid %v, want [3 2 5] (the extent of %v)", iso.Dims, g.Dims)
	}
	for _, sp := range iso.Spacing() {
		if math.Abs(sp-1) > 1e-9 {
			t.Errorf("1 mm grid spacing %v", iso.Spacing())
		}
	}
	for _, v := range []geom.Vec3{{0, 0, 0}, {5, 3, 2}, {2, 1, 1}} {
		a, b := g.Affine.Apply(v), iso.Affine.Apply(to.Apply(v))
		for d := range 3 {
			if math.Abs(a[d]-b[d]) > 1e-9 {
				t.Errorf("voxel %v: %v on the case grid, %v through the 1 mm grid", v, a, b)
			}
		}
	}
	data := make([]float32, g.Len())
	for i := range data {
		data[i] = float32(i)
	}
	out := nearestOnto(data, g, iso)
	// 1 mm voxel (1, 1, 1) is case voxel (2, 2, 0.5 → 1 by rounding half
	// away from zero)
	if want := data[g.Index(2, 2, 1)]; out[iso.Index(1, 1, 1)] != want {
		t.Errorf("1 mm voxel (1,1,1) = %v, want case voxel (2,2,1) = %v", out[iso.Index(1, 1, 1)], want)
	}
	if want := data[g.Index(4, 2, 2)]; out[iso.Index(2, 1, 4)] != want {
		t.Errorf("1 mm voxel (2,1,4) = %v, want case voxel (4,2,2) = %v", out[iso.Index(2, 1, 4)], want)
	}
}
