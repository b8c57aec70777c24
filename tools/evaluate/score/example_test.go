package score_test

import (
	"fmt"

	"metsentry/tools/evaluate/score"
)

// One lesion found in two pieces and one false positive, on a 6×1×1 grid.
func ExampleCase() {
	in := score.Input{
		ID:      "example",
		Dims:    [3]int{6, 1, 1},
		Truth:   []uint16{0, 1, 1, 1, 0, 0},
		Lesions: []score.TruthLesion{{ID: 1, DiameterMM: 3}},
		Pred:    []bool{true, false, true, false, false, true},
	}
	r, err := score.Case(in)
	if err != nil {
		fmt.Println(err)
		return
	}
	// the piece at x=0 touches the lesion grown by one voxel: a hit too
	fmt.Println(r.Hits, r.FP, r.Lesions[0].Components, r.Components)
	// Output: 1 1 2 3
}
