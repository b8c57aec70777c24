package phantom

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"metsentry/firmware/geom"
)

// Config sets the output grid and the case mix. The zero value of a field
// means its default.
type Config struct {
	// Dims is the output grid (columns, rows, axial slices); default
	// 256×256×180.
	Dims [3]int
	// Spacing is the isotropic voxel size in mm; default 1.
	Spacing float64
	// MaxLesions caps lesions per case; default 20.
	MaxLesions int
	// LesionFree is the fraction of cases without lesions; default 0.2,
	// negative for none.
	LesionFree float64
	// VesselDensity scales the number of cortical vessels; default 1.
	VesselDensity float64
	// GhostProb is the chance a case carries motion ghosting; default 0.2,
	// negative for never.
	GhostProb float64
	// Workers bounds the goroutines that render slices; default GOMAXPROCS.
	Workers int
}

func (c Config) withDefaults() Config {
	if c.Dims == [3]int{} {
		c.Dims = [3]int{256, 256, 180}
	}
	if c.Spacing == 0 {
		c.Spacing = 1
	}
	if c.MaxLesions == 0 {
		c.MaxLesions = 20
	}
	if c.LesionFree == 0 {
		c.LesionFree = 0.2
	}
	if c.VesselDensity == 0 {
		c.VesselDensity = 1
	}
	if c.GhostProb == 0 {
		c.GhostProb = 0.2
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	return c
}

// Case is one synthetic VISIBLE study: the two channels of one acquisition
// on one grid, and the truth.
type Case struct {
	ID      string
	Split   Split
	Seed    uint64
	Version string
	// Grid maps voxel (i, j, k) to patient LPS mm; axial slices, i along +x
	// (patient left), j along +y (posterior), k along +z (superior).
	Grid geom.Grid
	// Black and Bright are the black-blood and bright-blood images, x fastest,
	// white matter near 1000 before bias and noise.
	Black, Bright []float32
	// Labels holds each lesion's ID in its voxels, 0 elsewhere.
	Labels []uint16
	// VesselPV is each voxel's blood-vessel partial volume in PVSamples-ths:
	// how many of its 3×3×3 sub-samples the renderer drew from a vessel
	// (artery, vein, penetrating vessel or dural sinus) rather than from a
	// lesion, the choroid plexus or pituitary, or the anatomy. Voxels the
	// renderer does not supersample (no vessel or lesion edge within 0.87
	// voxel) count all or nothing from their centre. A lesion wins over a
	// vessel where both cover a sub-sample, as in the images. It is not part
	// of the images: motion ghosts of vessels are not in it.
	VesselPV []uint8
	// GlandPV is the same for the choroid plexus and the pituitary:
	// enhancing tissue, bright in both channels, not blood.
	GlandPV []uint8
	// Brain marks the voxels whose centre lies in the background's brain
	// mask (Colin27's ch2bet, a BraTS brain's own extent, or
	// realcheck.ExtractBrain on a real whole head), carried through the
	// case's transform: the truth a brain gate or a location rule is
	// measured against. Like the labels, it is not part of the images.
	Brain   []uint8
	Lesions []Lesion
	// Params records what was drawn for this subject.
	Params Params

	writers int // DICOM writer goroutines (the generator's Workers)
}

// Params are the per-subject draws, for the record and for debugging.
type Params struct {
	RotationDeg  [3]float64 `json:"rotation_deg"`
	Scale        [3]float64 `json:"scale"`
	ShiftMM      [3]float64 `json:"shift_mm"`
	SNR          float64    `json:"snr"`
	BiasPercent  float64    `json:"bias_percent"`
	Ghosting     float64    `json:"ghosting"`
	VesselXWM    float64    `json:"vessel_x_wm"`
	Segments     int        `json:"vessel_segments"`
	PatientSex   string     `json:"patient_sex"`
	PatientAgeYr int        `json:"patient_age_years"`
	// The fields below are drawn only on many backgrounds (VersionMulti).
	// Background is the real brain the case is drawn from; PostContrast
	// says it keeps its real enhancement (otherwise vessels, sinuses and
	// choroid plexus are simulated); Tumour says what was done with a
	// glioma. Gain scales both channels (the scanner's intensity range).
	Background   string  `json:"background,omitempty"`
	PostContrast bool    `json:"post_contrast,omitempty"`
	Tumour       string  `json:"tumour,omitempty"`
	Gain         float64 `json:"gain,omitempty"`
	// Black-blood suppression quality: Incomplete lifts every vessel's
	// black-blood signal this share of the way to its bright-blood signal;
	// BloodLevel is suppressed real blood's signal (× white matter);
	// SlowFlow is the share of penetrating vessels left partly bright;
	// LeakShare the share of real blood where suppression fails (smooth
	// regions: slow flow); RimMM a vessel's outer rim left partly bright
	// (partial volume).
	Incomplete float64 `json:"suppression_incomplete,omitempty"`
	// Orientation (axial, sagittal, oblique) and SpacingMM (column, row,
	// slice) of the case's grid.
	Orientation string     `json:"orientation,omitempty"`
	SpacingMM   [3]float64 `json:"spacing_xyz_mm,omitzero"`
	BloodLevel  float64    `json:"suppressed_blood_x_wm,omitempty"`
	SlowFlow    float64    `json:"slow_flow_share,omitempty"`
	LeakShare   float64    `json:"leak_share,omitempty"`
	RimMM       float64    `json:"bright_rim_mm,omitempty"`
}

// Generator makes cases on one loaded anatomy. It is safe for concurrent use.
type Generator struct {
	a        *Anatomy
	cfg      Config
	aalNames map[int]string
	// bg is set on a generator of a MultiGenerator (a real brain other
	// than the classic Colin27 set-up); nil for the classic generator.
	bg *background
}

// NewGenerator loads Colin27 from dir (see LoadAnatomy).
func NewGenerator(dir string, cfg Config) (*Generator, error) {
	a, err := LoadAnatomy(dir)
	if err != nil {
		return nil, err
	}
	g := &Generator{a: a, cfg: cfg.withDefaults(), aalNames: map[int]string{}}
	if b, err := os.ReadFile(filepath.Join(dir, "aal.nii.txt")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var idx, code int
			var name string
			if n, _ := fmt.Sscanf(line, "%d %s %d", &idx, &name, &code); n >= 2 {
				g.aalNames[idx] = name
			}
		}
	}
	if g.cfg.Dims[0] < 8 || g.cfg.Dims[1] < 8 || g.cfg.Dims[2] < 8 || g.cfg.Spacing <= 0 {
		return nil, fmt.Errorf("phantom: grid %v at %g mm is too small (want at least 8 voxels a side)", g.cfg.Dims, g.cfg.Spacing)
	}
	return g, nil
}

