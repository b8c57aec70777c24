package infer

import (
	"errors"
	"fmt"
	"math"
)

// Plan says how a volume passes through a model.
type Plan struct {
	// Multiple is the size every spatial extent of a pass must be a multiple
	// of (2^levels for a U-Net); tiles start on multiples of it too.
	Multiple int
	// Patch is the tile size; zero means choose the largest cube that fits
	// the budget.
	Patch [3]int
	// Overlap is how far consecutive tiles overlap; at least 2×Margin.
	Overlap [3]int
	// Margin is how many voxels at each cut edge of a tile are not used:
	// half the receptive field gives results equal to a whole-volume pass.
	Margin [3]int
	// Blend ramps linearly from one tile to the next across the part of the
	// overlap beyond the margins; false cuts at the middle of the overlap.
	Blend bool

	// BudgetBytes is the memory one pass may use (the board's
	// inference.memory_budget_mb); 0 means no limit, so always one pass.
	BudgetBytes int64
	// BytesPerVoxel is the model's peak working memory per voxel of a pass,
	// measured (see runtime/bench); it turns the budget into a pass size.
	BytesPerVoxel float64
	// ForceTiles tiles even when the whole volume fits (tests, bench).
	ForceTiles bool

	// SkipEmpty skips tiles whose input is all zero (outside the head after
	// normalisation); their output is EmptyValue.
	SkipEmpty  bool
	EmptyValue float32
	// OutChannels is used when every tile was skipped; 0 means 1.
	OutChannels int
}

// ErrPlan wraps every problem with a Plan.
var ErrPlan = errors.New("infer: bad plan")

func (p *Plan) check() error {
	if p.Multiple < 1 {
		return fmt.Errorf("%w: multiple %d must be at least 1", ErrPlan, p.Multiple)
	}
	for a := range 3 {
		if p.Margin[a] < 0 || p.Overlap[a] < 0 || p.Patch[a] < 0 {
			return fmt.Errorf("%w: negative patch, overlap or margin on axis %d", ErrPlan, a)
		}
		if p.Overlap[a] < 2*p.Margin[a] {
			return fmt.Errorf("%w: overlap %d on axis %d is less than 2×margin %d (tiles would not agree with a whole pass)", ErrPlan, p.Overlap[a], a, p.Margin[a])
		}
		if p.Patch[a] > 0 && (p.Patch[a]%p.Multiple != 0 || p.Patch[a]-p.Overlap[a] < p.Multiple) {
			return fmt.Errorf("%w: patch %d on axis %d must be a multiple of %d and exceed the overlap %d by at least that", ErrPlan, p.Patch[a], a, p.Multiple, p.Overlap[a])
		}
	}
	return nil
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int) int { return (n + m - 1) / m * m }

// tileSize returns the patch to use for a volume of padded size dims.
func (p *Plan) tileSize(dims [3]int) [3]int {
	patch := p.Patch
	if patch == [3]int{} {
		side := 0
		if p.BytesPerVoxel > 0 && p.BudgetBytes > 0 {
			side = int(math.Cbrt(float64(p.BudgetBytes)/p.BytesPerVoxel)) / p.Multiple * p.Multiple
		}
		for a := range 3 {
			patch[a] = max(side, roundUp(p.Overlap[a]+p.Multiple, p.Multiple))
		}
	}
	for a := range 3 {
		patch[a] = min(patch[a], dims[a])
	}
	return patch
}

// starts returns where tiles begin along one axis of padded length n.
func starts(n, patch, overlap, multiple int) []int {
	if patch >= n {
		return []int{0}
	}
	stride := (patch - overlap) / multiple * multiple
	out := []int{0}
	for s := stride; s+patch < n; s += stride {
		out = append(out, s)
	}
	return append(out, n-patch)
}

// axisWeights returns, for each tile along one axis, its weight for each
// voxel of the tile; across tiles the weights of a voxel sum to 1.
//
// Consecutive tiles k and k+1 hand over at the middle c_k of their overlap,
// either at once (no blend) or along a linear ramp of half-width h_k around
// c_k. The ramps keep Margin away from both tiles' edges and do not overlap
// one another (the last tile, moved back to end at the volume's edge, can
// overlap its neighbour far more than the others), so with next_k the share
// of the tiles after k, w_k = next_{k-1} × (1 − next_k) sums to 1.
func axisWeights(st []int, patch, margin int, blend bool) [][]float32 {
	n := len(st)
	c := make([]float64, n-1) // handover points
	h := make([]float64, n-1) // ramp half-widths
	for k := range c {
		lo, hi := st[k+1], st[k]+patch
		c[k] = float64(lo+hi) / 2
		if blend {
			h[k] = float64(hi-lo)/2 - float64(margin)
		}
	}
	for k := range h {
		if k > 0 {
			h[k] = math.Min(h[k], (c[k]-c[k-1])/2)
		}
		if k+1 < len(c) {
			h[k] = math.Min(h[k], (c[k+1]-c[k])/2)
		}
	}
	next := func(k, g int) float64 {
		switch {
		case k < 0:
			return 1
		case k >= n-1:
			return 0
		case h[k] <= 0:
			if float64(g) >= math.Floor(c[k]) {
				return 1
			}
			return 0
		}
		return math.Min(1, math.Max(0, (float64(g)+0.5-(c[k]-h[k]))/(2*h[k])))
	}
	w := make([][]float32, n)
	for k := range st {
		w[k] = make([]float32, patch)
		for i := range w[k] {
			g := st[k] + i
			w[k][i] = float32(next(k-1, g) * (1 - next(k, g)))
		}
	}
	return w
}
