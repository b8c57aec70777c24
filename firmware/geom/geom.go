package geom

import (
	"errors"
	"fmt"
	"math"
)

// Vec3 is a point or direction: patient mm, or a voxel index as floats.
type Vec3 [3]float64

// Add returns v+w.
func (v Vec3) Add(w Vec3) Vec3 { return Vec3{v[0] + w[0], v[1] + w[1], v[2] + w[2]} }

// Sub returns v-w.
func (v Vec3) Sub(w Vec3) Vec3 { return Vec3{v[0] - w[0], v[1] - w[1], v[2] - w[2]} }

// Scale returns s*v.
func (v Vec3) Scale(s float64) Vec3 { return Vec3{s * v[0], s * v[1], s * v[2]} }

// Dot returns the dot product.
func (v Vec3) Dot(w Vec3) float64 { return v[0]*w[0] + v[1]*w[1] + v[2]*w[2] }

// Cross returns the cross product v×w.
func (v Vec3) Cross(w Vec3) Vec3 {
	return Vec3{v[1]*w[2] - v[2]*w[1], v[2]*w[0] - v[0]*w[2], v[0]*w[1] - v[1]*w[0]}
}

// Norm returns the Euclidean length.
func (v Vec3) Norm() float64 { return math.Sqrt(v.Dot(v)) }

// Affine maps a voxel index (i, j, k) to patient LPS mm:
// p = A[:, :3] · (i, j, k) + A[:, 3].
type Affine [3][4]float64

// Identity is the affine of a 1 mm grid whose origin is voxel (0, 0, 0).
var Identity = Affine{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}

// ErrSingular is returned by Inverse when the affine has no inverse.
var ErrSingular = errors.New("geom: affine is singular")

// FromDICOM builds the affine of a slice stack from DICOM attributes: the first
// slice's ImagePositionPatient, ImageOrientationPatient (row direction then
// column direction cosines), PixelSpacing (row spacing, column spacing) and the
// step from one slice's position to the next.
func FromDICOM(origin Vec3, rowDir, colDir Vec3, pixelSpacing [2]float64, sliceStep Vec3) Affine {
	// Column index i moves along the row direction by the column spacing
	// (PixelSpacing[1]); row index j moves along the column direction by the
	// row spacing (PixelSpacing[0]). PS3.3 C.7.6.2.1.1.
	dx := rowDir.Scale(pixelSpacing[1])
	dy := colDir.Scale(pixelSpacing[0])
	var a Affine
	for r := 0; r < 3; r++ {
		a[r] = [4]float64{dx[r], dy[r], sliceStep[r], origin[r]}
	}
	return a
}

// Apply maps a voxel index to patient mm.
func (a Affine) Apply(v Vec3) Vec3 {
	var p Vec3
	for r := 0; r < 3; r++ {
		p[r] = a[r][0]*v[0] + a[r][1]*v[1] + a[r][2]*v[2] + a[r][3]
	}
	return p
}

// ApplyDir maps a direction (no translation).
func (a Affine) ApplyDir(v Vec3) Vec3 {
	var p Vec3
	for r := 0; r < 3; r++ {
		p[r] = a[r][0]*v[0] + a[r][1]*v[1] + a[r][2]*v[2]
	}
	return p
}

// Column returns column c (0..2 the axis steps, 3 the origin).
func (a Affine) Column(c int) Vec3 { return Vec3{a[0][c], a[1][c], a[2][c]} }

// Mul returns the composition a∘b: first b, then a.
func (a Affine) Mul(b Affine) Affine {
	var m Affine
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			s := a[r][0]*b[0][c] + a[r][1]*b[1][c] + a[r][2]*b[2][c]
			if c == 3 {
				s += a[r][3]
			}
			m[r][c] = s
		}
	}
	return m
}

// Det returns the determinant of the linear part.
func (a Affine) Det() float64 {
	return a[0][0]*(a[1][1]*a[2][2]-a[1][2]*a[2][1]) -
		a[0][1]*(a[1][0]*a[2][2]-a[1][2]*a[2][0]) +
		a[0][2]*(a[1][0]*a[2][1]-a[1][1]*a[2][0])
}

// Inverse returns the affine that maps patient mm back to voxel index.
func (a Affine) Inverse() (Affine, error) {
	d := a.Det()
	if math.Abs(d) < 1e-12 {
		return Affine{}, ErrSingular
	}
	var inv Affine
	inv[0][0] = (a[1][1]*a[2][2] - a[1][2]*a[2][1]) / d
	inv[0][1] = (a[0][2]*a[2][1] - a[0][1]*a[2][2]) / d
	inv[0][2] = (a[0][1]*a[1][2] - a[0][2]*a[1][1]) / d
	inv[1][0] = (a[1][2]*a[2][0] - a[1][0]*a[2][2]) / d
	inv[1][1] = (a[0][0]*a[2][2] - a[0][2]*a[2][0]) / d
	inv[1][2] = (a[0][2]*a[1][0] - a[0][0]*a[1][2]) / d
	inv[2][0] = (a[1][0]*a[2][1] - a[1][1]*a[2][0]) / d
	inv[2][1] = (a[0][1]*a[2][0] - a[0][0]*a[2][1]) / d
	inv[2][2] = (a[0][0]*a[1][1] - a[0][1]*a[1][0]) / d
	for r := 0; r < 3; r++ {
		inv[r][3] = -(inv[r][0]*a[0][3] + inv[r][1]*a[1][3] + inv[r][2]*a[2][3])
	}
	return inv, nil
}

// Spacing returns the length of each axis step in mm.
func (a Affine) Spacing() Vec3 {
	return Vec3{a.Column(0).Norm(), a.Column(1).Norm(), a.Column(2).Norm()}
}

// String prints the affine rows.
func (a Affine) String() string {
	return fmt.Sprintf("[%.4g %.4g %.4g %.4g; %.4g %.4g %.4g %.4g; %.4g %.4g %.4g %.4g]",
		a[0][0], a[0][1], a[0][2], a[0][3], a[1][0], a[1][1], a[1][2], a[1][3], a[2][0], a[2][1], a[2][2], a[2][3])
}

// Grid is a voxel lattice in patient space.
type Grid struct {
	Dims   [3]int // nx (columns), ny (rows), nz (slices)
	Affine Affine
}

// Len returns the number of voxels.
func (g Grid) Len() int { return g.Dims[0] * g.Dims[1] * g.Dims[2] }

// Index returns the flat index of voxel (i, j, k).
func (g Grid) Index(i, j, k int) int { return (k*g.Dims[1]+j)*g.Dims[0] + i }

// Contains reports whether (i, j, k) lies inside the grid.
func (g Grid) Contains(i, j, k int) bool {
	return i >= 0 && j >= 0 && k >= 0 && i < g.Dims[0] && j < g.Dims[1] && k < g.Dims[2]
}

// Spacing returns the voxel size in mm along each axis.
func (g Grid) Spacing() Vec3 { return g.Affine.Spacing() }

// VoxelVolume returns the volume of one voxel in mm³.
func (g Grid) VoxelVolume() float64 { return math.Abs(g.Affine.Det()) }

// Near reports whether g and h have the same sizes and their affines agree
// within tol mm in every entry (DICOM decimal strings and NIfTI float32
// headers round positions, so exact equality is too strict).
func (g Grid) Near(h Grid, tol float64) bool {
	if g.Dims != h.Dims {
		return false
	}
	for r := range 3 {
		for c := range 4 {
			if math.Abs(g.Affine[r][c]-h.Affine[r][c]) > tol {
				return false
			}
		}
	}
	return true
}
