package volume

import (
	"math"
	"sync"
)

// histBins is the resolution of the percentile histogram: 4096 bins between
// the minimum and maximum put a percentile within 1/4096 of the range, far
// finer than the noise of an MR image.
const histBins = 4096

// stats are masked moments of one channel.
type stats struct {
	n        int
	min, max float32
	sum, ssq float64
}

// maskedStats returns count, range, sum and sum of squares of data where mask
// is set (all voxels when mask is nil). Each chunk sums four voxels at a time
// into four lanes held in registers, so the additions do not wait on one
// another; the chunks' totals are added in the order they finish, so the sums
// are the definition's to float64 rounding. A NaN makes the range NaN, as the
// min and max builtins would, without their cost on every voxel.
func maskedStats(data []float32, mask []uint8) stats {
	var mu sync.Mutex
	all := stats{min: float32(math.Inf(1)), max: float32(math.Inf(-1))}
	parallelFor(len(data), func(lo, hi int) {
		var st stats
		if mask == nil {
			st = laneStats(data[lo:hi])
		} else {
			st = laneStatsMasked(data[lo:hi], mask[lo:hi])
		}
		mu.Lock()
		all.n += st.n
		all.sum += st.sum
		all.ssq += st.ssq
		all.min = min(all.min, st.min)
		all.max = max(all.max, st.max)
		mu.Unlock()
	})
	return all
}

// valueRange is the running minimum and maximum of a chunk, and whether it
// met a NaN.
type valueRange struct {
	min, max float32
	nan      bool
}

func newValueRange() valueRange {
	return valueRange{min: float32(math.Inf(1)), max: float32(math.Inf(-1))}
}

func (r *valueRange) add(v float32) {
	if v < r.min {
		r.min = v
	}
	if v > r.max {
		r.max = v
	}
	if v != v {
		r.nan = true
	}
}

// stats returns the range with the count and lane sums.
func (r valueRange) stats(n int, s, q [4]float64) stats {
	st := stats{n: n, min: r.min, max: r.max, sum: (s[0] + s[1]) + (s[2] + s[3]), ssq: (q[0] + q[1]) + (q[2] + q[3])}
	if r.nan {
		st.min, st.max = float32(math.NaN()), float32(math.NaN())
	}
	return st
}

// laneStats is maskedStats of every value of d, on one goroutine.
func laneStats(d []float32) stats {
	var s0, s1, s2, s3, q0, q1, q2, q3 float64
	r := newValueRange()
	i := 0
	for ; i+4 <= len(d); i += 4 {
		v0, v1, v2, v3 := d[i], d[i+1], d[i+2], d[i+3]
		f0, f1, f2, f3 := float64(v0), float64(v1), float64(v2), float64(v3)
		s0, s1, s2, s3 = s0+f0, s1+f1, s2+f2, s3+f3
		q0, q1, q2, q3 = q0+f0*f0, q1+f1*f1, q2+f2*f2, q3+f3*f3
		r.add(v0)
		r.add(v1)
		r.add(v2)
		r.add(v3)
	}
	for ; i < len(d); i++ {
		f := float64(d[i])
		s0, q0 = s0+f, q0+f*f
		r.add(d[i])
	}
	return r.stats(len(d), [4]float64{s0, s1, s2, s3}, [4]float64{q0, q1, q2, q3})
}

