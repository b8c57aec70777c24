package detect

import (
	"math"

	"metsentry/firmware/geom"
)

// exactPairsLimit bounds the number of surface voxels compared pairwise; above
// it the candidates are reduced to extreme points (see longestDiameter).
const exactPairsLimit = 3000

// longestDiameter measures a component's longest diameter in mm.
//
// The farthest pair of voxel centres always lies on the component's surface
// (a voxel with a 6-neighbour outside it), so only surface voxels are
// compared. Up to exactPairsLimit of them are compared pairwise (exact). For
// larger components the candidates are the extreme surface voxels along 512
// directions spread evenly over the sphere; the farthest pair is a pair of
// convex-hull vertices, and with directions about 9° apart the result is
// within 0.4% of the exact one, which is far below a voxel for any lesion.
//
// The distance between the two centres is then lengthened by the width of
// one voxel along the line joining them (the projection of the voxel's three
// edge vectors onto the line), so a straight run of n voxels of size s
// measures n·s, as a reader with calipers on the image would. A single voxel
// measures its longest edge.
func longestDiameter(c []int, g geom.Grid) (float64, [2]geom.Vec3) {
	nx, ny, nz := g.Dims[0], g.Dims[1], g.Dims[2]
	in := make(map[int]struct{}, len(c))
	for _, idx := range c {
		in[idx] = struct{}{}
	}
	var surf []geom.Vec3
	for _, idx := range c {
		i, j, k := idx%nx, (idx/nx)%ny, idx/(nx*ny)
		edge := false
		for _, d := range [6][3]int{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}} {
			ii, jj, kk := i+d[0], j+d[1], k+d[2]
			if ii < 0 || jj < 0 || kk < 0 || ii >= nx || jj >= ny || kk >= nz {
				edge = true
				break
			}
			if _, ok := in[(kk*ny+jj)*nx+ii]; !ok {
				edge = true
				break
			}
		}
		if edge {
			surf = append(surf, g.Affine.Apply(geom.Vec3{float64(i), float64(j), float64(k)}))
		}
	}
	if len(surf) > exactPairsLimit {
		surf = extremes(surf, 512)
	}
	best, a, b := -1.0, 0, 0
	for p := range surf {
		for q := p + 1; q < len(surf); q++ {
			d := surf[p].Sub(surf[q])
			if d2 := d.Dot(d); d2 > best {
				best, a, b = d2, p, q
			}
		}
	}
	edges := [3]geom.Vec3{g.Affine.Column(0), g.Affine.Column(1), g.Affine.Column(2)}
	if best <= 0 {
		sp := g.Spacing()
		p := surf[0]
		return max(sp[0], sp[1], sp[2]), [2]geom.Vec3{p, p}
	}
	dist := math.Sqrt(best)
	u := surf[b].Sub(surf[a]).Scale(1 / dist)
	w := 0.0
	for _, e := range edges {
		w += math.Abs(u.Dot(e))
	}
	return dist + w, [2]geom.Vec3{surf[a], surf[b]}
}

// extremes returns the points that are farthest along n directions spread
// over the sphere (a Fibonacci lattice), without duplicates.
func extremes(pts []geom.Vec3, n int) []geom.Vec3 {
	golden := math.Pi * (3 - math.Sqrt(5))
	keep := map[int]struct{}{}
	for s := 0; s < n; s++ {
		z := 1 - 2*(float64(s)+0.5)/float64(n)
		r := math.Sqrt(1 - z*z)
		th := golden * float64(s)
		d := geom.Vec3{r * math.Cos(th), r * math.Sin(th), z}
		bi, bv := 0, math.Inf(-1)
		for i, p := range pts {
			if v := p.Dot(d); v > bv {
				bi, bv = i, v
			}
		}
		keep[bi] = struct{}{}
	}
	out := make([]geom.Vec3, 0, len(keep))
	for i := range pts {
		if _, ok := keep[i]; ok {
			out = append(out, pts[i])
		}
	}
	return out
}
