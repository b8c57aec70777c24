package realcheck

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"metsentry/firmware/geom"
)

func TestFindReferenceSynthetic(t *testing.T) {
	s := newSynth(true)
	r, err := FindReference(s.study, DefaultRefParams)
	if err != nil {
		t.Fatal(err)
	}
	g := s.study.Grid()
	t.Run("enhancing region is the ring", func(t *testing.T) {
		if d := cmp.Diff(s.ring, r.Enhancing); d != "" {
			t.Errorf("enhancing region differs from the ring (%d voxels, got %d; vessel overlap %d, haemorrhage overlap %d)",
				count(s.ring), count(r.Enhancing), overlap(s.vessel, r.Enhancing), overlap(s.haemorrhage, r.Enhancing))
		}
		if r.EnhancingVoxels != count(s.ring) {
			t.Errorf("EnhancingVoxels %d, ring %d", r.EnhancingVoxels, count(s.ring))
		}
	})
	t.Run("whole tumour is the oedema", func(t *testing.T) {
		if got, want := overlap(r.Whole, s.oedema), count(s.oedema); got != want || r.WholeVoxels != want {
			t.Errorf("whole region holds %d of %d oedema voxels, %d in all", got, want, r.WholeVoxels)
		}
		if n := overlap(r.Whole, s.ring) + overlap(r.Whole, s.vessel); n != 0 {
			t.Errorf("whole region holds %d ring or vessel voxels; only FLAIR-bright voxels belong", n)
		}
	})
	t.Run("envelope fills the core", func(t *testing.T) {
		if got, want := overlap(r.Envelope, s.core), count(s.core); got != want {
			t.Errorf("envelope holds %d of %d core voxels", got, want)
		}
		if n := overlap(r.Envelope, s.vessel); n != 0 {
			t.Errorf("envelope reaches the vessel (%d voxels)", n)
		}
	})
	t.Run("vessel enhances but is not tumour", func(t *testing.T) {
		for i, v := range s.vessel {
			if v != 0 && float64(r.Enhancement[i]) < DefaultRefParams.EnhanceZ {
				t.Fatalf("vessel voxel %d enhancement %v: the test's vessel should enhance", i, r.Enhancement[i])
			}
		}
	})
	t.Run("edge", func(t *testing.T) {
		// the brain's centre is deep, a voxel on its surface is edge
		if r.Edge[g.Index(24, 24, 16)] != 0 || r.Edge[g.Index(24, 24, 2)] == 0 || r.Edge[g.Index(3, 24, 16)] == 0 {
			t.Errorf("edge at centre %d, top %d, side %d; want 0, 1, 1", r.Edge[g.Index(24, 24, 16)], r.Edge[g.Index(24, 24, 2)], r.Edge[g.Index(3, 24, 16)])
		}
		if n := overlap(r.Edge, r.Brain); n != count(r.Edge) {
			t.Errorf("%d edge voxels outside the brain", count(r.Edge)-n)
		}
	})
	t.Run("summary", func(t *testing.T) {
		reg := Summarise(r.Enhancing, g)
		c := g.Affine.Apply(geom.Vec3{32, 24, 16})
		for a := range 3 {
			if d := reg.CentreLPS[a] - c[a]; d > 0.01 || d < -0.01 {
				t.Errorf("centre %v, want %v (the ring is symmetric about the tumour centre)", reg.CentreLPS, c)
				break
			}
		}
		if reg.Voxels != count(s.ring) || reg.VolumeMM3 != float64(reg.Voxels) {
			t.Errorf("voxels %d volume %v, want %d at 1 mm³", reg.Voxels, reg.VolumeMM3, count(s.ring))
		}
		lo, hi := g.Affine.Apply(geom.Vec3{28, 20, 12}), g.Affine.Apply(geom.Vec3{36, 28, 20})
		if reg.MinLPS != lo || reg.MaxLPS != hi {
			t.Errorf("extent %v → %v, want %v → %v", reg.MinLPS, reg.MaxLPS, lo, hi)
		}
	})
}

