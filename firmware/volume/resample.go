package volume

import (
	"math"

	"metsentry/firmware/geom"
)

// sampler reads a volume at continuous voxel coordinates with trilinear
// interpolation. Points up to half a voxel outside the grid take the edge
// value (the edge voxel covers them); points further out read as outside.
type sampler struct {
	data       []float32
	nx, ny, nz int
}

// at returns the interpolated value at (x, y, z) and whether the point lies
// inside the volume.
func (s *sampler) at(x, y, z float64) (float32, bool) {
	if x < -0.5 || y < -0.5 || z < -0.5 || x > float64(s.nx)-0.5 || y > float64(s.ny)-0.5 || z > float64(s.nz)-0.5 {
		return 0, false
	}
	x = clamp(x, 0, float64(s.nx-1))
	y = clamp(y, 0, float64(s.ny-1))
	z = clamp(z, 0, float64(s.nz-1))
	x0, y0, z0 := int(x), int(y), int(z)
	fx, fy, fz := float32(x-float64(x0)), float32(y-float64(y0)), float32(z-float64(z0))
	x1, y1, z1 := min(x0+1, s.nx-1), min(y0+1, s.ny-1), min(z0+1, s.nz-1)
	nx, plane := s.nx, s.nx*s.ny
	d := s.data
	i00, i01 := z0*plane+y0*nx, z0*plane+y1*nx
	i10, i11 := z1*plane+y0*nx, z1*plane+y1*nx
	c00 := d[i00+x0] + fx*(d[i00+x1]-d[i00+x0])
	c01 := d[i01+x0] + fx*(d[i01+x1]-d[i01+x0])
	c10 := d[i10+x0] + fx*(d[i10+x1]-d[i10+x0])
	c11 := d[i11+x0] + fx*(d[i11+x1]-d[i11+x0])
	c0 := c00 + fy*(c01-c00)
	c1 := c10 + fy*(c11-c10)
	return c0 + fz*(c1-c0), true
}

// interior reports whether both points lie where trilinear interpolation
// needs no clamping: [0, n-1) on every axis, with a margin for rounding.
func (s *sampler) interior(a, b geom.Vec3) bool {
	lim := [3]float64{float64(s.nx-1) - 1e-6, float64(s.ny-1) - 1e-6, float64(s.nz-1) - 1e-6}
	for ax := 0; ax < 3; ax++ {
		if a[ax] < 0 || b[ax] < 0 || a[ax] >= lim[ax] || b[ax] >= lim[ax] {
			return false
		}
	}
	return true
}

// row fills out with samples from p stepping by d, all inside the interior.
func (s *sampler) row(out []float32, p, d geom.Vec3) {
	nx, plane := s.nx, s.nx*s.ny
	data := s.data
	x, y, z := p[0], p[1], p[2]
	for i := range out {
		x0, y0, z0 := int(x), int(y), int(z)
		fx, fy, fz := float32(x-float64(x0)), float32(y-float64(y0)), float32(z-float64(z0))
		i00 := z0*plane + y0*nx + x0
		i01 := i00 + nx
		i10 := i00 + plane
		i11 := i10 + nx
		c00 := data[i00] + fx*(data[i00+1]-data[i00])
		c01 := data[i01] + fx*(data[i01+1]-data[i01])
		c10 := data[i10] + fx*(data[i10+1]-data[i10])
		c11 := data[i11] + fx*(data[i11+1]-data[i11])
		c0 := c00 + fy*(c01-c00)
		c1 := c10 + fy*(c11-c10)
		out[i] = c0 + fz*(c1-c0)
		x += d[0]
		y += d[1]
		z += d[2]
	}
}

// latticeMap reports whether m sends every voxel centre to a voxel centre:
// each column a unit step along one axis (either way) and the translation
// whole voxels, as when the source is axis-aligned at the model spacing and
// the model lattice passes through its centres (modelGrid).
func latticeMap(m geom.Affine) bool {
	const tol = 1e-9
	for r := 0; r < 3; r++ {
		ones := 0
		for c := 0; c < 3; c++ {
			switch v := math.Abs(m[r][c]); {
			case math.Abs(v-1) < tol:
				ones++
			case v >= tol:
				return false
			}
		}
		if ones != 1 || math.Abs(m[r][3]-math.Round(m[r][3])) > tol {
			return false
		}
	}
	return true
}

// copyRow is row for a lattice map: p whole voxels, d a unit step.
func (s *sampler) copyRow(out []float32, p, d geom.Vec3) {
	i := int(math.Round(p[2]))*s.nx*s.ny + int(math.Round(p[1]))*s.nx + int(math.Round(p[0]))
	step := int(math.Round(d[2]))*s.nx*s.ny + int(math.Round(d[1]))*s.nx + int(math.Round(d[0]))
	for o := range out {
		out[o] = s.data[i]
		i += step
	}
}

func clamp(v, lo, hi float64) float64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// voxelMap returns the affine from dst voxel index to src voxel index.
func voxelMap(dst, src geom.Grid) (geom.Affine, error) {
	inv, err := src.Affine.Inverse()
	if err != nil {
		return geom.Affine{}, err
	}
	return inv.Mul(dst.Affine), nil
}

// resample fills out (dst.Len() values) with src sampled trilinearly at the
// centres of dst's voxels; voxels outside src get 0. It returns how many dst
// voxels fell inside src. Work is split over dst slices.
func resample(out []float32, dst geom.Grid, srcGrid geom.Grid, srcData []float32) (int, error) {
	m, err := voxelMap(dst, srcGrid)
	if err != nil {
		return 0, err
	}
	s := sampler{data: srcData, nx: srcGrid.Dims[0], ny: srcGrid.Dims[1], nz: srcGrid.Dims[2]}
	nx, ny, nz := dst.Dims[0], dst.Dims[1], dst.Dims[2]
	di := m.Column(0)
	onLattice := latticeMap(m)
	counts := make([]int, nz)
	parallelFor(nz, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			inside := 0
			for j := 0; j < ny; j++ {
				p := m.Apply(geom.Vec3{0, float64(j), float64(k)})
				row := out[(k*ny+j)*nx : (k*ny+j+1)*nx]
				if s.interior(p, p.Add(di.Scale(float64(nx-1)))) {
					// The row runs inside the source from end to end (the
					// map is linear): no bounds checks per voxel. On the
					// lattice every centre of the row is a source voxel's
					// centre, and trilinear interpolation there is that
					// voxel's value.
					if onLattice {
						s.copyRow(row, p, di)
					} else {
						s.row(row, p, di)
					}
					inside += nx
					continue
				}
				for i := range row {
					v, ok := s.at(p[0], p[1], p[2])
					row[i] = v
					if ok {
						inside++
					}
					p[0] += di[0]
					p[1] += di[1]
					p[2] += di[2]
				}
			}
			counts[k] = inside
		}
	})
	total := 0
	for _, c := range counts {
		total += c
	}
	return total, nil
}
