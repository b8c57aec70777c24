package detect

import (
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"metsentry/firmware/geom"
	"metsentry/runtime/manifest"
)

func grid(nx, ny, nz int, sp geom.Vec3, origin geom.Vec3) geom.Grid {
	return geom.Grid{Dims: [3]int{nx, ny, nz}, Affine: geom.Affine{{sp[0], 0, 0, origin[0]}, {0, sp[1], 0, origin[1]}, {0, 0, sp[2], origin[2]}}}
}

func set(p []float32, g geom.Grid, v float32, ijk ...[3]int) {
	for _, c := range ijk {
		p[g.Index(c[0], c[1], c[2])] = v
	}
}

func box(i0, j0, k0, n int) [][3]int {
	var out [][3]int
	for k := k0; k < k0+n; k++ {
		for j := j0; j < j0+n; j++ {
			for i := i0; i < i0+n; i++ {
				out = append(out, [3]int{i, j, k})
			}
		}
	}
	return out
}

func TestFind(t *testing.T) {
	g := grid(20, 20, 20, geom.Vec3{1, 1, 1}, geom.Vec3{-10, -10, -10})
	p := make([]float32, g.Len())
	set(p, g, 0.9, box(2, 2, 2, 3)...)                     // 27 voxels
	set(p, g, 0.6, [3]int{10, 10, 10}, [3]int{11, 11, 11}) // corner-touching: one 26-component of 2
	set(p, g, 0.5, [3]int{15, 15, 15})                     // exactly at threshold: counts
	set(p, g, 0.49, [3]int{17, 2, 2})                      // below threshold
	set(p, g, 0.7, [3]int{2, 15, 15}, [3]int{3, 15, 15}, [3]int{4, 15, 15})
	p[g.Index(3, 15, 15)] = 1.0

	for _, tc := range []struct {
		name    string
		min     float64
		volumes []float64
	}{
		{"all components", 0, []float64{27, 3, 2, 1}},
		{"minimum 2 mm³ drops the single voxel", 2, []float64{27, 3, 2}},
		{"minimum 3 mm³", 3, []float64{27, 3}},
		{"minimum 28 mm³ leaves none", 28, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls, err := Find(p, g, Params{Threshold: 0.5, MinComponentMM3: tc.min}, Reference{})
			if err != nil {
				t.Fatal(err)
			}
			var vols []float64
			for i, l := range ls {
				vols = append(vols, l.VolumeMM3)
				if l.Number != i+1 {
					t.Errorf("lesion %d numbered %d", i, l.Number)
				}
			}
			if d := cmp.Diff(tc.volumes, vols); d != "" {
				t.Fatalf("volumes (-want +got):\n%s", d)
			}
		})
	}
	ls, err := Find(p, g, Params{Threshold: 0.5}, Reference{})
	if err != nil {
		t.Fatal(err)
	}
	cube := ls[0]
	if want := (geom.Vec3{-7, -7, -7}); cube.CentreLPS.Sub(want).Norm() > 1e-9 {
		t.Errorf("cube centre %v, want %v", cube.CentreLPS, want)
	}
	if math.Abs(cube.LongestDiameterMM-3*math.Sqrt(3)) > 1e-9 {
		t.Errorf("cube diameter %v, want 3√3", cube.LongestDiameterMM)
	}
	if cube.MaxProb != float64(float32(0.9)) || math.Abs(cube.MeanProb-0.9) > 1e-6 {
		t.Errorf("cube probabilities max %v mean %v", cube.MaxProb, cube.MeanProb)
	}
	if cube.Min != [3]int{2, 2, 2} || cube.Max != [3]int{4, 4, 4} {
		t.Errorf("cube bounds %v %v", cube.Min, cube.Max)
	}
	line := ls[1]
	if math.Abs(line.LongestDiameterMM-3) > 1e-9 || line.MaxProb != 1 || math.Abs(line.MeanProb-0.8) > 1e-6 {
		t.Errorf("line: diameter %v max %v mean %v", line.LongestDiameterMM, line.MaxProb, line.MeanProb)
	}
	if len(ls[2].Voxels) != 2 {
		t.Errorf("corner-touching voxels should be one 26-connected component, got %v", ls[2].Voxels)
	}
	if ls[3].LongestDiameterMM != 1 {
		t.Errorf("single voxel diameter %v, want 1", ls[3].LongestDiameterMM)
	}
}

