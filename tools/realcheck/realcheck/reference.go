package realcheck

import (
	"fmt"

	"metsentry/firmware/geom"
)

// RefParams are the thresholds of the reference region. The zero value is
// not usable; start from DefaultRefParams.
type RefParams struct {
	// EnhanceZ: a voxel enhances when z(t1c) − z(t1n) is at least EnhanceZ
	// (robust z-scores inside the brain, see Reference).
	EnhanceZ float64
	// FlairZ: a voxel is FLAIR-hyperintense when z(t2f) is at least FlairZ.
	FlairZ float64
	// CloseMM is the radius of the morphological closing (dilate, then
	// erode) of the whole-tumour region: it fills the necrotic core and the
	// enhancing rim, which are often not FLAIR-hyperintense themselves.
	CloseMM float64
	// FlairMarginMM widens the closed whole-tumour region before the
	// enhancing voxels are looked for in it: an enhancing rim can sit on the
	// edge of the oedema.
	FlairMarginMM float64
	// LinkMM joins enhancing voxels this close into one component, so a
	// thin, broken enhancing rim counts as one region.
	LinkMM float64
	// BrightZ: a detected voxel lies on a bright structure when z(t1c) is at
	// least BrightZ.
	BrightZ float64
	// EdgeMM: a detected voxel lies at the brain's edge when it is within
	// EdgeMM of a voxel outside the brain mask.
	EdgeMM float64
}

// DefaultRefParams are the thresholds the report uses.
var DefaultRefParams = RefParams{EnhanceZ: 3, FlairZ: 2, CloseMM: 5, FlairMarginMM: 2, LinkMM: 1, BrightZ: 2, EdgeMM: 3}

// Reference is the tumour reference region, defined without labels.
//
// Method (all on the study's grid):
//  1. brain = voxels above 0 in t1c, t1n and t2f (BraTS images are
//     skull-stripped: outside the brain is exactly 0);
//  2. each image is turned into a robust z-score inside the brain:
//     (value − median) / (interquartile range / 1.349), so the three
//     differently scaled images become comparable and a big tumour does not
//     shift the centre;
//  3. enhancement = z(t1c) − z(t1n): what contrast added;
//  4. FLAIR-hyperintense = z(t2f) ≥ FlairZ, its largest 26-connected
//     component is the whole-tumour region (oedema and core) — this is
//     what keeps normal enhancing structures (vessels, dura, choroid
//     plexus), which are not FLAIR-hyperintense, out;
//  5. the reference region is the largest 26-connected component of the
//     voxels with enhancement ≥ EnhanceZ inside the whole-tumour region
//     widened by FlairMarginMM: the enhancing tumour.
type Reference struct {
	Params RefParams
	Grid   geom.Grid
	// Brain, Whole, Envelope and Enhancing are masks on Grid: the brain,
	// the whole-tumour (FLAIR) region, that region closed, and the
	// enhancing reference region.
	Brain, Whole, Envelope, Enhancing []uint8
	// Edge marks brain voxels within EdgeMM of the outside.
	Edge []uint8
	// ZT1c is z(t1c); Enhancement is z(t1c) − z(t1n) (0 outside the brain).
	ZT1c, Enhancement []float32
	// EnhancingVoxels and WholeVoxels count the two regions.
	EnhancingVoxels, WholeVoxels int
}

// FindReference builds the reference region of s with p.
func FindReference(s *Study, p RefParams) (*Reference, error) {
	return findReference(s.Grid(), s.T1c.Data, s.T1n.Data, s.T2f.Data, p)
}

