package realcheck

import (
	"errors"
	"math"
	"slices"

	"metsentry/firmware/geom"
	"metsentry/firmware/volume"
)

// BrainExtractionRule says how ExtractBrain makes a brain mask; reports quote
// it.
const BrainExtractionRule = "extracted here (realcheck.ExtractBrain, firmware/volume's brain-box idea at full resolution): " +
	"head = above the Otsu threshold, holes filled; tissue = head voxels brighter than the head's mean − 0.75 sd after a 3-voxel box average; the outer 8 mm of " +
	"the head peeled, the tissue left eroded by 4 mm; the piece (≥ 100 cm³) reaching highest is the core; grown back 14 mm through " +
	"tissue only; closed by 4 mm (rounded) and enclosed holes (ventricles, sulci) filled"

// ExtractBrain makes a brain mask for a whole-head T1 by intensity and
// morphology (BrainExtractionRule). It is a plain rule, good enough to tell
// brain from scalp, skull base and orbit for placing a finding, not a
// segmentation.
func ExtractBrain(v *volume.Volume) ([]uint8, error) {
	g := v.Grid
	dims, sp := g.Dims, g.Spacing()
	fine := min(sp[0], sp[1], sp[2])
	if !(fine > 0) || len(v.Data) != g.Len() {
		return nil, errors.New("brain extraction: empty or singular grid")
	}
	hi := float64(percentileOf(v.Data, 0.999, 7))
	if !(hi > 0) {
		return nil, errors.New("brain extraction: the image is empty")
	}
	const bins = 256
	h := make([]float64, bins)
	for i := 0; i < len(v.Data); i += 3 {
		if x := float64(v.Data[i]); x >= 0 {
			h[min(bins-1, int(x/hi*bins))]++
		}
	}
	t0 := float32((float64(otsu(h)) + 1) / bins * hi)
	n := len(v.Data)
	head := make([]uint8, n)
	var sum, sumSq, cnt float64
	for i, x := range v.Data {
		if x > t0 {
			head[i] = 1
			sum += float64(x)
			sumSq += float64(x) * float64(x)
			cnt++
		}
	}
	if cnt == 0 {
		return nil, errors.New("brain extraction: no head above the Otsu threshold")
	}
	mean := sum / cnt
	sd := math.Sqrt(max(sumSq/cnt-mean*mean, 0))
	tcut := float32(mean - 0.75*sd)
	r := func(mm float64) int { return max(1, int(mm/fine+0.5)) }
	// tissue on the image averaged over about 2 mm, as firmware/volume's
	// 2 mm cells: thin sulci do not cut the brain into pieces
	tissue := make([]uint8, n)
	for i, x := range boxBlur(v.Data, dims, r(1)) {
		if x > tcut {
			tissue[i] = 1
		}
	}
	filled := fillHoles(boxFilter(boxFilter(head, dims, r(2), true), dims, r(2), false), dims)
	inner := boxFilter(filled, dims, r(8), false)
	core := make([]uint8, n)
	for i := range core {
		core[i] = tissue[i] & inner[i]
	}
	core = ballErode(core, dims, r(4))
	cs := components(core, dims)
	nx, ny := dims[0], dims[1]
	best, top := -1, math.Inf(-1)
	minVox := int(100e3 / g.VoxelVolume())
	for c, vs := range cs {
		if len(vs) < minVox {
			break
		}
		for _, i := range vs {
			if z := g.Affine.Apply(geom.Vec3{float64(i % nx), float64((i / nx) % ny), float64(i / (nx * ny))})[2]; z > top {
				best, top = c, z
			}
		}
	}
	if best < 0 {
		return nil, errors.New("brain extraction: no piece of 100 cm³ or more left after peeling the head")
	}
	brain := make([]uint8, n)
	for _, i := range cs[best] {
		brain[i] = 1
	}
	for s := range r(14) {
		if s%2 == 0 {
			brain = boxFilter(brain, dims, 1, true)
		} else {
			brain = crossDilate(brain, dims)
		}
		for i := range brain {
			brain[i] &= tissue[i]
		}
	}
	brain = ballErode(ballDilate(brain, dims, r(4)), dims, r(4))
	return fillHoles(brain, dims), nil
}

