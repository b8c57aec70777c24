package main

import (
	"strings"
	"testing"

	"metsentry/firmware/geom"
	"metsentry/tools/phantom/phantom"
)

// box is a 20³ grid at 1 mm (z superior) with the brain in z 8–19 and one
// lesion inside it.
func box() *phantom.Case {
	g := geom.Grid{Dims: [3]int{20, 20, 20}, Affine: geom.Affine{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}}
	c := &phantom.Case{ID: "unit-0000", Grid: g, Brain: make([]uint8, g.Len()), Labels: make([]uint16, g.Len())}
	c.Params.Background = "unit"
	for k := 8; k < 20; k++ {
		for j := range 20 {
			for i := range 20 {
				c.Brain[g.Index(i, j, k)] = 1
			}
		}
	}
	for k := 10; k < 12; k++ {
		c.Labels[g.Index(5, 5, k)] = 1
	}
	return c
}

func TestScore(t *testing.T) {
	c := box()
	exact := score(c, c.Brain)
	if exact.Covered != 1 || exact.OutCM3 != 0 || exact.Gated != 0 || exact.Lesions != 1 || exact.BrainCM3 != 4.8 {
		t.Errorf("the brain itself as the gate: %+v", exact)
	}
	none := score(c, make([]uint8, c.Grid.Len()))
	if none.Covered != 0 || none.Gated != 1 {
		t.Errorf("an empty gate: %+v (want nothing held, the lesion gated away)", none)
	}
	// The brain plus 2 mm below it (z 6, 7): skull base; plus one slice
	// of air above nothing (there is none in the grid): none.
	leaky := append([]uint8(nil), c.Brain...)
	for k := 6; k < 8; k++ {
		for j := range 20 {
			for i := range 20 {
				leaky[c.Grid.Index(i, j, k)] = 1
			}
		}
	}
	r := score(c, leaky)
	if r.Covered != 1 || r.OutCM3 != 0.8 || r.LowCM3 != 0.8 {
		t.Errorf("a gate reaching 2 mm below the brain: %+v (want 0.8 cm³ outside, all of it low)", r)
	}
	var b strings.Builder
	writeReport(&b, "unit", "0-0", []row{exact, r, {ID: "unit-0001", Brain: "unit", Lesions: 2}})
	for _, want := range []string{"| unit | 3 | 1 |", "no brain found", "| unit-0000 | unit |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