func findReference(g geom.Grid, t1c, t1n, t2f []float32, p RefParams) (*Reference, error) {
	n := g.Len()
	if len(t1c) != n || len(t1n) != n || len(t2f) != n {
		return nil, fmt.Errorf("realcheck: images of %d, %d and %d voxels on a %v grid (expected %d each)", len(t1c), len(t1n), len(t2f), g.Dims, n)
	}
	r := &Reference{Params: p, Grid: g, Brain: make([]uint8, n)}
	for i := range n {
		if t1c[i] > 0 && t1n[i] > 0 && t2f[i] > 0 {
			r.Brain[i] = 1
		}
	}
	zc, _, _, ok1 := robustZ(t1c, r.Brain)
	zn, _, _, ok2 := robustZ(t1n, r.Brain)
	zf, _, _, ok3 := robustZ(t2f, r.Brain)
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("realcheck: no brain to measure: the images are empty or constant where all three are above 0 (a skull-stripped, co-registered t1c, t1n and t2f are expected)")
	}
	r.ZT1c = zc
	r.Enhancement = make([]float32, n)
	flair := make([]uint8, n)
	for i := range n {
		if r.Brain[i] == 0 {
			continue
		}
		r.Enhancement[i] = zc[i] - zn[i]
		if float64(zf[i]) >= p.FlairZ {
			flair[i] = 1
		}
	}
	r.Whole = make([]uint8, n)
	if cs := components(flair, g.Dims); len(cs) > 0 {
		for _, v := range cs[0] {
			r.Whole[v] = 1
		}
		r.WholeVoxels = len(cs[0])
	}
	cr := radiusVoxels(g, p.CloseMM)
	r.Envelope = boxFilter(boxFilter(r.Whole, g.Dims, cr, true), g.Dims, cr, false)
	for i := range n {
		r.Envelope[i] |= r.Whole[i]
	}
	near := boxFilter(r.Envelope, g.Dims, radiusVoxels(g, p.FlairMarginMM), true)
	enh := make([]uint8, n)
	for i := range n {
		if near[i] != 0 && r.Brain[i] != 0 && float64(r.Enhancement[i]) >= p.EnhanceZ {
			enh[i] = 1
		}
	}
	r.Enhancing = make([]uint8, n)
	// Components of the enhancing voxels widened by LinkMM; the region is
	// the enhancing voxels of the one holding most of them.
	link := boxFilter(enh, g.Dims, radiusVoxels(g, p.LinkMM), true)
	best, bestN := -1, 0
	cs := components(link, g.Dims)
	for c, vs := range cs {
		k := 0
		for _, v := range vs {
			if enh[v] != 0 {
				k++
			}
		}
		if k > bestN {
			best, bestN = c, k
		}
	}
	if best >= 0 {
		for _, v := range cs[best] {
			if enh[v] != 0 {
				r.Enhancing[v] = 1
			}
		}
		r.EnhancingVoxels = bestN
	}
	inner := boxFilter(r.Brain, g.Dims, radiusVoxels(g, p.EdgeMM), false)
	r.Edge = make([]uint8, n)
	for i := range n {
		if r.Brain[i] != 0 && inner[i] == 0 {
			r.Edge[i] = 1
		}
	}
	return r, nil
}

// radiusVoxels is mm in voxels along the grid's finest axis, rounded.
func radiusVoxels(g geom.Grid, mm float64) int {
	sp := g.Spacing()
	s := min(sp[0], sp[1], sp[2])
	if s <= 0 || mm <= 0 {
		return 0
	}
	return int(mm/s + 0.5)
}

// Region summarises a mask on a grid.
type Region struct {
	Voxels    int       `json:"voxels"`
	VolumeMM3 float64   `json:"volume_mm3"`
	CentreLPS geom.Vec3 `json:"centre_lps_mm"`
	// MinLPS and MaxLPS bound the voxel centres in patient LPS mm.
	MinLPS geom.Vec3 `json:"min_lps_mm"`
	MaxLPS geom.Vec3 `json:"max_lps_mm"`
}

// Summarise measures mask on g.
func Summarise(mask []uint8, g geom.Grid) Region {
	var r Region
	var sum geom.Vec3
	nx, ny := g.Dims[0], g.Dims[1]
	for idx, m := range mask {
		if m == 0 {
			continue
		}
		p := g.Affine.Apply(geom.Vec3{float64(idx % nx), float64((idx / nx) % ny), float64(idx / (nx * ny))})
		if r.Voxels == 0 {
			r.MinLPS, r.MaxLPS = p, p
		}
		for a := range 3 {
			r.MinLPS[a] = min(r.MinLPS[a], p[a])
			r.MaxLPS[a] = max(r.MaxLPS[a], p[a])
		}
		sum = sum.Add(p)
		r.Voxels++
	}
	if r.Voxels > 0 {
		r.CentreLPS = sum.Scale(1 / float64(r.Voxels))
	}
	r.VolumeMM3 = float64(r.Voxels) * g.VoxelVolume()
	return r
}
