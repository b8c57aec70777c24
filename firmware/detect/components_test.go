package detect

import (
	"slices"
	"testing"
)

func TestComponents(t *testing.T) {
	dims := [3]int{4, 3, 3}
	at := func(i, j, k int) int { return (k*dims[1]+j)*dims[0] + i }
	tests := []struct {
		name string
		set  []int
		want [][]int
	}{
		{"none", nil, nil},
		{"one voxel in a corner", []int{at(3, 2, 2)}, [][]int{{at(3, 2, 2)}}},
		{"corner-touching voxels join (26-connected)", []int{at(0, 0, 0), at(1, 1, 1)}, [][]int{{at(0, 0, 0), at(1, 1, 1)}}},
		{"a gap of one voxel splits", []int{at(0, 0, 0), at(2, 0, 0)}, [][]int{{at(0, 0, 0)}, {at(2, 0, 0)}}},
		{"no wrap across the row end", []int{at(3, 0, 0), at(0, 1, 0)}, [][]int{{at(3, 0, 0)}, {at(0, 1, 0)}}},
		{"order of first voxel, indices ascending", []int{at(3, 2, 2), at(0, 0, 1), at(2, 2, 2), at(0, 0, 0)},
			[][]int{{at(0, 0, 0), at(0, 0, 1)}, {at(2, 2, 2), at(3, 2, 2)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Components(dims, func(i int) bool { return slices.Contains(tc.set, i) })
			if !slices.EqualFunc(got, tc.want, slices.Equal[[]int]) {
				t.Fatalf("Components = %v, want %v", got, tc.want)
			}
		})
	}
}