func TestFindReferenceNoFlairAbnormality(t *testing.T) {
	s := newSynth(false)
	r, err := FindReference(s.study, DefaultRefParams)
	if err != nil {
		t.Fatal(err)
	}
	if r.WholeVoxels != 0 || r.EnhancingVoxels != 0 || count(r.Enhancing) != 0 {
		t.Errorf("no FLAIR abnormality, yet whole %d and enhancing %d voxels: enhancement alone (ring, vessel) must not make a reference", r.WholeVoxels, r.EnhancingVoxels)
	}
}

func TestFindReferenceErrors(t *testing.T) {
	g := geom.Grid{Dims: [3]int{4, 4, 4}, Affine: geom.Affine{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}}
	flat := slices.Repeat([]float32{7}, 64)
	tests := []struct {
		name          string
		t1c, t1n, t2f []float32
		want          string
	}{
		{"wrong length", flat[:10], flat, flat, "on a [4 4 4] grid"},
		{"constant", flat, flat, flat, "no brain to measure"},
		{"empty", make([]float32, 64), flat, flat, "no brain to measure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := findReference(g, tc.t1c, tc.t1n, tc.t2f, DefaultRefParams)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestBoxFilter(t *testing.T) {
	dims := [3]int{5, 5, 5}
	g := geom.Grid{Dims: dims}
	one := make([]uint8, g.Len())
	one[g.Index(2, 2, 2)] = 1
	cube := make([]uint8, g.Len())
	for k := 1; k <= 3; k++ {
		for j := 1; j <= 3; j++ {
			for i := 1; i <= 3; i++ {
				cube[g.Index(i, j, k)] = 1
			}
		}
	}
	full := slices.Repeat([]uint8{1}, g.Len())
	tests := []struct {
		name   string
		in     []uint8
		r      int
		dilate bool
		want   []uint8
	}{
		{"dilate point to cube", one, 1, true, cube},
		{"erode cube to point", cube, 1, false, one},
		{"radius 0 is a copy", cube, 0, true, cube},
		{"erode peels the grid's faces", full, 2, false, one},
		{"dilate clips at the faces", cube, 3, true, full},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, boxFilter(tc.in, dims, tc.r, tc.dilate)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestComponents(t *testing.T) {
	dims := [3]int{4, 3, 3}
	g := geom.Grid{Dims: dims}
	m := make([]uint8, g.Len())
	set := func(ps ...[3]int) {
		for _, p := range ps {
			m[g.Index(p[0], p[1], p[2])] = 1
		}
	}
	// a diagonal pair (26-connected through a corner) and a straight triple
	set([3]int{0, 0, 0}, [3]int{1, 1, 1})
	set([3]int{3, 0, 2}, [3]int{3, 1, 2}, [3]int{3, 2, 2})
	got := components(m, dims)
	want := [][]int{
		{g.Index(3, 0, 2), g.Index(3, 1, 2), g.Index(3, 2, 2)},
		{g.Index(0, 0, 0), g.Index(1, 1, 1)},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if c := components(make([]uint8, g.Len()), dims); len(c) != 0 {
		t.Errorf("empty mask gave %d components", len(c))
	}
}

func TestRobustZ(t *testing.T) {
	data := []float32{10, 10, 10, 20, 20, 1000, 5}
	mask := []uint8{1, 1, 1, 1, 1, 1, 0}
	z, med, sd, ok := robustZ(data, mask)
	if !ok {
		t.Fatal("not ok")
	}
	// In the mask, sorted: 10 10 10 20 20 1000. Nearest rank: median at
	// index 3 (20), quartiles at 1 (10) and 4 (20); the outlier changes
	// neither.
	if med != 20 || math.Abs(sd-10/1.349) > 1e-9 {
		t.Errorf("median %v sd %v, want 20 and %v", med, sd, 10/1.349)
	}
	if z[6] != 0 || math.Abs(float64(z[0])+1.349) > 1e-5 {
		t.Errorf("z = %v", z)
	}
	if _, _, _, ok := robustZ(data, make([]uint8, len(data))); ok {
		t.Error("empty mask is ok")
	}
}
