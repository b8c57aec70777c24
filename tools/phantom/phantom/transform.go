package phantom

import (
	"math"
	"math/rand/v2"

	"metsentry/firmware/geom"
)

// subjectXform maps output LPS mm to template LPS mm: a rigid rotation, an
// anisotropic scaling, a head position in the field of view and a smooth
// random displacement field (trilinear over a coarse control grid).
type subjectXform struct {
	lin, inv geom.Affine
	lo       geom.Vec3 // output-space corner of the control grid
	step     geom.Vec3
	n        int
	disp     []geom.Vec3
	// Angles (degrees), scales and shift, for the case record.
	RotDeg [3]float64
	Scale  [3]float64
	Shift  geom.Vec3
}

func rotX(t float64) [3][3]float64 {
	c, s := math.Cos(t), math.Sin(t)
	return [3][3]float64{{1, 0, 0}, {0, c, -s}, {0, s, c}}
}
func rotY(t float64) [3][3]float64 {
	c, s := math.Cos(t), math.Sin(t)
	return [3][3]float64{{c, 0, s}, {0, 1, 0}, {-s, 0, c}}
}
func rotZ(t float64) [3][3]float64 {
	c, s := math.Cos(t), math.Sin(t)
	return [3][3]float64{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}
}
func mul3(a, b [3][3]float64) [3][3]float64 {
	var m [3][3]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				m[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return m
}

// newSubjectXform draws one subject's transform. outCentre is the centre of
// the output grid, tplCentre the template brain centre, lo/hi the output
// field of view.
func newSubjectXform(rng *rand.Rand, outCentre, tplCentre, lo, hi geom.Vec3, maxRotDeg, maxShift, dispSigma float64) subjectXform {
	var x subjectXform
	u := func(a float64) float64 { return (2*rng.Float64() - 1) * a }
	for d := 0; d < 3; d++ {
		x.RotDeg[d] = u(maxRotDeg)
	}
	g := 0.9 + 0.2*rng.Float64()
	for d := 0; d < 3; d++ {
		x.Scale[d] = g * (1 + u(0.04))
	}
	x.Shift = geom.Vec3{u(maxShift), u(maxShift), u(maxShift * 0.6)}
	r := mul3(rotZ(x.RotDeg[2]*math.Pi/180), mul3(rotY(x.RotDeg[1]*math.Pi/180), rotX(x.RotDeg[0]*math.Pi/180)))
	// q = tplCentre + R · S^-1 · (p - outCentre - shift)
	var m [3][3]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			m[i][j] = r[i][j] / x.Scale[j]
		}
	}
	o := outCentre.Add(x.Shift)
	for i := 0; i < 3; i++ {
		x.lin[i][0], x.lin[i][1], x.lin[i][2] = m[i][0], m[i][1], m[i][2]
		x.lin[i][3] = tplCentre[i] - (m[i][0]*o[0] + m[i][1]*o[1] + m[i][2]*o[2])
	}
	x.inv, _ = x.lin.Inverse() // rotation times a positive scale: never singular
	x.n = 6
	x.lo = lo
	for d := 0; d < 3; d++ {
		x.step[d] = (hi[d] - lo[d]) / float64(x.n-1)
	}
	x.disp = make([]geom.Vec3, x.n*x.n*x.n)
	for i := range x.disp {
		x.disp[i] = geom.Vec3{rng.NormFloat64() * dispSigma, rng.NormFloat64() * dispSigma, rng.NormFloat64() * dispSigma}
	}
	return x
}

// displacement interpolates the control grid at output point p.
func (x *subjectXform) displacement(p geom.Vec3) geom.Vec3 {
	var i [3]int
	var f [3]float64
	for d := 0; d < 3; d++ {
		t := (p[d] - x.lo[d]) / x.step[d]
		t = math.Max(0, math.Min(float64(x.n-1)-1e-9, t))
		i[d] = int(t)
		f[d] = t - float64(i[d])
	}
	var out geom.Vec3
	for c := 0; c < 8; c++ {
		dx, dy, dz := c&1, (c>>1)&1, (c>>2)&1
		w := 1.0
		for d, o := range [3]int{dx, dy, dz} {
			if o == 1 {
				w *= f[d]
			} else {
				w *= 1 - f[d]
			}
		}
		v := x.disp[(i[0]+dx)+x.n*((i[1]+dy)+x.n*(i[2]+dz))]
		out = out.Add(v.Scale(w))
	}
	return out
}

// toTemplate maps an output LPS point into the template.
func (x *subjectXform) toTemplate(p geom.Vec3) geom.Vec3 {
	return x.lin.Apply(p).Add(x.displacement(p))
}

// fromTemplate inverts toTemplate by fixed-point iteration (the displacement
// is small and smooth, so it converges in a few steps).
func (x *subjectXform) fromTemplate(q geom.Vec3) geom.Vec3 {
	p := x.inv.Apply(q)
	for it := 0; it < 12; it++ {
		p = x.inv.Apply(q.Sub(x.displacement(p)))
	}
	return p
}
