package runner

import (
	"fmt"
	"math"

	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
	"metsentry/firmware/volume"
	"metsentry/tools/evaluate/score"
	"metsentry/tools/phantom/phantom"
	"metsentry/tools/realcheck/realcheck"
)

// LocationRule says how a case's false positives on a real brain are
// placed (Report.LocationRule).
const LocationRule = "tools/realcheck's location rule (realcheck.Locate, the first class that fits: " +
	"half its voxels outside the brain mask and low → skull base, else outside the brain; " +
	"half outside or within 3 mm of the brain's edge → dura / brain edge; " +
	"a third within 3 mm of the ventricles → choroid plexus zone; " +
	"a third in the phantom's vessel zone → enhancing vessel / sinus; " +
	"a third bright (robust z ≥ 2 in the brain) → bright, not enhancing; else other parenchyma), " +
	"on the case's own bright-blood image resampled to 1 mm with the brain mask realcheck.ExtractBrain finds there; " +
	"the phantom's vessel zone stands in for realcheck's enhancement (a case has no pre-contrast image)"

// locator places the false positives of one case on a real brain with
// tools/realcheck's location rule. Its masks are built on first need (a
// case without false positives costs nothing) and shared by the VISIBLE
// and bright-only runs of the case.
type locator struct {
	c   *phantom.Case
	in  score.Input
	bg  *realcheck.Background
	m   *realcheck.Masks
	to  geom.Affine // case voxels to the masks' voxels
	err error
	// told: the failure to build the masks was said (placeFPs)
	told bool
}

// place counts the false positives among lesions by location. It returns
// nil and the error when the case's masks cannot be built (the brain mask
// not found, say): its false positives are then not placed.
func (l *locator) place(lesions []detect.Lesion) (map[string]int, error) {
	comps := make([][]int, len(lesions))
	for i, les := range lesions {
		comps[i] = les.Voxels
	}
	fps, err := score.FalsePositives(l.in, comps)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(realcheck.Locations))
	for _, w := range realcheck.Locations {
		out[w] = 0 // every class, so a case without false positives reads as placed
	}
	if len(fps) == 0 {
		return out, nil
	}
	if l.m == nil && l.err == nil {
		l.bg, l.m, l.to, l.err = caseMasks(l.c, l.in.VesselZone)
	}
	if l.err != nil {
		return nil, l.err
	}
	for _, i := range fps {
		f, _ := realcheck.Locate(lesions[i], l.c.Grid, l.to, l.bg, l.m, realcheck.DefaultNegParams)
		out[f.Where]++
	}
	return out, nil
}

// caseMasks builds realcheck's masks on the case's bright-blood image
// resampled to 1 mm (ExtractBrain's rule is in mm, but on the phantom's
// anisotropic grids, 0.5 to 1.2 mm a side, it often finds no brain; at
// 1 mm it finds one in most cases): its brain mask from
// realcheck.ExtractBrain, and in place of the enhancement (z(post) −
// z(pre), which needs a pre-contrast image) the vessel zone. The returned
// affine maps case voxels to the masks' voxels.
func caseMasks(c *phantom.Case, vesselZone []bool) (*realcheck.Background, *realcheck.Masks, geom.Affine, error) {
	iso, toIso := isoGrid(c.Grid)
	img := &volume.Volume{Grid: iso, Data: nearestOnto(c.Bright, c.Grid, iso)}
	brain, err := realcheck.ExtractBrain(img)
	if err != nil {
		return nil, nil, toIso, fmt.Errorf("evaluate: case %s: placing false positives: %w", c.ID, err)
	}
	bg := &realcheck.Background{Name: c.Params.Background, Source: "phantom case " + c.ID, Image: img, Brain: brain,
		BrainRule: "realcheck.ExtractBrain on the case's bright-blood image at 1 mm"}
	m, err := realcheck.MakeMasks(bg, realcheck.DefaultNegParams)
	if err != nil {
		return nil, nil, toIso, fmt.Errorf("evaluate: case %s: placing false positives: %w", c.ID, err)
	}
	zone := make([]float32, len(vesselZone))
	for i, z := range vesselZone {
		if z {
			zone[i] = float32(realcheck.DefaultNegParams.EnhanceZ)
		}
	}
	m.Enhancement = nearestOnto(zone, c.Grid, iso)
	return bg, m, toIso, nil
}

// isoGrid is a 1 mm grid with g's origin and axes over g's extent, and the
// affine from g's voxels to its voxels.
func isoGrid(g geom.Grid) (geom.Grid, geom.Affine) {
	sp := g.Spacing()
	var iso geom.Grid
	var to geom.Affine
	for a := range 3 {
		iso.Dims[a] = max(1, int(float64(g.Dims[a]-1)*sp[a])+1)
		to[a][a] = sp[a]
		for r := range 3 {
			iso.Affine[r][a] = g.Affine[r][a] / sp[a]
		}
	}
	for r := range 3 {
		iso.Affine[r][3] = g.Affine[r][3]
	}
	return iso, to
}

// nearestOnto samples data (on src) at every voxel of dst, nearest
// neighbour; dst shares src's origin and axes (isoGrid).
func nearestOnto(data []float32, src, dst geom.Grid) []float32 {
	sp, dp := src.Spacing(), dst.Spacing()
	out := make([]float32, dst.Len())
	var idx [3][]int
	for a := range 3 {
		idx[a] = make([]int, dst.Dims[a])
		for i := range idx[a] {
			idx[a][i] = min(src.Dims[a]-1, int(math.Round(float64(i)*dp[a]/sp[a])))
		}
	}
	for k := range dst.Dims[2] {
		for j := range dst.Dims[1] {
			for i := range dst.Dims[0] {
				out[dst.Index(i, j, k)] = data[src.Index(idx[0][i], idx[1][j], idx[2][k])]
			}
		}
	}
	return out
}