// boxBlur is the mean over the (2r+1)³ cube around each voxel (the part
// inside the grid), one axis at a time.
func boxBlur(data []float32, dims [3]int, r int) []float32 {
	cur := slices.Clone(data)
	tmp := make([]float32, len(data))
	strides := [3]int{1, dims[0], dims[0] * dims[1]}
	for a := range 3 {
		n, s := dims[a], strides[a]
		b, c := (a+1)%3, (a+2)%3
		for w := range dims[c] {
			for u := range dims[b] {
				base := u*strides[b] + w*strides[c]
				var sum float64
				cnt := 0
				for q := 0; q < min(r, n); q++ {
					sum += float64(cur[base+q*s])
					cnt++
				}
				for p := range n {
					if q := p + r; q < n {
						sum += float64(cur[base+q*s])
						cnt++
					}
					if q := p - r - 1; q >= 0 {
						sum -= float64(cur[base+q*s])
						cnt--
					}
					tmp[base+p*s] = float32(sum / float64(cnt))
				}
			}
		}
		cur, tmp = tmp, cur
	}
	return cur
}

// ballDilate dilates mask by about r voxels with a rounded element: r steps
// alternating the 26-neighbour cube and the 6-neighbour cross.
func ballDilate(mask []uint8, dims [3]int, r int) []uint8 {
	out := slices.Clone(mask)
	for s := range r {
		if s%2 == 0 {
			out = boxFilter(out, dims, 1, true)
		} else {
			out = crossDilate(out, dims)
		}
	}
	return out
}

// ballErode is ballDilate of the complement, complemented (voxels beyond
// the grid count as set, so the grid's faces are not peeled).
func ballErode(mask []uint8, dims [3]int, r int) []uint8 {
	inv := make([]uint8, len(mask))
	for i, m := range mask {
		if m == 0 {
			inv[i] = 1
		}
	}
	inv = ballDilate(inv, dims, r)
	for i, m := range inv {
		inv[i] = 1 - m
	}
	return inv
}

// crossDilate sets every voxel with a set 6-neighbour.
func crossDilate(mask []uint8, dims [3]int) []uint8 {
	nx, ny, nz := dims[0], dims[1], dims[2]
	out := slices.Clone(mask)
	for k := range nz {
		for j := range ny {
			for i := range nx {
				c := i + nx*(j+ny*k)
				if mask[c] != 0 {
					continue
				}
				if (i > 0 && mask[c-1] != 0) || (i < nx-1 && mask[c+1] != 0) ||
					(j > 0 && mask[c-nx] != 0) || (j < ny-1 && mask[c+nx] != 0) ||
					(k > 0 && mask[c-nx*ny] != 0) || (k < nz-1 && mask[c+nx*ny] != 0) {
					out[c] = 1
				}
			}
		}
	}
	return out
}

// otsu returns the histogram bin that best splits h into two classes.
func otsu(h []float64) int {
	var total, sum float64
	for b, c := range h {
		total += c
		sum += float64(b) * c
	}
	var wB, sumB, best float64
	t := 0
	for b, c := range h {
		wB += c
		if wB == 0 || wB == total {
			continue
		}
		sumB += float64(b) * c
		mB, mF := sumB/wB, (sum-sumB)/(total-wB)
		if v := wB * (total - wB) * (mB - mF) * (mB - mF); v > best {
			best, t = v, b
		}
	}
	return t
}