func TestFindErrors(t *testing.T) {
	g := grid(4, 4, 4, geom.Vec3{1, 1, 1}, geom.Vec3{})
	for _, tc := range []struct {
		name string
		prob []float32
		g    geom.Grid
		p    Params
		grid bool
	}{
		{"short map", make([]float32, 10), g, Params{Threshold: 0.5}, true},
		{"empty grid", nil, geom.Grid{}, Params{Threshold: 0.5}, true},
		{"zero threshold", make([]float32, 64), g, Params{Threshold: 0}, false},
		{"threshold above one", make([]float32, 64), g, Params{Threshold: 1.5}, false},
		{"NaN threshold", make([]float32, 64), g, Params{Threshold: math.NaN()}, false},
		{"negative minimum", make([]float32, 64), g, Params{Threshold: 0.5, MinComponentMM3: -1}, false},
		{"singular affine", make([]float32, 64), geom.Grid{Dims: [3]int{4, 4, 4}}, Params{Threshold: 0.5}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Find(tc.prob, tc.g, tc.p, Reference{})
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrGrid) != tc.grid {
				t.Fatalf("err %v: errors.Is(ErrGrid) = %v, want %v", err, !tc.grid, tc.grid)
			}
		})
	}
}

func TestParamsFromManifest(t *testing.T) {
	p := ParamsFromManifest(manifest.Output{Threshold: 0.42, MinComponentMM3: 5})
	if p != (Params{Threshold: 0.42, MinComponentMM3: 5}) {
		t.Fatalf("got %+v", p)
	}
}

func TestLongestDiameter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		g      geom.Grid
		voxels [][3]int
		want   float64
		tol    float64
	}{
		{"run along x at 0.5 mm", grid(10, 3, 3, geom.Vec3{0.5, 1, 1}, geom.Vec3{}), [][3]int{{1, 1, 1}, {2, 1, 1}, {3, 1, 1}, {4, 1, 1}, {5, 1, 1}}, 2.5, 1e-9},
		{"run along slices at 3 mm", grid(3, 3, 10, geom.Vec3{1, 1, 3}, geom.Vec3{}), [][3]int{{1, 1, 1}, {1, 1, 2}, {1, 1, 3}}, 9, 1e-9},
		{"single anisotropic voxel", grid(3, 3, 3, geom.Vec3{0.5, 0.5, 2}, geom.Vec3{}), [][3]int{{1, 1, 1}}, 2, 1e-9},
		{"diagonal pair", grid(3, 3, 3, geom.Vec3{1, 1, 1}, geom.Vec3{}), [][3]int{{0, 0, 0}, {1, 1, 0}}, math.Sqrt2 + math.Sqrt2, 1e-9},
		{"sphere r=6 exact", grid(20, 20, 20, geom.Vec3{1, 1, 1}, geom.Vec3{}), sphere(10, 6), 13, 0.5},
		{"sphere r=19 through extreme points", grid(42, 42, 42, geom.Vec3{1, 1, 1}, geom.Vec3{}), sphere(21, 19), 39, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var idx []int
			for _, v := range tc.voxels {
				idx = append(idx, tc.g.Index(v[0], v[1], v[2]))
			}
			got, _ := longestDiameter(idx, tc.g)
			if math.Abs(got-tc.want) > tc.tol {
				t.Fatalf("diameter %v, want %v ± %v", got, tc.want, tc.tol)
			}
		})
	}
}

func sphere(c, r int) [][3]int {
	var out [][3]int
	for k := c - r; k <= c+r; k++ {
		for j := c - r; j <= c+r; j++ {
			for i := c - r; i <= c+r; i++ {
				if (i-c)*(i-c)+(j-c)*(j-c)+(k-c)*(k-c) <= r*r {
					out = append(out, [3]int{i, j, k})
				}
			}
		}
	}
	return out
}

