package geom

import (
	"math"
	"testing"
)

func near(a, b Vec3, tol float64) bool { return a.Sub(b).Norm() <= tol }

func TestFromDICOMAxial(t *testing.T) {
	// An axial slice stack: rows run along +x (patient left), columns along +y
	// (posterior), slices go superior. PixelSpacing is (row, column) spacing.
	a := FromDICOM(Vec3{-120, -130, -40}, Vec3{1, 0, 0}, Vec3{0, 1, 0}, [2]float64{0.8, 0.5}, Vec3{0, 0, 2})
	for _, tc := range []struct {
		name string
		ijk  Vec3
		want Vec3
	}{
		{"origin", Vec3{0, 0, 0}, Vec3{-120, -130, -40}},
		{"one column", Vec3{1, 0, 0}, Vec3{-119.5, -130, -40}},
		{"one row", Vec3{0, 1, 0}, Vec3{-120, -129.2, -40}},
		{"one slice", Vec3{0, 0, 1}, Vec3{-120, -130, -38}},
		{"far corner", Vec3{255, 255, 99}, Vec3{-120 + 127.5, -130 + 204, -40 + 198}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Apply(tc.ijk); !near(got, tc.want, 1e-9) {
				t.Fatalf("Apply(%v) = %v, want %v", tc.ijk, got, tc.want)
			}
		})
	}
}

func TestInverseRoundTrip(t *testing.T) {
	c, s := math.Cos(0.3), math.Sin(0.3)
	a := FromDICOM(Vec3{10, -20, 30}, Vec3{c, s, 0}, Vec3{0, c, -s}, [2]float64{0.9375, 0.9375}, Vec3{0.2, 0.4, 1.1})
	inv, err := a.Inverse()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []Vec3{{0, 0, 0}, {12.5, 200, 3}, {-4, 7, 129}} {
		if got := inv.Apply(a.Apply(v)); !near(got, v, 1e-9) {
			t.Fatalf("inverse(apply(%v)) = %v", v, got)
		}
	}
	id := inv.Mul(a)
	for r := 0; r < 3; r++ {
		for col := 0; col < 4; col++ {
			if math.Abs(id[r][col]-Identity[r][col]) > 1e-9 {
				t.Fatalf("inv·a = %v, want identity", id)
			}
		}
	}
	if _, err := (Affine{}).Inverse(); err != ErrSingular {
		t.Fatalf("zero affine inverse: err %v, want ErrSingular", err)
	}
}

func TestGridIndex(t *testing.T) {
	g := Grid{Dims: [3]int{4, 3, 2}, Affine: Identity}
	if g.Len() != 24 || g.Index(3, 2, 1) != 23 || g.Index(1, 0, 1) != 13 {
		t.Fatalf("Len %d Index(3,2,1) %d Index(1,0,1) %d", g.Len(), g.Index(3, 2, 1), g.Index(1, 0, 1))
	}
	if g.Contains(4, 0, 0) || !g.Contains(0, 2, 1) {
		t.Fatal("Contains is wrong at the edges")
	}
}

func TestGridNear(t *testing.T) {
	g := Grid{Dims: [3]int{4, 5, 6}, Affine: Affine{{1, 0, 0, -10}, {0, 1, 0, 20}, {0, 0, 2, 3}}}
	moved := g
	moved.Affine[1][3] += 5e-4
	far := g
	far.Affine[2][2] += 2e-3
	other := g
	other.Dims[2]++
	for _, tc := range []struct {
		name string
		h    Grid
		want bool
	}{
		{"itself", g, true},
		{"origin off by less than tol", moved, true},
		{"spacing off by more than tol", far, false},
		{"other size", other, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := g.Near(tc.h, 1e-3); got != tc.want {
				t.Fatalf("Near = %v, want %v", got, tc.want)
			}
		})
	}
}
