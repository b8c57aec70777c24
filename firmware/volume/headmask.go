package volume

// headMaskMin is how many of a voxel's 3×3×3 neighbourhood (itself
// included) must pass the head threshold for the voxel to stay in the head
// mask: a majority.
//
// Magnitude MR images carry Rician noise over the whole field of view. At a
// low SNR several percent of the air voxels pass the threshold one by one,
// and where the air is most of the grid (a skull-stripped image, whose
// background is air to the brain's surface) they outnumber the head: the
// mask's mean and sd then describe noise, and the brain comes out of
// normalisation at about +1.6 sd instead of near 0. The network, which has
// learnt that the brain sits near the mask's mean, reads all of it as
// enhancing (MetNet 0.6.1 put a probability above 0.5 on half the brain of
// such a study, and the rescore stage then dropped every candidate, the 20
// lesions with them). Noise passing one voxel in ten almost never has a
// majority of its neighbours passing too (for 27 independent voxels, about
// 1 in 10⁸); tissue does, up to its flat surfaces, where 18 of 27 pass.
// Only thin bright structures (a vessel or a scalp one or two voxels thick)
// and the outermost voxels of convex corners leave the mask, which shifts
// the statistics of a clean image very little.
const headMaskMin = 14

// denoiseMask clears each set voxel of mask (dims x fastest) that has fewer
// than headMaskMin set voxels in its 3×3×3 neighbourhood (voxels past the
// grid's edge count as clear). It never sets a voxel.
func denoiseMask(mask []uint8, dims [3]int) {
	nx, ny, nz := dims[0], dims[1], dims[2]
	if len(mask) != nx*ny*nz || len(mask) == 0 {
		return
	}
	// Counts summed along x, then y, then z: three passes of 3 taps.
	sx := make([]uint8, len(mask))
	parallelFor(ny*nz, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row, out := mask[r*nx:(r+1)*nx], sx[r*nx:(r+1)*nx]
			for i := range row {
				s := row[i]
				if i > 0 {
					s += row[i-1]
				}
				if i+1 < nx {
					s += row[i+1]
				}
				out[i] = s
			}
		}
	})
	sy := make([]uint8, len(mask))
	parallelFor(nz, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			for j := range ny {
				out := sy[(k*ny+j)*nx : (k*ny+j+1)*nx]
				copy(out, sx[(k*ny+j)*nx:(k*ny+j+1)*nx])
				if j > 0 {
					addRow(out, sx[(k*ny+j-1)*nx:(k*ny+j)*nx])
				}
				if j+1 < ny {
					addRow(out, sx[(k*ny+j+1)*nx:(k*ny+j+2)*nx])
				}
			}
		}
	})
	// The z pass writes the verdict straight into mask: each plane reads
	// only sy, never mask.
	plane := nx * ny
	parallelFor(nz, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			for i := k * plane; i < (k+1)*plane; i++ {
				if mask[i] == 0 {
					continue
				}
				s := int(sy[i])
				if k > 0 {
					s += int(sy[i-plane])
				}
				if k+1 < nz {
					s += int(sy[i+plane])
				}
				if s < headMaskMin {
					mask[i] = 0
				}
			}
		}
	})
}

func addRow(dst, src []uint8) {
	for i, v := range src {
		dst[i] += v
	}
}

// faceMedian returns the median of the voxels on the six faces of v's grid
// (each counted once per face it lies on), from a histogram between their
// minimum and maximum: the level of the air around the head.
func faceMedian(v *Volume) float64 {
	nx, ny, nz := v.Grid.Dims[0], v.Grid.Dims[1], v.Grid.Dims[2]
	var face []float32
	at := func(i, j, k int) float32 { return v.Data[i+nx*(j+ny*k)] }
	for j := range ny {
		for i := range nx {
			face = append(face, at(i, j, 0), at(i, j, nz-1))
		}
	}
	for k := range nz {
		for i := range nx {
			face = append(face, at(i, 0, k), at(i, ny-1, k))
		}
		for j := range ny {
			face = append(face, at(0, j, k), at(nx-1, j, k))
		}
	}
	st := maskedStats(face, nil)
	if st.n == 0 || !(st.max > st.min) {
		return float64(max(st.min, 0))
	}
	return percentiles(face, nil, st, 50)[0]
}
