package detect

import "slices"

// Components returns the 26-connected components of the voxels of a grid of
// the given dims (x fastest) for which in is true, each as ascending flat
// indices, in order of their first voxel. Lesions, truth regions and
// reference regions are all found with it, so they connect the same way.
func Components(dims [3]int, in func(i int) bool) [][]int {
	return componentsFrom(dims, nil, in)
}

// componentsFrom is Components limited to the components that hold one of
// the voxels starts (nil: every voxel of the grid), in order of the first
// start each holds.
func componentsFrom(dims [3]int, starts []int, in func(i int) bool) [][]int {
	nx, ny, nz := dims[0], dims[1], dims[2]
	n := nx * ny * nz
	seen := make([]bool, n)
	var comps [][]int
	var stack []int
	count := n
	if starts != nil {
		count = len(starts)
	}
	for s := range count {
		start := s
		if starts != nil {
			start = starts[s]
		}
		if seen[start] || !in(start) {
			continue
		}
		seen[start] = true
		stack = append(stack[:0], start)
		var comp []int
		for len(stack) > 0 {
			idx := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			comp = append(comp, idx)
			i, j, k := idx%nx, (idx/nx)%ny, idx/(nx*ny)
			for kk := max(k-1, 0); kk <= min(k+1, nz-1); kk++ {
				for jj := max(j-1, 0); jj <= min(j+1, ny-1); jj++ {
					for ii := max(i-1, 0); ii <= min(i+1, nx-1); ii++ {
						q := (kk*ny+jj)*nx + ii
						if !seen[q] && in(q) {
							seen[q] = true
							stack = append(stack, q)
						}
					}
				}
			}
		}
		slices.Sort(comp)
		comps = append(comps, comp)
	}
	return comps
}
