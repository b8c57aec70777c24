package phantom

import (
	"math"
	"math/rand/v2"

	"metsentry/firmware/geom"
)

// Kinds of tubular structure.
const (
	kindArtery uint8 = iota
	kindVein
	kindPenetrating
	kindSinus
)

// segment is a tapered capsule from A (radius RA) to B (radius RB).
type segment struct {
	A, B   geom.Vec3
	RA, RB float64
	kind   uint8
	// slow marks slow flow: left partly bright in the black-blood channel.
	slow bool
}

// distance returns the distance from p to the capsule axis and the radius
// there.
func (s *segment) distance(p geom.Vec3) (d, r float64) {
	ab := s.B.Sub(s.A)
	l2 := ab.Dot(ab)
	t := 0.0
	if l2 > 0 {
		t = p.Sub(s.A).Dot(ab) / l2
		t = math.Max(0, math.Min(1, t))
	}
	q := s.A.Add(ab.Scale(t))
	return p.Sub(q).Norm(), s.RA + (s.RB-s.RA)*t
}

// within is distance with an early exit: ok is false when p lies further
// than margin outside the capsule (then d and r are not computed).
func (s *segment) within(p geom.Vec3, margin float64) (d, r float64, ok bool) {
	abx, aby, abz := s.B[0]-s.A[0], s.B[1]-s.A[1], s.B[2]-s.A[2]
	apx, apy, apz := p[0]-s.A[0], p[1]-s.A[1], p[2]-s.A[2]
	l2 := abx*abx + aby*aby + abz*abz
	t := 0.0
	if l2 > 0 {
		t = (apx*abx + apy*aby + apz*abz) / l2
		if t < 0 {
			t = 0
		} else if t > 1 {
			t = 1
		}
	}
	dx, dy, dz := apx-t*abx, apy-t*aby, apz-t*abz
	d2 := dx*dx + dy*dy + dz*dz
	r = s.RA + (s.RB-s.RA)*t
	if lim := r + margin; d2 >= lim*lim {
		return 0, 0, false
	}
	return math.Sqrt(d2), r, true
}

// vesselGrower grows branching, tortuous trees in template space.
type vesselGrower struct {
	a    *Anatomy
	rng  *rand.Rand
	segs []segment
	max  int
}

// pialOK says whether a pial or sulcal vessel may run at q: on the brain
// surface, in sulcal CSF, or just outside the brain.
func (g *vesselGrower) pialOK(q geom.Vec3) bool {
	sd := g.a.sdAt(q)
	if sd < -2.5 {
		return false
	}
	if sd <= 1.5 {
		return true
	}
	return sd < 18 && g.a.classAt(q) == tissueCSF
}

