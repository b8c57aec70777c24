package runner

import (
	"fmt"

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
	"on the case's own bright-blood image and grid with the brain mask realcheck.ExtractBrain finds there; " +
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
	err error
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
		l.bg, l.m, l.err = caseMasks(l.c, l.in.VesselZone)
	}
	if l.err != nil {
		return nil, l.err
	}
	for _, i := range fps {
		f, _ := realcheck.Locate(lesions[i], l.c.Grid, geom.Identity, l.bg, l.m, realcheck.DefaultNegParams)
		out[f.Where]++
	}
	return out, nil
}

// caseMasks builds realcheck's masks on the case's bright-blood image: its
// brain mask from realcheck.ExtractBrain, and in place of the enhancement
// (z(post) − z(pre), which needs a pre-contrast image) the vessel zone.
func caseMasks(c *phantom.Case, vesselZone []bool) (*realcheck.Background, *realcheck.Masks, error) {
	img := &volume.Volume{Grid: c.Grid, Data: c.Bright}
	brain, err := realcheck.ExtractBrain(img)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: case %s: placing false positives: %w", c.ID, err)
	}
	bg := &realcheck.Background{Name: c.Params.Background, Source: "phantom case " + c.ID, Image: img, Brain: brain,
		BrainRule: "realcheck.ExtractBrain on the case's bright-blood image"}
	m, err := realcheck.MakeMasks(bg, realcheck.DefaultNegParams)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: case %s: placing false positives: %w", c.ID, err)
	}
	m.Enhancement = make([]float32, len(brain))
	for i, z := range vesselZone {
		if z {
			m.Enhancement[i] = float32(realcheck.DefaultNegParams.EnhanceZ)
		}
	}
	return bg, m, nil
}
