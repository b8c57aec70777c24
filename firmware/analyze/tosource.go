package analyze

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"metsentry/firmware/geom"
)

// toSource samples prob (on model) at every voxel centre of src, trilinear,
// 0 outside the model grid. The study's time counts this mapping, so it does
// only the work that changes a value: a source row whose voxels can reach no
// model row holding a non-zero value stays 0 without being sampled (a score
// map is 0 but on its candidates, as the appliance's mapping back visits only
// what a set voxel reaches), and the source slices are shared out among
// GOMAXPROCS goroutines. Neither changes a value.
func toSource(prob []float32, model, src geom.Grid) ([]float32, error) {
	inv, err := model.Affine.Inverse()
	if err != nil {
		return nil, fmt.Errorf("analyze: model grid: %w", err)
	}
	m := inv.Mul(src.Affine) // source voxel -> model voxel
	mx, my, mz := model.Dims[0], model.Dims[1], model.Dims[2]
	at := func(x, y, z int) float32 { return prob[x+mx*(y+my*z)] }
	out := make([]float32, src.Len())
	nx, ny, nz := src.Dims[0], src.Dims[1], src.Dims[2]
	set := make([]bool, my*mz) // model rows (y, z) holding a non-zero value
	for r := range set {
		set[r] = slices.ContainsFunc(prob[r*mx:(r+1)*mx], func(v float32) bool { return v != 0 })
	}
	// reaches: might a voxel of source row (j, k) read a set model row? Its
	// model position runs along a line, so the rows it reads lie in the box
	// of the two ends' rows, widened by one row a side against rounding.
	reaches := func(j, k int) bool {
		a := m.Apply(geom.Vec3{0, float64(j), float64(k)})
		b := m.Apply(geom.Vec3{float64(nx - 1), float64(j), float64(k)})
		ylo, yhi := max(0, int(math.Floor(min(a[1], b[1])))-1), min(my-1, int(math.Floor(max(a[1], b[1])))+2)
		zlo, zhi := max(0, int(math.Floor(min(a[2], b[2])))-1), min(mz-1, int(math.Floor(max(a[2], b[2])))+2)
		if ylo > yhi || zlo > zhi {
			return false // the row passes beside the model grid
		}
		if (yhi-ylo+1)*(zhi-zlo+1) > nx {
			return true // an oblique row: looking costs more than sampling
		}
		for z := zlo; z <= zhi; z++ {
			if slices.Contains(set[ylo+my*z:yhi+1+my*z], true) {
				return true
			}
		}
		return false
	}
	slice := func(k int) {
		for j := 0; j < ny; j++ {
			if !reaches(j, k) {
				continue
			}
			for i := 0; i < nx; i++ {
				p := m.Apply(geom.Vec3{float64(i), float64(j), float64(k)})
				x0, y0, z0 := math.Floor(p[0]), math.Floor(p[1]), math.Floor(p[2])
				x, y, z := int(x0), int(y0), int(z0)
				if x < 0 || y < 0 || z < 0 || x >= mx || y >= my || z >= mz {
					continue
				}
				x1, y1, z1 := min(x+1, mx-1), min(y+1, my-1), min(z+1, mz-1)
				fx, fy, fz := float32(p[0]-x0), float32(p[1]-y0), float32(p[2]-z0)
				c00 := at(x, y, z)*(1-fx) + at(x1, y, z)*fx
				c10 := at(x, y1, z)*(1-fx) + at(x1, y1, z)*fx
				c01 := at(x, y, z1)*(1-fx) + at(x1, y, z1)*fx
				c11 := at(x, y1, z1)*(1-fx) + at(x1, y1, z1)*fx
				out[i+nx*(j+ny*k)] = (c00*(1-fy)+c10*fy)*(1-fz) + (c01*(1-fy)+c11*fy)*fz
			}
		}
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), nz))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := w; k < nz; k += workers {
				slice(k)
			}
		})
	}
	wg.Wait()
	return out, nil
}