// Config returns the effective configuration.
func (g *Generator) Config() Config { return g.cfg }

// grid returns the output grid: axial, centred on the template brain centre.
func (g *Generator) grid() geom.Grid {
	c := g.cfg
	centre := g.a.centre()
	var origin geom.Vec3
	for d := 0; d < 3; d++ {
		origin[d] = centre[d] - c.Spacing*float64(c.Dims[d]-1)/2
	}
	// Keep the field of view a little above the brain centre so the whole
	// head fits when the cerebellum is included.
	origin[2] -= 6
	return geom.Grid{Dims: c.Dims, Affine: geom.FromDICOM(origin, geom.Vec3{1, 0, 0}, geom.Vec3{0, 1, 0}, [2]float64{c.Spacing, c.Spacing}, geom.Vec3{0, 0, c.Spacing})}
}

type enhancer struct {
	seg   segment
	black float64 // signal in the black-blood channel, × WM
	brite float64
	// gland marks enhancing tissue that is not blood (choroid plexus,
	// pituitary): it renders like a vessel but is kept out of VesselPV.
	gland bool
}

// Generate makes case (split, seed). The same pair always gives the same case.
func (g *Generator) Generate(seed uint64, split Split) (*Case, error) {
	if _, err := ParseSplit(string(split)); err != nil {
		return nil, err
	}
	cfg := g.cfg
	a := g.a
	salt, version := split.salt(), Version
	if g.bg != nil {
		salt, version = g.bg.salt(split), VersionMulti
	}
	rng := rand.New(rand.NewPCG(salt, seed))
	grid := g.grid()
	var orient string
	if g.bg != nil {
		grid, orient = g.drawGrid(rng)
	}
	lo := grid.Affine.Apply(geom.Vec3{})
	hi := grid.Affine.Apply(geom.Vec3{float64(grid.Dims[0] - 1), float64(grid.Dims[1] - 1), float64(grid.Dims[2] - 1)})
	outCentre := lo.Add(hi).Scale(0.5)
	if g.bg != nil {
		lo, hi = gridBox(grid)
	}
	x := newSubjectXform(rng, outCentre, a.centre().Add(geom.Vec3{0, 0, -6}), lo, hi, 15, 12, 2.0)

	c := &Case{ID: CaseID(split, seed), Split: split, Seed: seed, Version: version, Grid: grid, writers: cfg.Workers}
	p := &c.Params
	p.RotationDeg, p.Scale, p.ShiftMM = x.RotDeg, x.Scale, x.Shift
	p.SNR = 14 + 18*rng.Float64()
	p.BiasPercent = 8 + 12*rng.Float64()
	if cfg.GhostProb > 0 && rng.Float64() < cfg.GhostProb {
		p.Ghosting = 0.02 + 0.04*rng.Float64()
	}
	p.PatientSex = []string{"F", "M"}[rng.IntN(2)]
	p.PatientAgeYr = 35 + rng.IntN(50)
	var ms *multiDraws
	if g.bg != nil {
		ms = g.drawMulti(rng, p)
		p.Orientation = orient
		sp := grid.Spacing()
		p.SpacingMM = [3]float64{math.Round(sp[0]*1000) / 1000, math.Round(sp[1]*1000) / 1000, math.Round(sp[2]*1000) / 1000}
	}

	// Vessels in template space, then into the output; a real post-contrast
	// background has its own.
	var tplSegs []segment
	if g.bg == nil || !g.bg.post {
		tplSegs = growVessels(a, rng, cfg.VesselDensity)
	}
	shapes := g.placeLesions(rng, x, grid, tplSegs)
	emax := 0.0
	for _, l := range shapes {
		emax = math.Max(emax, l.enh)
	}
	vb := math.Max(2.0+1.0*rng.Float64(), emax+0.05+0.35*rng.Float64())
	p.VesselXWM = vb
	var enh []enhancer
	for _, s := range tplSegs {
		e := enhancer{seg: segment{A: x.fromTemplate(s.A), B: x.fromTemplate(s.B), RA: s.RA, RB: s.RB, kind: s.kind, slow: s.slow}}
		e.brite = vb * (0.9 + 0.1*rng.Float64())
		switch s.kind {
		case kindSinus:
			e.brite = vb * (0.85 + 0.15*rng.Float64())
			e.black = 0.3 + 0.5*rng.Float64() // residual signal in large veins
		case kindArtery:
			e.black = 0.04 + 0.1*rng.Float64()
		default:
			e.black = 0.08 + 0.17*rng.Float64()
		}
		slowShare := 0.08
		if ms != nil {
			slowShare = p.SlowFlow
		}
		if s.slow || (s.kind == kindPenetrating && rng.Float64() < slowShare) {
			e.black = 0.6 + 0.7*rng.Float64() // slow flow: partly bright
		}
		if ms != nil {
			e.black += p.Incomplete * (e.brite - e.black)
		}
		enh = append(enh, e)
	}
	// Enhancing tissue that is not blood: choroid plexus and pituitary,
	// bright in both channels (a real post-contrast background has its own).
	var glands []segment
	if g.bg == nil || !g.bg.post {
		glands = g.glands(rng)
	}
	for _, gl := range glands {
		e := enhancer{seg: segment{A: x.fromTemplate(gl.A), B: x.fromTemplate(gl.B), RA: gl.RA, RB: gl.RB, kind: kindSinus}, gland: true}
		e.brite = 1.5 + 0.6*rng.Float64()
		e.black = e.brite * (0.8 + 0.15*rng.Float64())
		enh = append(enh, e)
	}
	p.Segments = len(enh)
	segs := make([]segment, len(enh))
	for i := range enh {
		segs[i] = enh[i].seg
	}
	_, spMax := g.spacings(grid)
	ix := newSegIndex(segs, lo.Sub(geom.Vec3{5, 5, 5}), hi.Add(geom.Vec3{5, 5, 5}), 4, spMax)

	r := &renderer{g: g, c: c, x: x, enh: enh, ix: ix, shapes: shapes, rng: rng, ms: ms, spacing: spMax}
	r.drawContrast()
	if err := r.render(salt ^ seed*0x9e3779b97f4a7c15); err != nil {
		return nil, err
	}
	if ms != nil {
		for i := range c.Bright {
			c.Bright[i] *= float32(p.Gain)
			c.Black[i] *= float32(p.Gain)
		}
	}
	c.Lesions = r.lesionList()
	return c, nil
}

