package realcheck

import (
	"math"

	"metsentry/firmware/geom"
	"metsentry/firmware/volume"
)

// synth is a small skull-stripped brain with a ring-enhancing tumour in
// FLAIR-hyperintense oedema, an enhancing vessel far from it, and a spot
// bright before and after contrast (blood products) inside the oedema. The
// masks say where each was put.
type synth struct {
	study                  *Study
	ring, core, oedema     []uint8
	vessel, haemorrhage    []uint8
	tumourCentre, vesselAt [3]int
}

const (
	synthNX, synthNY, synthNZ = 48, 48, 32
)

func newSynth(flair bool) *synth {
	g := geom.Grid{Dims: [3]int{synthNX, synthNY, synthNZ}, Affine: geom.Affine{{1, 0, 0, -24}, {0, 1, 0, -30}, {0, 0, 1, 10}}}
	n := g.Len()
	s := &synth{ring: make([]uint8, n), core: make([]uint8, n), oedema: make([]uint8, n), vessel: make([]uint8, n), haemorrhage: make([]uint8, n),
		tumourCentre: [3]int{32, 24, 16}, vesselAt: [3]int{10, 24, 16}}
	t1c, t1n, t2f := make([]float32, n), make([]float32, n), make([]float32, n)
	dist := func(i, j, k int, c [3]int) float64 {
		return math.Sqrt(float64((i-c[0])*(i-c[0]) + (j-c[1])*(j-c[1]) + (k-c[2])*(k-c[2])))
	}
	for k := range synthNZ {
		for j := range synthNY {
			for i := range synthNX {
				x, y, z := float64(i-24)/21, float64(j-24)/21, float64(k-16)/14
				if x*x+y*y+z*z > 1 {
					continue // outside the brain: 0, as in BraTS
				}
				idx := g.Index(i, j, k)
				// Two tissues, 60% / 40%: the robust statistics have a
				// spread; t1c is t1n on another scale, so nothing enhances.
				v := float32(1000)
				if (i+j+k)%5 >= 3 {
					v = 1200
				}
				t1n[idx], t1c[idx], t2f[idx] = v, 3*v, v/2
				d := dist(i, j, k, s.tumourCentre)
				switch {
				case d < 3:
					s.core[idx] = 1
				case d < 4.5:
					s.ring[idx] = 1
					t1c[idx] += 3000
				case d < 8 && flair:
					s.oedema[idx] = 1
					t2f[idx] += 600
				}
				if dv := math.Hypot(float64(i-s.vesselAt[0]), float64(k-s.vesselAt[2])); dv < 1.5 && j > 10 && j < 38 {
					s.vessel[idx] = 1
					t1c[idx] += 3000
				}
				if flair && dist(i, j, k, [3]int{32, 24, 23}) < 1.1 {
					s.haemorrhage[idx] = 1
					t1c[idx] += 3000
					t1n[idx] += 1000
				}
			}
		}
	}
	s.study = &Study{Name: "synthetic",
		T1c: &volume.Volume{Grid: g, Data: t1c}, T1n: &volume.Volume{Grid: g, Data: t1n}, T2f: &volume.Volume{Grid: g, Data: t2f}}
	return s
}

func count(m []uint8) int {
	n := 0
	for _, v := range m {
		if v != 0 {
			n++
		}
	}
	return n
}

// overlap counts voxels set in both.
func overlap(a, b []uint8) int {
	n := 0
	for i := range a {
		if a[i] != 0 && b[i] != 0 {
			n++
		}
	}
	return n
}
