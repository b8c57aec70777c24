package detect

import "testing"

// TestGateBrain: a component with at least half its voxels in the brain
// stays whole (a lesion on the brain's surface reaching past it), one
// mostly outside is dropped, values below the threshold are left alone,
// and a nil brain gates nothing.
func TestGateBrain(t *testing.T) {
	dims := [3]int{20, 4, 4}
	idx := func(x, y, z int) int { return x + dims[0]*(y+dims[1]*z) }
	brain := make([]uint8, dims[0]*dims[1]*dims[2])
	for z := range dims[2] {
		for y := range dims[1] {
			for x := range 10 {
				brain[idx(x, y, z)] = 1 // the brain: x < 10
			}
		}
	}
	op := make([]float32, len(brain))
	for x := 2; x <= 4; x++ {
		op[idx(x, 1, 1)] = 0.9 // inside
	}
	for x := 8; x <= 11; x++ {
		op[idx(x, 2, 2)] = 0.9 // on the edge: 2 of 4 inside
	}
	for x := 9; x <= 17; x++ {
		op[idx(x, 0, 0)] = 0.9 // mostly outside: 1 of 9 inside
	}
	op[idx(5, 3, 3)] = 0.3 // below the threshold
	nilOp := append([]float32(nil), op...)
	if n := GateBrain(nilOp, nil, dims, 0.5); n != 0 {
		t.Errorf("a nil brain dropped %d components", n)
	}
	if n := GateBrain(op, brain, dims, 0.5); n != 1 {
		t.Fatalf("dropped %d components, want 1", n)
	}
	for x := 2; x <= 4; x++ {
		if op[idx(x, 1, 1)] != 0.9 {
			t.Errorf("inside component changed at x=%d", x)
		}
	}
	for x := 8; x <= 11; x++ {
		if op[idx(x, 2, 2)] != 0.9 {
			t.Errorf("edge component (half inside) changed at x=%d", x)
		}
	}
	for x := 9; x <= 17; x++ {
		if op[idx(x, 0, 0)] != 0 {
			t.Errorf("outside component kept at x=%d", x)
		}
	}
	if op[idx(5, 3, 3)] != 0.3 {
		t.Error("a value below the threshold changed")
	}
}

// TestInBrain: the gate's rule for one component, at its edges: exactly
// half in stays, one voxel less goes, and a nil brain keeps everything.
func TestInBrain(t *testing.T) {
	brain := []uint8{1, 1, 0, 0, 0}
	for _, c := range []struct {
		comp []int
		want bool
	}{
		{[]int{0, 1}, true},
		{[]int{1, 2}, true},
		{[]int{1, 2, 3}, false},
		{[]int{2, 3, 4}, false},
	} {
		if got := InBrain(c.comp, brain); got != c.want {
			t.Errorf("InBrain(%v) = %v, want %v", c.comp, got, c.want)
		}
	}
	if !InBrain([]int{2, 3}, nil) {
		t.Error("a nil brain dropped a component")
	}
}
