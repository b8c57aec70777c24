package volume

import (
	"math"
	"testing"

	"metsentry/firmware/geom"
	"metsentry/runtime/manifest"
)

// TestMappingExact puts a linear function of patient position on the model
// grid and samples it back on the source grid: trilinear interpolation
// reproduces a linear function exactly, so every source voxel must read its
// own patient coordinate. No discretisation hides an error here.
func TestMappingExact(t *testing.T) {
	for _, tc := range []struct {
		name string
		vol  func(*testing.T) *Volume
	}{
		{"philips sagittal", philips},
		{"ge oblique", geOblique},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.vol(t)
			mi, err := Prepare(nil, src, testManifestAt([]string{manifest.ChannelBright}, manifest.Normalisation{Method: manifest.NormZScoreMask}, 2))
			if err != nil {
				t.Fatal(err)
			}
			g := mi.Grid
			for axis := 0; axis < 3; axis++ {
				f := make([]float32, g.Len())
				for k := 0; k < g.Dims[2]; k++ {
					for j := 0; j < g.Dims[1]; j++ {
						for i := 0; i < g.Dims[0]; i++ {
							f[g.Index(i, j, k)] = float32(mi.VoxelToPatient(geom.Vec3{float64(i), float64(j), float64(k)})[axis])
						}
					}
				}
				s := sampler{data: f, nx: g.Dims[0], ny: g.Dims[1], nz: g.Dims[2]}
				sg := src.Grid
				worst := 0.0
				inv, _ := g.Affine.Inverse()
				for k := 0; k < sg.Dims[2]; k += 5 {
					for j := 0; j < sg.Dims[1]; j += 5 {
						for i := 0; i < sg.Dims[0]; i += 5 {
							p := sg.Affine.Apply(geom.Vec3{float64(i), float64(j), float64(k)})
							m := inv.Apply(p)
							if m[0] < 1 || m[1] < 1 || m[2] < 1 || m[0] > float64(g.Dims[0]-2) || m[1] > float64(g.Dims[1]-2) || m[2] > float64(g.Dims[2]-2) {
								continue
							}
							v, _ := s.at(m[0], m[1], m[2])
							worst = math.Max(worst, math.Abs(float64(v)-p[axis]))
						}
					}
				}
				if worst > 0.01 {
					t.Fatalf("axis %d: a source voxel reads a patient coordinate %.4f mm from its own", axis, worst)
				}
			}
		})
	}
}
