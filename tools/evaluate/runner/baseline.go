package runner

import (
	"context"
	"fmt"
	"math"
	"sort"

	"metsentry/firmware/volume"
)

// BaselineDetector is a classical black-blood detector, not a model: a voxel
// is suspicious when it is bright on the black-blood image (relative to white
// matter) and about as bright on the bright-blood image, away from the scalp.
// It is the floor any trained model must beat, and it lets the pipeline and
// the scoreboard run where no model is available.
type BaselineDetector struct {
	// Ratio is the black-blood signal, relative to white matter, at which the
	// probability is one half (default 1.35).
	Ratio float64
	// ScalpMM is how far inside the head outline, along rows and columns, a
	// voxel must be (default 14 mm): scalp fat and marrow are bright in both
	// channels too.
	ScalpMM float64
}

// Name implements Detector.
func (d BaselineDetector) Name() string {
	return fmt.Sprintf("baseline black-blood threshold (ratio %.3g, not a model)", d.ratio())
}

func (d BaselineDetector) ratio() float64 {
	if d.Ratio == 0 {
		return 1.35
	}
	return d.Ratio
}

// Prob implements Detector.
func (d BaselineDetector) Prob(ctx context.Context, black, bright *volume.Volume) ([]float32, error) {
	if black == nil || bright == nil {
		return nil, fmt.Errorf("baseline: needs both the black-blood and the bright-blood image (it thresholds black-blood; it cannot run bright-only)")
	}
	if black.Grid.Dims != bright.Grid.Dims || len(black.Data) != len(bright.Data) {
		return nil, fmt.Errorf("baseline: black %v and bright %v grids differ", black.Grid.Dims, bright.Grid.Dims)
	}
	scalp := d.ScalpMM
	if scalp == 0 {
		scalp = 14
	}
	wm := whiteMatter(black.Data)
	if wm <= 0 {
		return nil, fmt.Errorf("baseline: black-blood image has no signal")
	}
	nx, ny, nz := black.Grid.Dims[0], black.Grid.Dims[1], black.Grid.Dims[2]
	sp := black.Grid.Spacing()
	mx, my := int(math.Ceil(scalp/sp[0])), int(math.Ceil(scalp/sp[1]))
	head := float32(0.2 * wm)
	prob := make([]float32, len(black.Data))
	r := d.ratio()
	for k := 0; k < nz; k++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		off := nx * ny * k
		// head outline per row and per column of this slice
		rowLo, rowHi := make([]int, ny), make([]int, ny)
		colLo, colHi := make([]int, nx), make([]int, nx)
		for j := range rowLo {
			rowLo[j], rowHi[j] = nx, -1
		}
		for i := range colLo {
			colLo[i], colHi[i] = ny, -1
		}
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				if bright.Data[off+i+nx*j] > head {
					rowLo[j], rowHi[j] = min(rowLo[j], i), max(rowHi[j], i)
					colLo[i], colHi[i] = min(colLo[i], j), max(colHi[i], j)
				}
			}
		}
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				if i < rowLo[j]+mx || i > rowHi[j]-mx || j < colLo[i]+my || j > colHi[i]-my {
					continue
				}
				idx := off + i + nx*j
				b, w := float64(black.Data[idx]), float64(bright.Data[idx])
				if b <= 0 || w/b > 1.4 { // much brighter with flowing blood: a vessel
					continue
				}
				prob[idx] = float32(1 / (1 + math.Exp(-(b/wm-r)/0.06)))
			}
		}
	}
	return prob, nil
}

// whiteMatter estimates the white-matter signal: the 80th percentile of the
// voxels above a tenth of the 99th percentile (head, not air).
func whiteMatter(v []float32) float64 {
	s := make([]float32, 0, len(v)/13+1)
	for i := 0; i < len(v); i += 13 {
		s = append(s, v[i])
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	floor := 0.1 * s[int(0.99*float64(len(s)-1))]
	lo := sort.Search(len(s), func(i int) bool { return s[i] > floor })
	h := s[lo:]
	if len(h) == 0 {
		return 0
	}
	return float64(h[int(0.8*float64(len(h)-1))])
}