// fillHoles sets every unset voxel that cannot reach the grid's faces
// through unset voxels (6-connected).
func fillHoles(mask []uint8, dims [3]int) []uint8 {
	nx, ny, nz := dims[0], dims[1], dims[2]
	out := slices.Clone(mask)
	seen := make([]bool, len(mask))
	var queue []int32
	push := func(i int) {
		if out[i] == 0 && !seen[i] {
			seen[i] = true
			queue = append(queue, int32(i))
		}
	}
	for k := range nz {
		for j := range ny {
			for i := range nx {
				if i == 0 || j == 0 || k == 0 || i == nx-1 || j == ny-1 || k == nz-1 {
					push(i + nx*(j+ny*k))
				}
			}
		}
	}
	for len(queue) > 0 {
		c := int(queue[len(queue)-1])
		queue = queue[:len(queue)-1]
		i, j, k := c%nx, (c/nx)%ny, c/(nx*ny)
		if i > 0 {
			push(c - 1)
		}
		if i < nx-1 {
			push(c + 1)
		}
		if j > 0 {
			push(c - nx)
		}
		if j < ny-1 {
			push(c + nx)
		}
		if k > 0 {
			push(c - nx*ny)
		}
		if k < nz-1 {
			push(c + nx*ny)
		}
	}
	for i := range out {
		if !seen[i] {
			out[i] = 1
		}
	}
	return out
}

// percentileOf is the p-quantile of every step-th value of data.
func percentileOf(data []float32, p float64, step int) float32 {
	vals := make([]float32, 0, len(data)/step+1)
	for i := 0; i < len(data); i += step {
		vals = append(vals, data[i])
	}
	if len(vals) == 0 {
		return 0
	}
	slices.Sort(vals)
	return vals[int(p*float64(len(vals)-1)+0.5)]
}

// TissueLevels are the mean intensities of the three tissue classes inside a
// brain mask, from a 3-class k-means as the phantom fits Colin27
// (tools/phantom's Anatomy.classify) on all but the brightest 3% of them,
// and the image's 99.5th percentile.
type TissueLevels struct {
	CSF, GM, WM, Top float64
}

// FitTissueLevels fits TissueLevels to data inside mask.
func FitTissueLevels(data []float32, mask []uint8) (TissueLevels, error) {
	var vals []float32
	for i, m := range mask {
		if m != 0 && i%3 == 0 {
			vals = append(vals, data[i])
		}
	}
	if len(vals) < 30 {
		return TissueLevels{}, errors.New("realcheck: too few brain voxels to fit the tissue levels")
	}
	sorted := slices.Clone(vals)
	slices.Sort(sorted)
	q := func(p float64) float64 { return float64(sorted[int(p*float64(len(sorted)-1)+0.5)]) }
	// The brightest 3% (enhancing vessels, a tumour, fat) would pull a
	// class of their own on a post-contrast image; the fit leaves them out.
	cap := float32(q(0.97))
	vals = slices.DeleteFunc(vals, func(v float32) bool { return v > cap })
	c := [3]float64{q(0.05), q(0.4), q(0.8)}
	for range 15 {
		var sum, cnt [3]float64
		for _, v := range vals {
			k := nearestLevel(c, float64(v))
			sum[k] += float64(v)
			cnt[k]++
		}
		for k := range c {
			if cnt[k] > 0 {
				c[k] = sum[k] / cnt[k]
			}
		}
	}
	t := TissueLevels{CSF: c[0], GM: c[1], WM: c[2], Top: float64(percentileOf(data, 0.995, 3))}
	if !(t.CSF < t.GM && t.GM < t.WM) {
		return t, errors.New("realcheck: the tissue levels are not ordered CSF < GM < WM (not a T1 image?)")
	}
	t.Top = max(t.Top, 1.2*t.WM)
	return t, nil
}

func nearestLevel(c [3]float64, v float64) int {
	k, d := 0, math.Inf(1)
	for i, x := range c {
		if e := math.Abs(v - x); e < d {
			k, d = i, e
		}
	}
	return k
}