func randUnit(rng *rand.Rand) geom.Vec3 {
	for {
		v := geom.Vec3{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		if n := v.Norm(); n > 1e-6 {
			return v.Scale(1 / n)
		}
	}
}

// grow walks a vessel from p along dir, branching as it goes.
func (g *vesselGrower) grow(p, dir geom.Vec3, r, budget float64, kind uint8, level int) {
	slow := false
	for budget > 0 && r >= 0.25 && len(g.segs) < g.max {
		step := 1.2 + 0.6*g.rng.Float64()
		var next geom.Vec3
		ok := false
		for try := 0; try < 12; try++ {
			tort := 0.35 + 0.1*float64(try)
			d := dir.Add(randUnit(g.rng).Scale(tort))
			d = d.Scale(1 / d.Norm())
			q := p.Add(d.Scale(step))
			if g.pialOK(q) {
				next, dir, ok = q, d, true
				break
			}
		}
		if !ok {
			return
		}
		if kind == kindVein {
			if !slow && g.rng.Float64() < 0.02 {
				slow = true
			} else if slow && g.rng.Float64() < 0.12 {
				slow = false
			}
		}
		r2 := r * math.Exp(-step*0.003)
		g.segs = append(g.segs, segment{A: p, B: next, RA: r, RB: r2, kind: kind, slow: slow})
		p, r = next, r2
		budget -= step
		if level < 6 && g.rng.Float64() < 0.05*step {
			cd := dir.Add(randUnit(g.rng).Scale(1.2))
			cd = cd.Scale(1 / cd.Norm())
			cr := r * (0.5 + 0.3*g.rng.Float64())
			g.grow(p, cd, cr, budget*0.6, kind, level+1)
			r *= 0.85
		}
	}
}

// penetrate lays a short, nearly straight vessel from the surface inwards
// (medullary veins, perforating arteries): dots and short lines in the
// parenchyma on every slice orientation.
func (g *vesselGrower) penetrate(p geom.Vec3, r, length float64) {
	// inward direction: gradient of the signed distance
	const h = 1.5
	grad := geom.Vec3{
		g.a.sdAt(p.Add(geom.Vec3{h, 0, 0})) - g.a.sdAt(p.Add(geom.Vec3{-h, 0, 0})),
		g.a.sdAt(p.Add(geom.Vec3{0, h, 0})) - g.a.sdAt(p.Add(geom.Vec3{0, -h, 0})),
		g.a.sdAt(p.Add(geom.Vec3{0, 0, h})) - g.a.sdAt(p.Add(geom.Vec3{0, 0, -h})),
	}
	n := grad.Norm()
	if n < 1e-6 {
		return
	}
	dir := grad.Scale(1 / n)
	for t := 0.0; t < length && len(g.segs) < g.max; {
		step := 1.5
		d := dir.Add(randUnit(g.rng).Scale(0.15))
		d = d.Scale(1 / d.Norm())
		q := p.Add(d.Scale(step))
		if g.a.sdAt(q) < 0 || g.a.classAt(q) == tissueCSF && g.a.sdAt(q) > 10 {
			return
		}
		g.segs = append(g.segs, segment{A: p, B: q, RA: r, RB: r * 0.97, kind: kindPenetrating})
		p, dir = q, d
		t += step
	}
}

// surfacePoint draws a random point on the brain surface (sd in [-1, 1]),
// optionally only above a given LPS z.
func (g *vesselGrower) surfacePoint(minZ float64) (geom.Vec3, bool) {
	a := g.a
	for try := 0; try < 2000; try++ {
		v := geom.Vec3{}
		for d := 0; d < 3; d++ {
			v[d] = float64(a.bbox[0][d]) + g.rng.Float64()*float64(a.bbox[1][d]-a.bbox[0][d])
		}
		q := a.ToLPS.Apply(v)
		if q[2] < minZ {
			continue
		}
		if sd := a.sdAt(q); sd > -1 && sd < 1 {
			return q, true
		}
	}
	return geom.Vec3{}, false
}

// growVessels builds one subject's vessel trees in template LPS mm.
func growVessels(a *Anatomy, rng *rand.Rand, density float64) []segment {
	g := &vesselGrower{a: a, rng: rng, max: 60000}
	c := a.centre()
	// Circle of Willis region: middle, anterior and posterior cerebral
	// arteries leave it laterally, forwards-up and backwards.
	willis := c.Add(geom.Vec3{0, -15, -27})
	for _, side := range []float64{-1, 1} {
		mca := willis.Add(geom.Vec3{side * 12, -2, 0})
		g.grow(mca, geom.Vec3{side, 0, 0.25}, 1.4+0.2*rng.Float64(), 140, kindArtery, 0)
		aca := willis.Add(geom.Vec3{side * 3, -10, 4})
		g.grow(aca, geom.Vec3{0, -0.6, 1}, 1.1+0.2*rng.Float64(), 150, kindArtery, 0)
		pca := willis.Add(geom.Vec3{side * 8, 12, 0})
		g.grow(pca, geom.Vec3{side * 0.4, 1, 0.2}, 1.0+0.2*rng.Float64(), 110, kindArtery, 0)
	}
	// Cortical veins over the convexity.
	nVeins := int(density * float64(50+rng.IntN(40)))
	for i := 0; i < nVeins; i++ {
		if p, ok := g.surfacePoint(c[2] - 25); ok {
			g.grow(p, randUnit(rng), 0.6+0.9*rng.Float64(), 50+80*rng.Float64(), kindVein, 2)
		}
	}
	// Small cortical arteries anywhere on the surface.
	nArt := int(density * float64(70+rng.IntN(50)))
	for i := 0; i < nArt; i++ {
		if p, ok := g.surfacePoint(-1e9); ok {
			g.grow(p, randUnit(rng), 0.35+0.5*rng.Float64(), 15+35*rng.Float64(), kindArtery, 3)
		}
	}
	// Penetrating vessels.
	nPen := int(density * float64(150+rng.IntN(150)))
	for i := 0; i < nPen; i++ {
		if p, ok := g.surfacePoint(-1e9); ok {
			g.penetrate(p, 0.25+0.25*rng.Float64(), 6+22*rng.Float64())
		}
	}
	return append(append([]segment(nil), a.sinuses...), g.segs...)
}

// segIndex is a uniform-grid spatial hash of segments in output LPS space.
type segIndex struct {
	origin geom.Vec3
	cell   float64
	n      [3]int
	start  []int32 // CSR offsets, len = cells+1
	items  []int32
	segs   []segment
}

func newSegIndex(segs []segment, lo, hi geom.Vec3, cell, margin float64) *segIndex {
	ix := &segIndex{origin: lo, cell: cell, segs: segs}
	for d := 0; d < 3; d++ {
		ix.n[d] = int(math.Ceil((hi[d]-lo[d])/cell)) + 1
	}
	cells := ix.n[0] * ix.n[1] * ix.n[2]
	count := make([]int32, cells+1)
	visit := func(s *segment, f func(c int)) {
		r := math.Max(s.RA, s.RB) + margin
		var c0, c1 [3]int
		for d := 0; d < 3; d++ {
			l := math.Min(s.A[d], s.B[d]) - r
			h := math.Max(s.A[d], s.B[d]) + r
			c0[d] = max(0, int(math.Floor((l-lo[d])/cell)))
			c1[d] = min(ix.n[d]-1, int(math.Floor((h-lo[d])/cell)))
		}
		for z := c0[2]; z <= c1[2]; z++ {
			for y := c0[1]; y <= c1[1]; y++ {
				for x := c0[0]; x <= c1[0]; x++ {
					f(x + ix.n[0]*(y+ix.n[1]*z))
				}
			}
		}
	}
	for i := range segs {
		visit(&segs[i], func(c int) { count[c+1]++ })
	}
	for c := 1; c <= cells; c++ {
		count[c] += count[c-1]
	}
	ix.start = append([]int32(nil), count...)
	ix.items = make([]int32, count[cells])
	fill := append([]int32(nil), count[:cells]...)
	for i := range segs {
		visit(&segs[i], func(c int) { ix.items[fill[c]] = int32(i); fill[c]++ })
	}
	return ix
}

// near returns the segment indices whose cell holds p.
func (ix *segIndex) near(p geom.Vec3) []int32 {
	var c [3]int
	for d := 0; d < 3; d++ {
		c[d] = int(math.Floor((p[d] - ix.origin[d]) / ix.cell))
		if c[d] < 0 || c[d] >= ix.n[d] {
			return nil
		}
	}
	i := c[0] + ix.n[0]*(c[1]+ix.n[1]*c[2])
	return ix.items[ix.start[i]:ix.start[i+1]]
}