// glands returns choroid plexus glomera and the pituitary in template space.
func (g *Generator) glands(rng *rand.Rand) []segment {
	a := g.a
	c := a.centre()
	var out []segment
	for _, side := range []float64{-1, 1} {
		want := c.Add(geom.Vec3{side * 26, 22, 2})
		best, bd := geom.Vec3{}, math.Inf(1)
		for dz := -10.0; dz <= 10; dz += 2 {
			for dy := -12.0; dy <= 12; dy += 2 {
				for dx := -8.0; dx <= 8; dx += 2 {
					q := want.Add(geom.Vec3{dx, dy, dz})
					if a.classAt(q) == tissueCSF && a.sdAt(q) > 8 {
						if d := q.Sub(want).Norm(); d < bd {
							best, bd = q, d
						}
					}
				}
			}
		}
		if bd < math.Inf(1) {
			r := 2.2 + 1.3*rng.Float64()
			dir := randUnit(rng).Scale(2 + 2*rng.Float64())
			out = append(out, segment{A: best.Sub(dir), B: best.Add(dir), RA: r, RB: r * 0.8})
		}
	}
	pit := c.Add(geom.Vec3{0, -15, -45})
	out = append(out, segment{A: pit.Add(geom.Vec3{-3, 0, 0}), B: pit.Add(geom.Vec3{3, 0, 0}), RA: 3, RB: 3})
	return out
}

