package phantom

import "fmt"

// PVSamples is the denominator of Case.VesselPV and Case.GlandPV: the
// renderer's 3×3×3 sub-samples per voxel.
const PVSamples = 27

// VesselHalf is the vessel mask's default level: a voxel is a vessel voxel
// when at least half of it is vessel (14 of 27 sub-samples).
const VesselHalf = 0.5

// VesselMask returns the voxels whose blood-vessel partial volume is at
// least minFraction (in (0, 1]); VesselHalf gives the voxels that are mostly
// vessel. Choroid plexus and pituitary are not in it (see GlandMask).
func (c *Case) VesselMask(minFraction float64) ([]bool, error) {
	return pvMask(c.VesselPV, minFraction)
}

// GlandMask is VesselMask for the choroid plexus and the pituitary.
func (c *Case) GlandMask(minFraction float64) ([]bool, error) {
	return pvMask(c.GlandPV, minFraction)
}

// PVCount is the smallest sub-sample count whose fraction of PVSamples is
// at least minFraction.
func PVCount(minFraction float64) (uint8, error) {
	if !(minFraction > 0 && minFraction <= 1) {
		return 0, fmt.Errorf("phantom: partial-volume level %g (want a fraction in (0, 1])", minFraction)
	}
	for n := 1; n <= PVSamples; n++ {
		if float64(n) >= minFraction*PVSamples-1e-9 {
			return uint8(n), nil
		}
	}
	return PVSamples, nil
}

func pvMask(pv []uint8, minFraction float64) ([]bool, error) {
	n, err := PVCount(minFraction)
	if err != nil {
		return nil, err
	}
	if pv == nil {
		return nil, fmt.Errorf("phantom: the case has no partial-volume map (not made by Generate)")
	}
	m := make([]bool, len(pv))
	for i, v := range pv {
		m[i] = v >= n
	}
	return m, nil
}