// laneStatsMasked is maskedStats of the values of d where m is set, on one
// goroutine; voxel i sums into lane i mod 4.
func laneStatsMasked(d []float32, m []uint8) stats {
	m = m[:len(d)]
	var s0, s1, s2, s3, q0, q1, q2, q3 float64
	r := newValueRange()
	n := 0
	i := 0
	for ; i+4 <= len(d); i += 4 {
		if m[i] != 0 {
			f := float64(d[i])
			s0, q0 = s0+f, q0+f*f
			n++
			r.add(d[i])
		}
		if m[i+1] != 0 {
			f := float64(d[i+1])
			s1, q1 = s1+f, q1+f*f
			n++
			r.add(d[i+1])
		}
		if m[i+2] != 0 {
			f := float64(d[i+2])
			s2, q2 = s2+f, q2+f*f
			n++
			r.add(d[i+2])
		}
		if m[i+3] != 0 {
			f := float64(d[i+3])
			s3, q3 = s3+f, q3+f*f
			n++
			r.add(d[i+3])
		}
	}
	for ; i < len(d); i++ {
		if m[i] != 0 {
			f := float64(d[i])
			s0, q0 = s0+f, q0+f*f
			n++
			r.add(d[i])
		}
	}
	return r.stats(n, [4]float64{s0, s1, s2, s3}, [4]float64{q0, q1, q2, q3})
}

// percentiles returns the values at the given percentiles (0 to 100) of data
// where mask is set, from a histogram over [st.min, st.max].
func percentiles(data []float32, mask []uint8, st stats, pcts ...float64) []float64 {
	out := make([]float64, len(pcts))
	if st.n == 0 {
		return out
	}
	lo, hi := float64(st.min), float64(st.max)
	if hi <= lo {
		for i := range out {
			out[i] = lo
		}
		return out
	}
	scale := histBins / (hi - lo)
	var mu sync.Mutex
	hist := make([]int, histBins)
	parallelFor(len(data), func(a, b int) {
		h := make([]int, histBins)
		for i := a; i < b; i++ {
			if mask != nil && mask[i] == 0 {
				continue
			}
			bin := int((float64(data[i]) - lo) * scale)
			if bin >= histBins {
				bin = histBins - 1
			}
			if bin < 0 {
				bin = 0
			}
			h[bin]++
		}
		mu.Lock()
		for i, c := range h {
			hist[i] += c
		}
		mu.Unlock()
	})
	for pi, p := range pcts {
		target := p / 100 * float64(st.n)
		cum := 0.0
		out[pi] = hi
		for b, c := range hist {
			if c > 0 && cum+float64(c) >= target {
				// Interpolate within the bin.
				frac := (target - cum) / float64(c)
				out[pi] = lo + (float64(b)+frac)/scale
				break
			}
			cum += float64(c)
		}
	}
	return out
}

// threshold sets mask[i] = 1 where data[i] > t.
func threshold(mask []uint8, data []float32, t float32) {
	parallelFor(len(data), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if data[i] > t {
				mask[i] = 1
			} else {
				mask[i] = 0
			}
		}
	})
}

// zscore maps data to (v-mean)/sd with the moments of the masked voxels.
func zscore(data []float32, mask []uint8) (mean, sd float64, ok bool) {
	st := maskedStats(data, mask)
	if st.n < 2 {
		return 0, 0, false
	}
	mean = st.sum / float64(st.n)
	sd = math.Sqrt(math.Max(0, st.ssq/float64(st.n)-mean*mean))
	if !(sd > 0) {
		return mean, sd, false
	}
	m, inv := float32(mean), float32(1/sd)
	parallelFor(len(data), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			data[i] = (data[i] - m) * inv
		}
	})
	return mean, sd, true
}

// percentileScale clips data to the [lowPct, highPct] percentiles of the
// masked voxels and scales that range to [0, 1].
func percentileScale(data []float32, mask []uint8, lowPct, highPct float64) (lo, hi float64, ok bool) {
	st := maskedStats(data, mask)
	if st.n < 2 {
		return 0, 0, false
	}
	p := percentiles(data, mask, st, lowPct, highPct)
	lo, hi = p[0], p[1]
	if !(hi > lo) {
		return lo, hi, false
	}
	l, inv := float32(lo), float32(1/(hi-lo))
	parallelFor(len(data), func(a, b int) {
		for i := a; i < b; i++ {
			v := (data[i] - l) * inv
			if v < 0 {
				v = 0
			} else if v > 1 {
				v = 1
			}
			data[i] = v
		}
	})
	return lo, hi, true
}