// placeLesions draws the case's metastases.
func (g *Generator) placeLesions(rng *rand.Rand, x subjectXform, grid geom.Grid, vessels []segment) []*lesionShape {
	cfg := g.cfg
	if rng.Float64() < cfg.LesionFree {
		return nil
	}
	n := 1 + int(-math.Log(1-rng.Float64())*3.5)
	n = min(n, cfg.MaxLesions)
	inv, _ := grid.Affine.Inverse()
	spc, _ := g.spacings(grid)
	var shapes []*lesionShape
	large := 0
	for len(shapes) < n {
		placed := false
		D := drawDiameter(rng, &large)
		R := D / 2
		kind := drawSiteKind(rng)
		for try := 0; try < 400 && !placed; try++ {
			if try == 300 {
				kind = "parenchyma" // the chosen site has no room left
			}
			site, q, ok := g.drawSite(rng, kind, R, vessels)
			if !ok {
				continue
			}
			cOut := x.fromTemplate(q)
			v := inv.Apply(cOut)
			if D < 4 { // small: centre on a voxel so it always owns one
				for d := 0; d < 3; d++ {
					v[d] = math.Round(v[d])
				}
				cOut = grid.Affine.Apply(v)
			}
			margin := (R + 3) / spc
			inFOV := true
			for d := 0; d < 3; d++ {
				if v[d] < margin || v[d] > float64(grid.Dims[d]-1)-margin {
					inFOV = false
				}
			}
			if !inFOV {
				continue
			}
			sp := makeShape(rng, cOut, D)
			clash := false
			for _, o := range shapes {
				for _, s1 := range sp {
					for _, s2 := range o.spheres {
						if s1.c.Sub(s2.c).Norm() < s1.r+s2.r+3+2*spc {
							clash = true
						}
					}
				}
			}
			if clash {
				continue
			}
			l := &lesionShape{id: len(shapes) + 1, spheres: sp, kind: KindSolid, enh: 1.3 + 1.2*rng.Float64()}
			l.phase = [3]float64{rng.Float64() * 6.3, rng.Float64() * 6.3, rng.Float64() * 6.3}
			if D >= 8 && rng.Float64() < 0.35 {
				l.kind = KindRing
				l.rim = 1 + 0.12*R*rng.Float64() + 0.8*rng.Float64()
			} else if D >= 14 && rng.Float64() < 0.4 {
				l.kind = KindNecrotic
				l.rim = 0.25*R + 1.5*rng.Float64()
			}
			l.core = 0.35 + 0.3*rng.Float64()
			if D >= 8 {
				l.edema = R * (0.5 + 1.2*rng.Float64())
			}
			ext := R + l.edema + 2*spc + D
			l.lo = cOut.Sub(geom.Vec3{ext, ext, ext})
			l.hi = cOut.Add(geom.Vec3{ext, ext, ext})
			shapes = append(shapes, l)
			l.site = site
			placed = true
		}
		if !placed {
			break // the brain is full: keep what fits
		}
	}
	return shapes
}

