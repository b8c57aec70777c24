package detect

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"metsentry/firmware/geom"
	"metsentry/runtime/manifest"
)

// Params is the operating point: a voxel belongs to a lesion when its
// probability is at least Threshold, and a component is kept when its volume
// is at least MinComponentMM3.
type Params struct {
	Threshold       float64
	MinComponentMM3 float64
}

// ParamsFromManifest takes the operating point from a model manifest.
func ParamsFromManifest(o manifest.Output) Params {
	return Params{Threshold: o.Threshold, MinComponentMM3: o.MinComponentMM3}
}

// Lesion is one connected component of the thresholded probability map.
type Lesion struct {
	// Number is 1 for the largest lesion, 2 for the next and so on.
	Number int
	// Voxels are the flat indices on the model grid, ascending.
	Voxels []int
	// CentreLPS is the mean of the voxel centres in patient LPS mm.
	CentreLPS geom.Vec3
	// CentreVoxel is the same centre as a (fractional) model-grid index.
	CentreVoxel geom.Vec3
	// LongestDiameterMM is the largest distance between two voxel centres of
	// the component plus the width of one voxel along that line, so that a
	// run of n voxels of size s measures n·s (see longestDiameter).
	LongestDiameterMM float64
	// DiameterEnds are the two voxel centres (LPS mm) the diameter runs between.
	DiameterEnds [2]geom.Vec3
	VolumeMM3    float64
	MaxProb      float64
	MeanProb     float64
	// Min and Max bound the component on the model grid (inclusive voxel indices).
	Min, Max [3]int
	Location Location
}

// ErrGrid is returned when the probability map does not match its grid.
var ErrGrid = errors.New("detect: probability map does not match its grid")

// Find thresholds prob (one value per voxel of g, flat index (k*ny+j)*nx+i),
// labels 26-connected components and returns the lesions largest first. ref
// gives the head's extent for the location in words; a zero Reference uses
// the whole grid.
func Find(prob []float32, g geom.Grid, p Params, ref Reference) ([]Lesion, error) {
	if g.Dims[0] <= 0 || g.Dims[1] <= 0 || g.Dims[2] <= 0 {
		return nil, fmt.Errorf("%w: grid dimensions %v must all be positive", ErrGrid, g.Dims)
	}
	if len(prob) != g.Len() {
		return nil, fmt.Errorf("%w: %d values for a %v grid (expected %d)", ErrGrid, len(prob), g.Dims, g.Len())
	}
	if math.IsNaN(p.Threshold) || p.Threshold <= 0 || p.Threshold > 1 {
		return nil, fmt.Errorf("detect: threshold %v is out of range (expected 0 < threshold <= 1)", p.Threshold)
	}
	if p.MinComponentMM3 < 0 || math.IsNaN(p.MinComponentMM3) {
		return nil, fmt.Errorf("detect: minimum component volume %v mm³ is negative", p.MinComponentMM3)
	}
	if g.VoxelVolume() <= 0 {
		return nil, fmt.Errorf("%w: the grid affine %v is singular", ErrGrid, g.Affine)
	}
	if ref.IsZero() {
		ref = GridReference(g)
	}
	thr := float32(p.Threshold)
	comps := Components(g.Dims, func(i int) bool { return prob[i] >= thr })
	vv := g.VoxelVolume()
	var out []Lesion
	for _, c := range comps {
		vol := float64(len(c)) * vv
		if vol < p.MinComponentMM3 {
			continue
		}
		out = append(out, measure(c, prob, g, ref))
	}
	slices.SortFunc(out, func(a, b Lesion) int {
		if c := cmp.Compare(b.VolumeMM3, a.VolumeMM3); c != 0 {
			return c
		}
		if c := cmp.Compare(b.MaxProb, a.MaxProb); c != 0 {
			return c
		}
		return cmp.Compare(a.Voxels[0], b.Voxels[0])
	})
	for i := range out {
		out[i].Number = i + 1
	}
	return out, nil
}

func measure(c []int, prob []float32, g geom.Grid, ref Reference) Lesion {
	nx, ny := g.Dims[0], g.Dims[1]
	l := Lesion{Voxels: c, VolumeMM3: float64(len(c)) * g.VoxelVolume()}
	l.Min = [3]int{math.MaxInt, math.MaxInt, math.MaxInt}
	l.Max = [3]int{-1, -1, -1}
	var sum, sumP float64
	var ci geom.Vec3
	for _, idx := range c {
		ijk := [3]int{idx % nx, (idx / nx) % ny, idx / (nx * ny)}
		for a := 0; a < 3; a++ {
			l.Min[a] = min(l.Min[a], ijk[a])
			l.Max[a] = max(l.Max[a], ijk[a])
			ci[a] += float64(ijk[a])
		}
		pv := float64(prob[idx])
		sumP += pv
		l.MaxProb = max(l.MaxProb, pv)
		sum++
	}
	l.CentreVoxel = ci.Scale(1 / sum)
	l.CentreLPS = g.Affine.Apply(l.CentreVoxel)
	l.MeanProb = sumP / sum
	l.LongestDiameterMM, l.DiameterEnds = longestDiameter(c, g)
	l.Location = Locate(l.CentreLPS, ref)
	return l
}
