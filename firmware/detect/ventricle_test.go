package detect

import (
	"math"
	"slices"
	"testing"

	"metsentry/firmware/geom"
	"metsentry/runtime/manifest"
)

// A ball of brain (white matter, a grey rim and grey slabs) holds a dark ventricle at
// its centre and a dark cleft as large at its edge. The zone covers the
// ventricle and 3 voxels around it, not the cleft (too shallow) nor the
// tissue between; a candidate beside the ventricle measures ventricle_share
// 1, one as enhancing out in the white matter 0, and without a brain mask
// both read 0.
func TestVentricleShare(t *testing.T) {
	g := grid(128, 128, 128, geom.Vec3{1, 1, 1}, geom.Vec3{})
	d := g.Dims
	n := g.Len()
	brain := make([]uint8, n)
	bright := make([]float32, n)
	at := func(x, y, z int) int { return x + d[0]*(y+d[1]*z) }
	for z := range d[2] {
		for y := range d[1] {
			for x := range d[0] {
				r := math.Sqrt(float64((x-64)*(x-64) + (y-64)*(y-64) + (z-64)*(z-64)))
				i := at(x, y, z)
				switch {
				case r > 60:
					continue
				case r > 56 || x/6%2 == 0:
					bright[i] = 0.6 // grey matter: the rim, and slabs through the depth as the cortex's folds
				default:
					bright[i] = 1 // white matter
				}
				brain[i] = 1
				// A little texture, the same on every run.
				bright[i] += 0.05 * float32(math.Sin(float64(7*x+13*y+29*z)))
			}
		}
	}
	box := func(v float32, lo, hi [3]int) {
		for z := lo[2]; z <= hi[2]; z++ {
			for y := lo[1]; y <= hi[1]; y++ {
				for x := lo[0]; x <= hi[0]; x++ {
					bright[at(x, y, z)] = v
				}
			}
		}
	}
	box(-1, [3]int{60, 61, 54}, [3]int{68, 67, 74})   // the ventricle: 9×7×21 = 1,323 voxels of CSF
	box(-1, [3]int{57, 57, 111}, [3]int{71, 71, 115}) // a cleft as large at the top, within 15 of the edge

	zone := VentricleZone(bright, brain, d)
	if zone == nil {
		t.Fatal("no ventricle found")
	}
	want := func(x, y, z int) bool { return x >= 57 && x <= 71 && y >= 58 && y <= 70 && z >= 51 && z <= 77 }
	wrong := 0
	for z := range d[2] {
		for y := range d[1] {
			for x := range d[0] {
				if zone[at(x, y, z)] != want(x, y, z) {
					wrong++
				}
			}
		}
	}
	if wrong != 0 {
		t.Errorf("%d voxels misplaced: the zone is the ventricle and 3 voxels around it, nothing else", wrong)
	}

	prob := make([]float32, n)
	black := make([]float32, n)
	besideVentricle := [][3]int{{69, 64, 64}, {70, 64, 64}, {69, 65, 64}, {70, 65, 64}}
	inWhiteMatter := [][3]int{{30, 64, 64}, {31, 64, 64}, {30, 65, 64}, {31, 65, 64}}
	set(prob, g, 0.8, besideVentricle...)
	set(prob, g, 0.8, inWhiteMatter...)
	share := slices.Index(RescoreFeatures, "ventricle_share")
	for _, mask := range [][]uint8{brain, nil} {
		cands, err := Candidates(prob, black, bright, mask, d, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		if len(cands) != 2 {
			t.Fatalf("%d candidates, want 2", len(cands))
		}
		for _, c := range cands {
			got := c.Features[share]
			w := 0.0
			if mask != nil && slices.Contains(c.Voxels, at(69, 64, 64)) {
				w = 1
			}
			if got != w {
				t.Errorf("brain mask %v: candidate at voxel %d: ventricle_share %g, want %g", mask != nil, c.Voxels[0], got, w)
			}
		}
	}
	// A stage weighing ventricle_share alone (weight −4 over a unit
	// scale) scores the candidate beside the ventricle down and leaves the
	// other at 0.5: Rescore finds the zone when its stage names it.
	r := &manifest.Rescore{Candidate: 0.5, Accept: 0.3, Features: []string{"ventricle_share"}, Mean: []float64{0}, Scale: []float64{1}, Weights: []float64{-4}}
	score, err := Rescore(prob, black, bright, brain, d, r)
	if err != nil {
		t.Fatal(err)
	}
	low := float32(1 / (1 + math.Exp(4)))
	if got := score[at(69, 64, 64)]; math.Abs(float64(got-low)) > 1e-6 {
		t.Errorf("beside the ventricle: score %g, want %g", got, low)
	}
	if got := score[at(30, 64, 64)]; got != 0.5 {
		t.Errorf("in white matter: score %g, want 0.5", got)
	}
	if _, err := Rescore(prob, black, bright, brain[:n-1], d, r); err == nil {
		t.Error("Rescore took a brain mask shorter than the grid")
	}
	if z := VentricleZone(bright, brain[:n-1], d); z != nil {
		t.Error("a brain mask shorter than the grid gave a zone")
	}
}

// The zone's cost on a grid the size of a brain's box on the 1 mm model
// grid (160×192×160), a ball of brain filling it.
func BenchmarkVentricleZone(b *testing.B) {
	g := grid(160, 192, 160, geom.Vec3{1, 1, 1}, geom.Vec3{})
	d := g.Dims
	brain := make([]uint8, g.Len())
	bright := make([]float32, g.Len())
	for i := range brain {
		x, y, z := i%d[0]-80, i/d[0]%d[1]-96, i/(d[0]*d[1])-80
		if x*x+y*y+z*z < 75*75 {
			brain[i] = 1
			bright[i] = float32(1 - 0.4*float64((x+80)/6%2))
			if x*x+y*y+z*z < 12*12 {
				bright[i] = -1
			}
		}
	}
	for b.Loop() {
		if VentricleZone(bright, brain, d) == nil {
			b.Fatal("no zone")
		}
	}
}
