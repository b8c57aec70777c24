package detect

import (
	"math"
	"slices"

	"metsentry/firmware/geom"
)

// Hemisphere values.
const (
	Left    = "left"
	Right   = "right"
	Midline = "midline"
)

// Region values.
const (
	Frontal    = "frontal lobe"
	Parietal   = "parietal lobe"
	Temporal   = "temporal lobe"
	Occipital  = "occipital lobe"
	Cerebellum = "cerebellum"
	Brainstem  = "brainstem"
)

// Location is a lesion's position in words.
type Location struct {
	Hemisphere string // Left, Right or Midline
	Region     string // one of the Region values
}

// String reads like "left frontal lobe", "right cerebellum" or "brainstem".
func (l Location) String() string {
	if l.Region == Brainstem || l.Hemisphere == "" {
		return l.Region
	}
	return l.Hemisphere + " " + l.Region
}

// Reference is the box the location in words is measured against: the
// intracranial extent in patient LPS mm and the x of the head's midline.
type Reference struct {
	Min, Max geom.Vec3
	MidlineX float64
}

// IsZero reports whether r is unset.
func (r Reference) IsZero() bool { return r == Reference{} }

// midlineBandMM is the half-width of the band around the midline within which
// a lesion is called "midline" rather than left or right.
const midlineBandMM = 3.0

// brainHeightMM is how far below the top of the head the brain (with the
// cerebellum) reaches at most; it trims the neck from a full-head box.
const brainHeightMM = 130.0

// GridReference is the Reference of a whole grid: its LPS bounding box with
// the midline at its centre. It is the fallback when no head extent is known,
// and is only as good as the grid is centred on the head.
func GridReference(g geom.Grid) Reference {
	lo := geom.Vec3{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := geom.Vec3{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for _, c := range [8][3]int{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {1, 1, 0}, {0, 0, 1}, {1, 0, 1}, {0, 1, 1}, {1, 1, 1}} {
		p := g.Affine.Apply(geom.Vec3{float64(c[0] * (g.Dims[0] - 1)), float64(c[1] * (g.Dims[1] - 1)), float64(c[2] * (g.Dims[2] - 1))})
		for a := 0; a < 3; a++ {
			lo[a] = min(lo[a], p[a])
			hi[a] = max(hi[a], p[a])
		}
	}
	return Reference{Min: lo, Max: hi, MidlineX: (lo[0] + hi[0]) / 2}
}

// ReferenceFromImage estimates the head's extent from an image on grid g: the
// LPS bounding box of the voxels brighter than a fifth of the 99th intensity
// percentile (the head, air excluded), with the midline at the box's centre
// in x and the bottom raised to at most brainHeightMM below the top, so that
// a scan that includes the neck does not stretch the box. It assumes the head
// is roughly aligned with the patient axes (as it is on the scanner table);
// a tilted head shifts the words, not the measurements. ok is false when the
// image has no bright voxels.
func ReferenceFromImage(img []float32, g geom.Grid) (Reference, bool) {
	if len(img) != g.Len() || len(img) == 0 {
		return Reference{}, false
	}
	step := max(1, len(img)/200000)
	var sample []float32
	for i := 0; i < len(img); i += step {
		sample = append(sample, img[i])
	}
	slices.Sort(sample)
	thr := 0.2 * sample[len(sample)*99/100]
	if !(thr > 0) {
		return Reference{}, false
	}
	lo := geom.Vec3{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := geom.Vec3{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	nx, ny := g.Dims[0], g.Dims[1]
	found := false
	for idx, v := range img {
		if v <= thr {
			continue
		}
		found = true
		p := g.Affine.Apply(geom.Vec3{float64(idx % nx), float64((idx / nx) % ny), float64(idx / (nx * ny))})
		for a := 0; a < 3; a++ {
			lo[a] = min(lo[a], p[a])
			hi[a] = max(hi[a], p[a])
		}
	}
	if !found {
		return Reference{}, false
	}
	lo[2] = max(lo[2], hi[2]-brainHeightMM)
	return Reference{Min: lo, Max: hi, MidlineX: (lo[0] + hi[0]) / 2}, true
}

// Locate describes a point in words. It is a coarse proportional grid, in
// the spirit of Talairach's proportional system, not an atlas look-up (an
// atlas such as AAL would need a registration step that the appliance does
// not run):
//
//   - hemisphere from patient x against the reference midline: within ±3 mm
//     "midline", greater x (LPS x grows to the patient's left) "left",
//     smaller "right";
//   - region from the point's fractions of the reference box front to back
//     (a: 0 anterior, 1 posterior) and bottom to top (s: 0 inferior,
//     1 superior): in the lowest 35%, within 15 mm of the midline and
//     between 45% and 65% front to back brainstem; else in the lowest 35%
//     and the back 40% cerebellum;
//     in the lowest 45%, between 30% and 70% front to back and lateral
//     temporal lobe; the back 22% occipital lobe; the front 45% frontal lobe;
//     the rest parietal lobe.
//
// The words are a reading aid for the report, never a diagnosis; the
// coordinates are what is measured.
func Locate(p geom.Vec3, r Reference) Location {
	var loc Location
	dx := p[0] - r.MidlineX
	switch {
	case math.Abs(dx) <= midlineBandMM:
		loc.Hemisphere = Midline
	case dx > 0:
		loc.Hemisphere = Left
	default:
		loc.Hemisphere = Right
	}
	frac := func(a int) float64 {
		d := r.Max[a] - r.Min[a]
		if d <= 0 {
			return 0.5
		}
		return min(1, max(0, (p[a]-r.Min[a])/d))
	}
	a, s := frac(1), frac(2)
	halfWidth := (r.Max[0] - r.Min[0]) / 2
	switch {
	case s < 0.35 && math.Abs(dx) <= 15 && a >= 0.45 && a < 0.65:
		loc.Region = Brainstem
	case s < 0.35 && a >= 0.6:
		loc.Region = Cerebellum
	case s < 0.45 && a >= 0.3 && a < 0.7 && math.Abs(dx) > 0.35*halfWidth:
		loc.Region = Temporal
	case a >= 0.78:
		loc.Region = Occipital
	case a < 0.45:
		loc.Region = Frontal
	default:
		loc.Region = Parietal
	}
	return loc
}
