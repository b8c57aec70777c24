package realcheck

import (
	"slices"

	"metsentry/firmware/detect"
)

// Mask helpers on a grid of dims (x fastest). Masks are one byte per voxel,
// nonzero meaning set.

// robustZ returns (v − median) / (IQR / 1.349) for every voxel of data inside
// mask and 0 outside: a z-score whose centre and spread come from the middle
// half of the in-mask values, so a large bright tumour does not shift them.
// ok is false when the mask is empty or the middle half is constant.
func robustZ(data []float32, mask []uint8) (z []float32, median, sd float64, ok bool) {
	k := 0
	for _, m := range mask {
		if m != 0 {
			k++
		}
	}
	in := make([]float32, 0, k)
	for i, m := range mask {
		if m != 0 {
			in = append(in, data[i])
		}
	}
	if len(in) == 0 {
		return nil, 0, 0, false
	}
	slices.Sort(in)
	q := func(p float64) float64 { return float64(in[int(p*float64(len(in)-1)+0.5)]) }
	median = q(0.5)
	sd = (q(0.75) - q(0.25)) / 1.349
	if !(sd > 0) {
		return nil, median, sd, false
	}
	z = make([]float32, len(data))
	for i, m := range mask {
		if m != 0 {
			z[i] = float32((float64(data[i]) - median) / sd)
		}
	}
	return z, median, sd, true
}

// boxFilter replaces each voxel by the maximum (dilate) or minimum (erode) of
// the (2r+1)³ cube around it, one axis at a time. Voxels beyond the grid count
// as unset, so erosion also peels the grid's faces. Each line is done with a
// running count of set voxels, so the cost does not grow with r.
func boxFilter(mask []uint8, dims [3]int, r int, dilate bool) []uint8 {
	out := make([]uint8, len(mask))
	for i, m := range mask {
		if m != 0 {
			out[i] = 1
		}
	}
	if r <= 0 {
		return out
	}
	tmp := make([]uint8, len(mask))
	strides := [3]int{1, dims[0], dims[0] * dims[1]}
	for a := range 3 {
		n, s := dims[a], strides[a]
		// the other two axes: every line along a starts at one of these
		b, c := (a+1)%3, (a+2)%3
		for v := range dims[c] {
			for u := range dims[b] {
				base := u*strides[b] + v*strides[c]
				set := 0 // set voxels in the window [p−r, p+r] ∩ grid
				for q := 0; q < min(r, n); q++ {
					set += int(out[base+q*s])
				}
				for p := range n {
					if q := p + r; q < n {
						set += int(out[base+q*s])
					}
					if q := p - r - 1; q >= 0 {
						set -= int(out[base+q*s])
					}
					var x uint8
					if dilate {
						if set > 0 {
							x = 1
						}
					} else if set == 2*r+1 {
						x = 1 // the whole window is inside the grid and set
					}
					tmp[base+p*s] = x
				}
			}
		}
		out, tmp = tmp, out
	}
	return out
}

// components labels the 26-connected components of mask (detect.Components)
// and returns them as ascending flat indices, largest first (ties: first
// voxel first).
func components(mask []uint8, dims [3]int) [][]int {
	comps := detect.Components(dims, func(i int) bool { return mask[i] != 0 })
	slices.SortStableFunc(comps, func(a, b []int) int { return len(b) - len(a) })
	return comps
}
