package phantom

import (
	"math"
	"math/rand/v2"

	"metsentry/firmware/geom"
)

// Lesion kinds as written in the lesion list.
const (
	KindSolid    = "solid"
	KindRing     = "ring"
	KindNecrotic = "necrotic"
)

// Lesion is one synthetic metastasis as recorded in the truth list. Its ID is
// its value in the label volume.
type Lesion struct {
	ID int `json:"id"`
	// CentreLPS is the centroid of the lesion's shape in patient LPS mm.
	CentreLPS [3]float64 `json:"centre_lps_mm"`
	// CentreVoxel is CentreLPS as a (fractional) voxel index (i, j, k).
	CentreVoxel [3]float64 `json:"centre_voxel"`
	// LongestDiameterMM is the shape's exact longest extent.
	LongestDiameterMM float64 `json:"longest_diameter_mm"`
	// VolumeMM3 is the shape's volume (fine sampling at 0.2 mm).
	VolumeMM3 float64 `json:"volume_mm3"`
	// Voxels is the number of voxels carrying this lesion's label.
	Voxels int    `json:"voxels"`
	Kind   string `json:"kind"`
	// Lobes is the number of spheres in the shape (1 = round).
	Lobes int `json:"lobes"`
	// Enhancement is the enhancing tissue's signal relative to white matter.
	Enhancement float64 `json:"enhancement_x_wm"`
	// Site says why it was put there: junction (grey-white), cerebellum,
	// parenchyma or vessel (placed touching a vessel).
	Site string `json:"site"`
	// Region is the AAL region at the centre ("" when outside the atlas).
	Region string `json:"region"`
}

type sphere struct {
	c geom.Vec3
	r float64
}

// lesionShape is a lesion in output LPS space: a union of spheres.
type lesionShape struct {
	id      int
	spheres []sphere
	kind    string
	enh     float64 // × WM
	rim     float64 // mm, ring/necrotic
	core    float64 // necrotic core signal × WM
	edema   float64 // mm of T1-dark oedema beyond the edge
	phase   [3]float64
	site    string
	lo, hi  geom.Vec3 // bounding box incl. oedema + margin
}

func (l *lesionShape) sdf(p geom.Vec3) float64 {
	d := math.Inf(1)
	for _, s := range l.spheres {
		if v := p.Sub(s.c).Norm() - s.r; v < d {
			d = v
		}
	}
	return d
}

// value is the lesion signal (× WM) at a point inside, given its sdf there.
func (l *lesionShape) value(p geom.Vec3, sd float64) float64 {
	tex := 1 + 0.06*math.Sin(0.9*p[0]+l.phase[0])*math.Sin(1.1*p[1]+l.phase[1])*math.Sin(0.8*p[2]+l.phase[2])
	depth := -sd
	switch l.kind {
	case KindRing, KindNecrotic:
		w := l.rim
		if l.kind == KindNecrotic {
			w *= 1 + 0.5*math.Sin(0.5*p[0]+l.phase[1])*math.Cos(0.45*p[1]+l.phase[2])
		}
		t := math.Max(0, math.Min(1, (depth-w)/0.8+0.5)) // 0 in rim, 1 in core
		return (l.enh*(1-t) + l.core*t) * tex
	}
	return l.enh * tex
}

// longestDiameter of a union of spheres: the largest |ci-cj| + ri + rj.
func longestDiameter(sp []sphere) float64 {
	best := 0.0
	for i := range sp {
		for j := i; j < len(sp); j++ {
			if d := sp[i].c.Sub(sp[j].c).Norm() + sp[i].r + sp[j].r; d > best {
				best = d
			}
		}
	}
	return best
}

// moments returns the volume (mm³) and centroid of a union of spheres by
// sampling a 0.2 mm lattice.
func moments(sp []sphere) (float64, geom.Vec3) {
	lo := geom.Vec3{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := lo.Scale(-1)
	for _, s := range sp {
		for d := 0; d < 3; d++ {
			lo[d] = math.Min(lo[d], s.c[d]-s.r)
			hi[d] = math.Max(hi[d], s.c[d]+s.r)
		}
	}
	const h = 0.2
	var n float64
	var sum geom.Vec3
	for z := lo[2] + h/2; z < hi[2]; z += h {
		for y := lo[1] + h/2; y < hi[1]; y += h {
			for x := lo[0] + h/2; x < hi[0]; x += h {
				p := geom.Vec3{x, y, z}
				for _, s := range sp {
					if p.Sub(s.c).Norm() <= s.r {
						n++
						sum = sum.Add(p)
						break
					}
				}
			}
		}
	}
	if n == 0 {
		return 0, sp[0].c
	}
	return n * h * h * h, sum.Scale(1 / n)
}

// drawDiameter draws a longest diameter in mm: mostly small, as in practice.
func drawDiameter(rng *rand.Rand, large *int) float64 {
	lu := func(a, b float64) float64 { return math.Exp(math.Log(a) + rng.Float64()*(math.Log(b)-math.Log(a))) }
	u := rng.Float64()
	switch {
	case u < 0.45:
		return lu(1.5, 5)
	case u < 0.85 || *large >= 2:
		return lu(5, 15)
	default:
		*large++
		return lu(15, 40)
	}
}

// makeShape builds a lesion of longest diameter D around centre c (output
// LPS): round, or lobulated from 2-4 spheres, scaled so the union's longest
// diameter is exactly D.
func makeShape(rng *rand.Rand, c geom.Vec3, D float64) []sphere {
	sp := []sphere{{c: geom.Vec3{}, r: 1}}
	if D >= 6 && rng.Float64() < 0.4 {
		for n := 1 + rng.IntN(3); n > 0; n-- {
			u := randUnit(rng)
			sp = append(sp, sphere{c: u.Scale(0.45 + 0.35*rng.Float64()), r: 0.4 + 0.3*rng.Float64()})
		}
	}
	s := D / longestDiameter(sp)
	for i := range sp {
		sp[i].c = c.Add(sp[i].c.Scale(s))
		sp[i].r *= s
	}
	return sp
}
