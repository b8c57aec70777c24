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
// is set (all voxels when mask is nil). Each chunk sums into four lanes, so
// the additions do not wait on one another.
func maskedStats(data []float32, mask []uint8) stats {
	var mu sync.Mutex
	all := stats{min: float32(math.Inf(1)), max: float32(math.Inf(-1))}
	parallelFor(len(data), func(lo, hi int) {
		var sum, ssq [4]float64
		n := 0
		mn, mx := float32(math.Inf(1)), float32(math.Inf(-1))
		for i := lo; i < hi; i++ {
			if mask != nil && mask[i] == 0 {
				continue
			}
			v := data[i]
			f := float64(v)
			sum[n&3] += f
			ssq[n&3] += f * f
			n++
			mn, mx = min(mn, v), max(mx, v)
		}
		mu.Lock()
		all.n += n
		all.sum += (sum[0] + sum[1]) + (sum[2] + sum[3])
		all.ssq += (ssq[0] + ssq[1]) + (ssq[2] + ssq[3])
		all.min = min(all.min, mn)
		all.max = max(all.max, mx)
		mu.Unlock()
	})
	return all
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
