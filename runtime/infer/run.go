package infer

import (
	"context"
	"fmt"
)

// Stats says how one Predict went.
type Stats struct {
	Whole    bool   // one pass over the whole volume
	Tiles    int    // tiles in the plan
	Skipped  int    // tiles skipped as empty
	Patch    [3]int // tile size used
	Provider string
}

// Predict runs e over vol, shaped [1, C, D, H, W], following plan, and returns
// the output, shaped [1, C', D, H, W], with the same spatial size as the input.
// It checks ctx before every tile and returns ctx's error, wrapped, when
// cancelled; a tile already running is allowed to finish.
func Predict(ctx context.Context, e Engine, vol []float32, shape [5]int64, plan Plan) ([]float32, [5]int64, Stats, error) {
	st := Stats{Provider: e.Provider()}
	if err := plan.check(); err != nil {
		return nil, [5]int64{}, st, err
	}
	if shape[0] != 1 || shape[1] < 1 {
		return nil, [5]int64{}, st, fmt.Errorf("infer: input shape %v: expected [1, C, D, H, W]", shape)
	}
	c := int(shape[1])
	dims := [3]int{int(shape[2]), int(shape[3]), int(shape[4])}
	n := dims[0] * dims[1] * dims[2]
	if n <= 0 || len(vol) != c*n {
		return nil, [5]int64{}, st, fmt.Errorf("infer: input has %d values, shape %v needs %d", len(vol), shape, c*max(n, 0))
	}
	var padded [3]int
	for a := range 3 {
		padded[a] = roundUp(dims[a], plan.Multiple)
	}
	pv := int64(padded[0]) * int64(padded[1]) * int64(padded[2])
	fits := plan.BudgetBytes == 0 || float64(pv)*plan.BytesPerVoxel <= float64(plan.BudgetBytes)
	if fits && !plan.ForceTiles {
		st.Whole, st.Tiles, st.Patch = true, 1, padded
		if err := ctx.Err(); err != nil {
			return nil, [5]int64{}, st, fmt.Errorf("infer: cancelled before the pass: %w", err)
		}
		in := vol
		if padded != dims {
			in = crop(vol, c, dims, [3]int{}, padded)
		}
		out, err := e.Run(ctx, in, [5]int64{1, int64(c), int64(padded[0]), int64(padded[1]), int64(padded[2])})
		if err != nil {
			return nil, [5]int64{}, st, fmt.Errorf("infer: whole-volume pass: %w", err)
		}
		oc, err := outChannels(len(out), padded)
		if err != nil {
			return nil, [5]int64{}, st, err
		}
		if padded != dims {
			out = crop(out, oc, padded, [3]int{}, dims)
		}
		return out, [5]int64{1, int64(oc), shape[2], shape[3], shape[4]}, st, nil
	}

	patch := plan.tileSize(padded)
	st.Patch = patch
	var ss [3][]int
	var ws [3][][]float32
	for a := range 3 {
		ss[a] = starts(padded[a], patch[a], plan.Overlap[a], plan.Multiple)
		ws[a] = axisWeights(ss[a], patch[a], plan.Margin[a], plan.Blend)
	}
	st.Tiles = len(ss[0]) * len(ss[1]) * len(ss[2])
	tshape := [5]int64{1, int64(c), int64(patch[0]), int64(patch[1]), int64(patch[2])}
	var out []float32
	oc := 0
	var skipped [][6]int // origin and tile indices of skipped tiles
	for i, z := range ss[0] {
		for j, y := range ss[1] {
			for k, x := range ss[2] {
				if err := ctx.Err(); err != nil {
					return nil, [5]int64{}, st, fmt.Errorf("infer: cancelled after %d of %d tiles: %w", (i*len(ss[1])+j)*len(ss[2])+k, st.Tiles, err)
				}
				org := [3]int{z, y, x}
				tile := crop(vol, c, dims, org, patch)
				if plan.SkipEmpty && allZero(tile) {
					st.Skipped++
					skipped = append(skipped, [6]int{z, y, x, i, j, k})
					continue
				}
				res, err := e.Run(ctx, tile, tshape)
				if err != nil {
					return nil, [5]int64{}, st, fmt.Errorf("infer: tile at %v: %w", org, err)
				}
				toc, err := outChannels(len(res), patch)
				if err != nil {
					return nil, [5]int64{}, st, err
				}
				if out == nil {
					oc = toc
					out = make([]float32, oc*n)
				} else if toc != oc {
					return nil, [5]int64{}, st, fmt.Errorf("infer: tile at %v returned %d channels, earlier tiles %d", org, toc, oc)
				}
				add(out, oc, dims, org, patch, res, 0, [3][]float32{ws[0][i], ws[1][j], ws[2][k]})
			}
		}
	}
	if out == nil { // every tile was empty
		oc = max(plan.OutChannels, 1)
		out = make([]float32, oc*n)
	}
	if plan.EmptyValue != 0 {
		for _, t := range skipped {
			add(out, oc, dims, [3]int{t[0], t[1], t[2]}, patch, nil, plan.EmptyValue, [3][]float32{ws[0][t[3]], ws[1][t[4]], ws[2][t[5]]})
		}
	}
	return out, [5]int64{1, int64(oc), shape[2], shape[3], shape[4]}, st, nil
}

func outChannels(n int, dims [3]int) (int, error) {
	v := dims[0] * dims[1] * dims[2]
	if n == 0 || n%v != 0 {
		return 0, fmt.Errorf("infer: model returned %d values for a %v pass (expected a multiple of %d)", n, dims, v)
	}
	return n / v, nil
}

// crop copies the box at org of size size out of src (c channels, dims),
// with zeros where the box leaves src.
func crop(src []float32, c int, dims, org, size [3]int) []float32 {
	dst := make([]float32, c*size[0]*size[1]*size[2])
	for ch := range c {
		for z := range size[0] {
			sz := org[0] + z
			if sz >= dims[0] {
				break
			}
			for y := range size[1] {
				sy := org[1] + y
				if sy >= dims[1] {
					break
				}
				w := min(size[2], dims[2]-org[2])
				if w <= 0 {
					continue
				}
				so := ((ch*dims[0]+sz)*dims[1]+sy)*dims[2] + org[2]
				do := ((ch*size[0]+z)*size[1] + y) * size[2]
				copy(dst[do:do+w], src[so:so+w])
			}
		}
	}
	return dst
}

// add adds tile (or, when tile is nil, the constant fill) times the tile
// weights into out (c channels, dims), skipping what lies in the padding.
func add(out []float32, c int, dims, org, size [3]int, tile []float32, fill float32, w [3][]float32) {
	for ch := range c {
		for z := range size[0] {
			gz := org[0] + z
			if gz >= dims[0] || w[0][z] == 0 {
				continue
			}
			for y := range size[1] {
				gy := org[1] + y
				if gy >= dims[1] || w[1][y] == 0 {
					continue
				}
				wzy := w[0][z] * w[1][y]
				oo := ((ch*dims[0]+gz)*dims[1] + gy) * dims[2]
				to := ((ch*size[0]+z)*size[1] + y) * size[2]
				for x := range size[2] {
					gx := org[2] + x
					if gx >= dims[2] {
						break
					}
					v := fill
					if tile != nil {
						v = tile[to+x]
					}
					out[oo+gx] += wzy * w[2][x] * v
				}
			}
		}
	}
}

func allZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