// drawSite picks a lesion centre in template space: grey-white junction (most
// often), cerebellum, anywhere in parenchyma, or touching a vessel.
// drawSiteKind picks where a lesion goes. It is drawn once per lesion, and
// only the position is retried, so sites that are harder to satisfy keep
// their share.
func drawSiteKind(rng *rand.Rand) string {
	u := rng.Float64()
	switch {
	case u < 0.5:
		return "junction"
	case u < 0.72:
		return "cerebellum"
	case u < 0.87:
		return "vessel"
	}
	return "parenchyma"
}

func (g *Generator) drawSite(rng *rand.Rand, site string, R float64, vessels []segment) (string, geom.Vec3, bool) {
	a := g.a
	var q geom.Vec3
	if site == "vessel" && len(vessels) == 0 && g.bg != nil {
		// a real post-contrast background: touch its real blood
		pts := g.bg.bloodPts
		if len(pts) == 0 {
			return "", q, false
		}
		q = pts[rng.IntN(len(pts))].Add(randUnit(rng).Scale(R + 1.5))
	} else if site == "vessel" {
		var s *segment
		for try := 0; try < 50; try++ {
			cand := &vessels[rng.IntN(len(vessels))]
			if cand.kind != kindSinus && a.sdAt(cand.A) > 1 {
				s = cand
				break
			}
		}
		if s == nil {
			return "", q, false
		}
		axis := s.B.Sub(s.A)
		if axis.Norm() < 1e-6 {
			return "", q, false
		}
		axis = axis.Scale(1 / axis.Norm())
		perp := axis.Cross(randUnit(rng))
		if perp.Norm() < 1e-6 {
			return "", q, false
		}
		perp = perp.Scale(1 / perp.Norm())
		q = s.A.Add(perp.Scale(R + s.RA + 0.2))
	} else {
		v := geom.Vec3{}
		for d := 0; d < 3; d++ {
			v[d] = float64(a.bbox[0][d]) + rng.Float64()*float64(a.bbox[1][d]-a.bbox[0][d])
		}
		q = a.ToLPS.Apply(v)
	}
	idx := a.voxel(q)
	if idx < 0 {
		return "", q, false
	}
	cls, lab := a.class[idx], a.aal[idx]
	sd := a.sdAt(q)
	if cls == tissueCSF || cls == tissueNone || sd < math.Max(1.5, 0.6*R) {
		return "", q, false
	}
	switch site {
	case "junction":
		if cls != tissueWM || !g.nearClass(q, tissueGM, 2) || lab >= firstCerebellumLabel {
			return "", q, false
		}
	case "cerebellum":
		if lab < firstCerebellumLabel {
			return "", q, false
		}
	}
	return site, q, true
}

// regionAt names the AAL region at q; AAL labels grey matter only, so in
// white matter it names the nearest labelled region within 8 mm.
func (g *Generator) regionAt(q geom.Vec3) string {
	if l := g.a.aalAt(q); l != 0 {
		return g.aalNames[int(l)]
	}
	best, bd := uint8(0), math.Inf(1)
	for dz := -8.0; dz <= 8; dz += 2 {
		for dy := -8.0; dy <= 8; dy += 2 {
			for dx := -8.0; dx <= 8; dx += 2 {
				d := dx*dx + dy*dy + dz*dz
				if d >= bd || d > 64 {
					continue
				}
				if l := g.a.aalAt(q.Add(geom.Vec3{dx, dy, dz})); l != 0 {
					best, bd = l, d
				}
			}
		}
	}
	if best == 0 || g.aalNames[int(best)] == "" {
		return ""
	}
	return "white matter near " + g.aalNames[int(best)]
}

// nearClass says whether a voxel of class c lies within r mm of q.
func (g *Generator) nearClass(q geom.Vec3, c uint8, r float64) bool {
	for dz := -r; dz <= r; dz++ {
		for dy := -r; dy <= r; dy++ {
			for dx := -r; dx <= r; dx++ {
				if g.a.classAt(q.Add(geom.Vec3{dx, dy, dz})) == c {
					return true
				}
			}
		}
	}
	return false
}