func TestLocate(t *testing.T) {
	// A brain-sized box: x -70..70, y -100 (anterior)..80, z -50..80.
	ref := Reference{Min: geom.Vec3{-70, -100, -50}, Max: geom.Vec3{70, 80, 80}, MidlineX: 0}
	for _, tc := range []struct {
		name string
		p    geom.Vec3
		want string
	}{
		{"left frontal", geom.Vec3{30, -70, 40}, "left frontal lobe"},
		{"right frontal", geom.Vec3{-30, -70, 40}, "right frontal lobe"},
		{"midline frontal", geom.Vec3{2, -70, 60}, "midline frontal lobe"},
		{"left parietal", geom.Vec3{30, 20, 60}, "left parietal lobe"},
		{"right occipital", geom.Vec3{-20, 70, 20}, "right occipital lobe"},
		{"left temporal", geom.Vec3{55, -20, -20}, "left temporal lobe"},
		{"right cerebellum", geom.Vec3{-25, 50, -35}, "right cerebellum"},
		{"brainstem", geom.Vec3{0, 10, -40}, "brainstem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Locate(tc.p, ref).String(); got != tc.want {
				t.Fatalf("Locate(%v) = %q, want %q", tc.p, got, tc.want)
			}
		})
	}
}

func TestReferenceFromImage(t *testing.T) {
	g := grid(40, 40, 80, geom.Vec3{2, 2, 2}, geom.Vec3{-40, -40, -100})
	img := make([]float32, g.Len())
	for _, c := range box(5, 10, 0, 20) {
		img[g.Index(c[0], c[1], c[2])] = 100
	}
	// a tall column (the neck and head): z from voxel 0 to 79
	for k := 0; k < 80; k++ {
		img[g.Index(10, 15, k)] = 100
	}
	ref, ok := ReferenceFromImage(img, g)
	if !ok {
		t.Fatal("no reference")
	}
	want := Reference{Min: geom.Vec3{-30, -20, 58 - brainHeightMM}, Max: geom.Vec3{8, 18, 58}, MidlineX: -11}
	if d := cmp.Diff(want, ref); d != "" {
		t.Fatalf("reference (-want +got):\n%s", d)
	}
	if _, ok := ReferenceFromImage(make([]float32, g.Len()), g); ok {
		t.Fatal("an empty image gave a reference")
	}
}

func TestSourceLabels(t *testing.T) {
	// Model grid 2 mm, source grid 1 mm over the same field of view (voxel
	// centres offset by half a model voxel).
	model := grid(5, 5, 5, geom.Vec3{2, 2, 2}, geom.Vec3{0, 0, 0})
	src := grid(10, 10, 10, geom.Vec3{1, 1, 1}, geom.Vec3{-0.5, -0.5, -0.5})
	p := make([]float32, model.Len())
	set(p, model, 0.9, [3]int{1, 1, 1}, [3]int{1, 1, 2})
	set(p, model, 0.8, [3]int{4, 4, 4})
	ls, err := Find(p, model, Params{Threshold: 0.5}, Reference{})
	if err != nil {
		t.Fatal(err)
	}
	lab, err := SourceLabels(ls, model, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	count := map[uint16]int{}
	for _, v := range lab {
		count[v]++
	}
	if d := cmp.Diff(map[uint16]int{0: 1000 - 24, 1: 16, 2: 8}, count); d != "" {
		t.Fatalf("label counts (-want +got):\n%s", d)
	}
	if lab[src.Index(2, 2, 4)] != 1 || lab[src.Index(9, 9, 9)] != 2 || lab[src.Index(0, 0, 0)] != 0 {
		t.Fatal("labels in the wrong place")
	}
	// The same through MaskResampler, with a mask mapper that does nearest
	// neighbour by hand (as volume.ModelInput.ToSource does).
	toSource := func(mask []uint8) ([]uint8, error) {
		out := make([]uint8, src.Len())
		for k := 0; k < 10; k++ {
			for j := 0; j < 10; j++ {
				for i := 0; i < 10; i++ {
					out[src.Index(i, j, k)] = mask[model.Index(i/2, j/2, k/2)]
				}
			}
		}
		return out, nil
	}
	lab2, err := SourceLabels(ls, model, src, MaskResampler(toSource))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(lab, lab2); d != "" {
		t.Fatalf("MaskResampler differs from NearestResampler (-nearest +mask):\n%s", d)
	}
	bad := func([]uint16, geom.Grid, geom.Grid) ([]uint16, error) { return make([]uint16, 3), nil }
	if _, err := SourceLabels(ls, model, src, bad); !errors.Is(err, ErrGrid) {
		t.Fatalf("short resampler output: err %v", err)
	}
}
