package score

import (
	"fmt"
	"math"
)

// VesselRule is how a false positive is called "on a vessel" (or on the
// choroid plexus or pituitary): one of its voxels lies on a voxel of the
// structure or within ReachMM of one, centre to centre. On a 1 mm grid with
// ReachMM 1 that is the component's voxels and their six face neighbours.
// The structure's voxels are those the phantom drew at least MinFraction
// vessel into (partial volume).
type VesselRule struct {
	MinFraction float64 `json:"min_fraction"`
	ReachMM     float64 `json:"reach_mm"`
}

// DefaultVesselRule: a voxel at least a quarter vessel (where a vessel 2–3×
// as bright as white matter lifts the bright-blood signal by a third or
// more: visible, and lesion-like), reached within 1 mm.
var DefaultVesselRule = VesselRule{MinFraction: 0.25, ReachMM: 1}

// String describes the rule for reports.
func (r VesselRule) String() string {
	return fmt.Sprintf("a false-positive component is on a vessel when one of its voxels lies within %g mm (centre to centre) of a voxel that is at least %g%% blood vessel (arteries, veins, penetrating vessels, dural sinuses; phantom partial volume); choroid plexus and pituitary are counted apart by the same rule and are not vessels", r.ReachMM, 100*r.MinFraction)
}

// Zone returns the voxels on or within reachMM of a voxel of mask (dims,
// voxel sizes spacing in mm): the set a component must overlap to count as on
// the structure. reachMM 0 returns a copy of mask.
func Zone(mask []bool, dims [3]int, spacing [3]float64, reachMM float64) ([]bool, error) {
	n := dims[0] * dims[1] * dims[2]
	if dims[0] <= 0 || dims[1] <= 0 || dims[2] <= 0 || len(mask) != n {
		return nil, fmt.Errorf("%w: mask of %d voxels for dims %v", ErrInput, len(mask), dims)
	}
	if !(reachMM >= 0) || math.IsInf(reachMM, 0) || !(spacing[0] > 0 && spacing[1] > 0 && spacing[2] > 0) {
		return nil, fmt.Errorf("%w: reach %g mm with voxel size %v (want a finite reach ≥ 0 and positive sizes)", ErrInput, reachMM, spacing)
	}
	var offs [][3]int
	var ext [3]int
	for d := 0; d < 3; d++ {
		ext[d] = int(math.Floor(reachMM/spacing[d] + 1e-9))
	}
	r2 := reachMM*reachMM + 1e-9
	for dz := -ext[2]; dz <= ext[2]; dz++ {
		for dy := -ext[1]; dy <= ext[1]; dy++ {
			for dx := -ext[0]; dx <= ext[0]; dx++ {
				x, y, z := float64(dx)*spacing[0], float64(dy)*spacing[1], float64(dz)*spacing[2]
				if x*x+y*y+z*z <= r2 {
					offs = append(offs, [3]int{dx, dy, dz})
				}
			}
		}
	}
	nx, ny, nz := dims[0], dims[1], dims[2]
	out := make([]bool, n)
	for idx, m := range mask {
		if !m {
			continue
		}
		i, j, k := idx%nx, (idx/nx)%ny, idx/(nx*ny)
		for _, o := range offs {
			x, y, z := i+o[0], j+o[1], k+o[2]
			if x < 0 || y < 0 || z < 0 || x >= nx || y >= ny || z >= nz {
				continue
			}
			out[x+nx*(y+ny*z)] = true
		}
	}
	return out, nil
}

// hits says whether any voxel of comp lies in zone.
func hits(comp []int, zone []bool) bool {
	for _, idx := range comp {
		if zone[idx] {
			return true
		}
	}
	return false
}
