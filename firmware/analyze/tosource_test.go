package analyze

import (
	"math"
	"runtime"
	"testing"

	"metsentry/firmware/geom"
)

func TestToSourceIdentity(t *testing.T) {
	grid := geom.Grid{Dims: [3]int{4, 3, 2}, Affine: geom.Identity}
	prob := make([]float32, grid.Len())
	for i := range prob {
		prob[i] = float32(i) / 24
	}
	// a model grid shifted by one voxel in x: source voxel i is model i+1
	model := geom.Grid{Dims: [3]int{4, 3, 2}, Affine: geom.Affine{{1, 0, 0, -1}, {0, 1, 0, 0}, {0, 0, 1, 0}}}
	got, err := toSource(prob, model, grid)
	if err != nil {
		t.Fatal(err)
	}
	for idx, v := range got {
		i := idx % 4
		want := float32(0) // source x=3 lies beyond the model grid
		if i+1 < 4 {
			want = prob[idx+1]
		}
		if v != want {
			t.Errorf("voxel %d: %v, want %v", idx, v, want)
		}
	}
}

// The slices shared out among goroutines come out as one goroutine makes
// them, value for value, on an oblique grid with more slices than workers.
func TestToSourceWorkers(t *testing.T) {
	model := geom.Grid{Dims: [3]int{9, 8, 7}, Affine: geom.Identity}
	prob := make([]float32, model.Len())
	for i := range prob {
		prob[i] = float32((i*7919)%101) / 100
	}
	c, s := math.Cos(0.3), math.Sin(0.3)
	src := geom.Grid{Dims: [3]int{11, 10, 13}, Affine: geom.Affine{{0.8 * c, -0.8 * s, 0, 0.4}, {0.8 * s, 0.8 * c, 0, -0.7}, {0, 0, 0.6, 0.2}}}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	one, err := toSource(prob, model, src)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GOMAXPROCS(4)
	four, err := toSource(prob, model, src)
	if err != nil {
		t.Fatal(err)
	}
	set := 0
	for i := range one {
		if one[i] != four[i] {
			t.Fatalf("voxel %d: %v with 4 workers, %v with 1", i, four[i], one[i])
		}
		if one[i] != 0 {
			set++
		}
	}
	if set < len(one)/4 {
		t.Fatalf("only %d of %d source voxels inside the model grid: the test grids barely overlap", set, len(one))
	}
}

// toSourcePlain is toSource's definition: every source voxel sampled, one
// goroutine.
func toSourcePlain(prob []float32, model, src geom.Grid) []float32 {
	inv, _ := model.Affine.Inverse()
	m := inv.Mul(src.Affine)
	mx, my, mz := model.Dims[0], model.Dims[1], model.Dims[2]
	at := func(x, y, z int) float32 { return prob[x+mx*(y+my*z)] }
	out := make([]float32, src.Len())
	for k := 0; k < src.Dims[2]; k++ {
		for j := 0; j < src.Dims[1]; j++ {
			for i := 0; i < src.Dims[0]; i++ {
				p := m.Apply(geom.Vec3{float64(i), float64(j), float64(k)})
				x0, y0, z0 := math.Floor(p[0]), math.Floor(p[1]), math.Floor(p[2])
				x, y, z := int(x0), int(y0), int(z0)
				if x < 0 || y < 0 || z < 0 || x >= mx || y >= my || z >= mz {
					continue
				}
				x1, y1, z1 := min(x+1, mx-1), min(y+1, my-1), min(z+1, mz-1)
				fx, fy, fz := float32(p[0]-x0), float32(p[1]-y0), float32(p[2]-z0)
				c00 := at(x, y, z)*(1-fx) + at(x1, y, z)*fx
				c10 := at(x, y1, z)*(1-fx) + at(x1, y1, z)*fx
				c01 := at(x, y, z1)*(1-fx) + at(x1, y, z1)*fx
				c11 := at(x, y1, z1)*(1-fx) + at(x1, y1, z1)*fx
				out[i+src.Dims[0]*(j+src.Dims[1]*k)] = (c00*(1-fy)+c10*fy)*(1-fz) + (c01*(1-fy)+c11*fy)*fz
			}
		}
	}
	return out
}

// Source rows that reach no set model row are left at 0 unsampled: on a
// sparse score map (a few blobs, as the second stage writes) and a dense
// one, over a model box inside a larger axis-aligned source (the phantom's
// case), an oblique source, and source rows steep enough to be sampled
// without looking, toSource gives its definition's values, voxel for voxel.
func TestToSourceSparse(t *testing.T) {
	model := geom.Grid{Dims: [3]int{24, 20, 16}, Affine: geom.Affine{{1, 0, 0, 5}, {0, 1, 0, 7}, {0, 0, 1, 3}}}
	sparse := make([]float32, model.Len())
	for _, c := range [][3]int{{3, 4, 2}, {12, 10, 8}, {22, 18, 15}, {0, 19, 0}} {
		for dz := -1; dz <= 1; dz++ {
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					x, y, z := c[0]+dx, c[1]+dy, c[2]+dz
					if x >= 0 && y >= 0 && z >= 0 && x < 24 && y < 20 && z < 16 {
						sparse[x+24*(y+20*z)] = 0.5 + float32(dx+2*dy+3*dz)/20
					}
				}
			}
		}
	}
	dense := make([]float32, model.Len())
	for i := range dense {
		dense[i] = float32((i*7919)%101) / 100
	}
	rot := func(a, b float64, o geom.Vec3) geom.Affine { // about z by a, then about x by b, 0.9 mm voxels, origin o
		ca, sa, cb, sb := math.Cos(a), math.Sin(a), math.Cos(b), math.Sin(b)
		return geom.Affine{
			{0.9 * ca, -0.9 * sa, 0, o[0]},
			{0.9 * sa * cb, 0.9 * ca * cb, -0.9 * sb, o[1]},
			{0.9 * sa * sb, 0.9 * ca * sb, 0.9 * cb, o[2]},
		}
	}
	for _, tc := range []struct {
		name string
		src  geom.Grid
	}{
		{"axis-aligned, larger", geom.Grid{Dims: [3]int{36, 32, 26}, Affine: geom.Identity}},
		{"oblique", geom.Grid{Dims: [3]int{30, 28, 22}, Affine: rot(0.25, 0.15, geom.Vec3{2, 4, 1})}},
		{"steep rows", geom.Grid{Dims: [3]int{6, 40, 30}, Affine: rot(1.2, 0.9, geom.Vec3{30, 6, -4})}},
		{"beside the model grid", geom.Grid{Dims: [3]int{10, 10, 10}, Affine: geom.Affine{{1, 0, 0, 100}, {0, 1, 0, 0}, {0, 0, 1, 0}}}},
	} {
		for name, prob := range map[string][]float32{"sparse": sparse, "dense": dense} {
			got, err := toSource(prob, model, tc.src)
			if err != nil {
				t.Fatal(err)
			}
			want := toSourcePlain(prob, model, tc.src)
			set := 0
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s, %s map: voxel %d is %v, by definition %v", tc.name, name, i, got[i], want[i])
				}
				if want[i] != 0 {
					set++
				}
			}
			if set == 0 && tc.name != "beside the model grid" {
				t.Errorf("%s, %s map: nothing sampled non-zero; the case tests nothing", tc.name, name)
			}
		}
	}
}
