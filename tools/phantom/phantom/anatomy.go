package phantom

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"metsentry/firmware/geom"
	"metsentry/firmware/nifti"
)

// Tissue classes of the template brain, from a 3-class k-means on T1 inside
// the brain mask.
const (
	tissueNone uint8 = iota
	tissueCSF
	tissueGM
	tissueWM
)

// firstCerebellumLabel is the AAL index of Cerebelum_Crus1_L; indices 91..116
// are the cerebellar hemispheres and the vermis (aal.nii.txt).
const firstCerebellumLabel = 91

// Anatomy is the real template brain every case is built on: Colin27 at 1 mm
// (T1 with scalp and skull, a brain mask, the AAL atlas) plus what is derived
// from it once: tissue classes, a signed distance to the brain surface and the
// dural sinus centrelines. It is read-only after LoadAnatomy and shared by all
// cases and goroutines.
type Anatomy struct {
	Dims   [3]int
	ToLPS  geom.Affine // template voxel -> template LPS mm
	FromLP geom.Affine // template LPS mm -> template voxel

	t1    []float32 // Colin27 T1 (ch2), raw scanner units
	class []uint8   // tissue class in the brain mask, else tissueNone
	aal   []uint8   // AAL index 0..116
	// sd is the signed distance to the brain surface in mm (+ inside) on a
	// 2 mm grid: accurate enough to steer vessels and lesions, and 8× cheaper
	// to compute than at 1 mm.
	sd     []float32
	sdDims [3]int

	// Levels are the mean T1 of CSF, GM and WM in the brain mask, and the
	// 99.5th percentile of the head.
	csf, gm, wm, top float64

	sinuses []segment // dural sinuses and deep veins, template LPS mm
	bbox    [2][3]int // voxel bounding box of the brain mask
}

// LoadAnatomy reads Colin27 from dir (the folder holding ch2.nii.gz,
// ch2bet.nii.gz and aal.nii.gz, e.g. ../shared/data/anatomy/colin27).
func LoadAnatomy(dir string) (*Anatomy, error) {
	t1, err := nifti.Read(filepath.Join(dir, "ch2.nii.gz"))
	if err != nil {
		return nil, fmt.Errorf("phantom: anatomy: %w", err)
	}
	bet, err := nifti.Read(filepath.Join(dir, "ch2bet.nii.gz"))
	if err != nil {
		return nil, fmt.Errorf("phantom: anatomy: %w", err)
	}
	aal, err := nifti.Read(filepath.Join(dir, "aal.nii.gz"))
	if err != nil {
		return nil, fmt.Errorf("phantom: anatomy: %w", err)
	}
	if t1.Grid.Dims != bet.Grid.Dims || t1.Grid.Dims != aal.Grid.Dims || t1.Volumes > 1 {
		return nil, fmt.Errorf("phantom: anatomy: ch2 %v, ch2bet %v and aal %v differ in size (want one 3D 1 mm grid)", t1.Grid.Dims, bet.Grid.Dims, aal.Grid.Dims)
	}
	n := len(t1.Data)
	aalIdx := make([]uint8, n)
	mask := make([]bool, n)
	for i := 0; i < n; i++ {
		aalIdx[i] = uint8(aal.Data[i])
		mask[i] = bet.Data[i] > 0
	}
	return newAnatomy(t1.Data, t1.Grid, mask, aalIdx, false)
}

// newAnatomy derives the tissue classes, the signed distance and the sinuses
// of a brain on a 1 mm grid (t1, its brain mask and AAL indices, all on
// grid). capTail leaves the brightest 3% of the brain out of the tissue
// fit: a post-contrast image's enhancing vessels would pull a class of
// their own (Colin27 is fitted on all its voxels, as it always was).
func newAnatomy(t1 []float32, grid geom.Grid, mask []bool, aal []uint8, capTail bool) (*Anatomy, error) {
	a := &Anatomy{Dims: grid.Dims, t1: t1, ToLPS: grid.Affine, aal: aal}
	var err error
	if a.FromLP, err = a.ToLPS.Inverse(); err != nil {
		return nil, fmt.Errorf("phantom: anatomy: affine: %w", err)
	}
	n := len(t1)
	a.bbox = [2][3]int{{a.Dims[0], a.Dims[1], a.Dims[2]}, {0, 0, 0}}
	for i := 0; i < n; i++ {
		if mask[i] {
			x, y, z := i%a.Dims[0], (i/a.Dims[0])%a.Dims[1], i/(a.Dims[0]*a.Dims[1])
			for d, v := range [3]int{x, y, z} {
				a.bbox[0][d] = min(a.bbox[0][d], v)
				a.bbox[1][d] = max(a.bbox[1][d], v)
			}
		}
	}
	a.classify(mask, capTail)
	a.sd, a.sdDims = coarseSignedDistance(mask, a.Dims)
	a.sinuses = a.buildSinuses()
	return a, nil
}

// classify runs a 3-class k-means on T1 inside the mask.
func (a *Anatomy) classify(mask []bool, capTail bool) {
	var vals []float32
	for i, m := range mask {
		if m && i%3 == 0 { // a third of the brain is plenty to fit three means
			vals = append(vals, a.t1[i])
		}
	}
	if capTail {
		top := float32(percentile(vals, 0.97))
		vals = slices.DeleteFunc(vals, func(v float32) bool { return v > top })
	}
	c := [3]float64{percentile(vals, 0.05), percentile(vals, 0.4), percentile(vals, 0.85)}
	for it := 0; it < 15; it++ {
		var sum, cnt [3]float64
		for _, v := range vals {
			k := nearest3(c, float64(v))
			sum[k] += float64(v)
			cnt[k]++
		}
		for k := range c {
			if cnt[k] > 0 {
				c[k] = sum[k] / cnt[k]
			}
		}
	}
	a.csf, a.gm, a.wm = c[0], c[1], c[2]
	a.class = make([]uint8, len(mask))
	for i, m := range mask {
		if m {
			a.class[i] = tissueCSF + uint8(nearest3(c, float64(a.t1[i])))
		}
	}
	a.top = percentile(a.t1, 0.995)
}

// percentile of values by a 4096-bin histogram over their range.
func percentile(v []float32, p float64) float64 {
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	if !(hi > lo) {
		return float64(lo)
	}
	const bins = 4096
	var h [bins]int
	w := float64(hi-lo) / bins
	for _, x := range v {
		h[min(bins-1, int(float64(x-lo)/w))]++
	}
	want := int(p * float64(len(v)-1))
	n := 0
	for b := range h {
		n += h[b]
		if n > want {
			return float64(lo) + (float64(b)+0.5)*w
		}
	}
	return float64(hi)
}

func nearest3(c [3]float64, v float64) int {
	best, bd := 0, math.Inf(1)
	for k := range c {
		if d := math.Abs(v - c[k]); d < bd {
			best, bd = k, d
		}
	}
	return best
}

// coarseSignedDistance downsamples the mask 2× (a 2×2×2 block is inside when
// at least half of it is) and returns its signed distance in mm.
func coarseSignedDistance(mask []bool, dims [3]int) ([]float32, [3]int) {
	cd := [3]int{dims[0] / 2, dims[1] / 2, dims[2] / 2}
	cm := make([]bool, cd[0]*cd[1]*cd[2])
	for z := 0; z < cd[2]; z++ {
		for y := 0; y < cd[1]; y++ {
			for x := 0; x < cd[0]; x++ {
				n := 0
				for c := 0; c < 8; c++ {
					if mask[(2*x+c&1)+dims[0]*((2*y+(c>>1)&1)+dims[1]*(2*z+(c>>2)&1))] {
						n++
					}
				}
				cm[x+cd[0]*(y+cd[1]*z)] = n >= 4
			}
		}
	}
	sd := signedDistance(cm, cd)
	for i := range sd {
		sd[i] *= 2
	}
	return sd, cd
}

// signedDistance is a two-pass 3×3×3 chamfer distance (mm) to the mask
// boundary: positive inside, negative outside.
func signedDistance(mask []bool, dims [3]int) []float32 {
	in := chamfer(mask, dims, true)
	out := chamfer(mask, dims, false)
	sd := make([]float32, len(mask))
	for i, m := range mask {
		if m {
			sd[i] = in[i] - 0.5
		} else {
			sd[i] = -(out[i] - 0.5)
		}
	}
	return sd
}

// chamfer returns, for voxels where mask==inside, the distance to the nearest
// voxel where mask!=inside.
func chamfer(mask []bool, dims [3]int, inside bool) []float32 {
	nx, ny, nz := dims[0], dims[1], dims[2]
	const big = 1e6
	d := make([]float32, len(mask))
	for i, m := range mask {
		if m == inside {
			d[i] = big
		}
	}
	type off struct {
		dx, dy, dz int
		w          float32
	}
	var fwd []off
	for dz := -1; dz <= 0; dz++ {
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				if dz == 0 && (dy > 0 || (dy == 0 && dx >= 0)) {
					continue
				}
				fwd = append(fwd, off{dx, dy, dz, float32(math.Sqrt(float64(dx*dx + dy*dy + dz*dz)))})
			}
		}
	}
	pass := func(sign int) {
		z0, z1, step := 0, nz, 1
		if sign < 0 {
			z0, z1, step = nz-1, -1, -1
		}
		for z := z0; z != z1; z += step {
			for yy := 0; yy < ny; yy++ {
				y := yy
				if sign < 0 {
					y = ny - 1 - yy
				}
				for xx := 0; xx < nx; xx++ {
					x := xx
					if sign < 0 {
						x = nx - 1 - xx
					}
					i := x + nx*(y+ny*z)
					v := d[i]
					if v == 0 {
						continue
					}
					for _, o := range fwd {
						X, Y, Z := x+sign*o.dx, y+sign*o.dy, z+sign*o.dz
						if X < 0 || Y < 0 || Z < 0 || X >= nx || Y >= ny || Z >= nz {
							continue
						}
						if w := d[X+nx*(Y+ny*Z)] + o.w; w < v {
							v = w
						}
					}
					d[i] = v
				}
			}
		}
	}
	pass(1)
	pass(-1)
	return d
}

// voxel returns the nearest template voxel index of an LPS point, or -1.
func (a *Anatomy) voxel(q geom.Vec3) int {
	v := a.FromLP.Apply(q)
	i, j, k := int(math.Round(v[0])), int(math.Round(v[1])), int(math.Round(v[2]))
	if i < 0 || j < 0 || k < 0 || i >= a.Dims[0] || j >= a.Dims[1] || k >= a.Dims[2] {
		return -1
	}
	return i + a.Dims[0]*(j+a.Dims[1]*k)
}

// trilinear samples a float field at an LPS point (0 outside).
func (a *Anatomy) trilinear(f []float32, q geom.Vec3, outside float32) float32 {
	v := a.FromLP.Apply(q)
	x0, y0, z0 := math.Floor(v[0]), math.Floor(v[1]), math.Floor(v[2])
	i, j, k := int(x0), int(y0), int(z0)
	nx, ny, nz := a.Dims[0], a.Dims[1], a.Dims[2]
	if i < 0 || j < 0 || k < 0 || i+1 >= nx || j+1 >= ny || k+1 >= nz {
		return outside
	}
	fx, fy, fz := float32(v[0]-x0), float32(v[1]-y0), float32(v[2]-z0)
	b := i + nx*(j+ny*k)
	sx, sy := 1, nx
	sz := nx * ny
	c00 := f[b]*(1-fx) + f[b+sx]*fx
	c10 := f[b+sy]*(1-fx) + f[b+sy+sx]*fx
	c01 := f[b+sz]*(1-fx) + f[b+sz+sx]*fx
	c11 := f[b+sz+sy]*(1-fx) + f[b+sz+sy+sx]*fx
	c0 := c00*(1-fy) + c10*fy
	c1 := c01*(1-fy) + c11*fy
	return c0*(1-fz) + c1*fz
}

// sdAt is the signed distance to the brain surface at q (mm, + inside),
// interpolated on the 2 mm grid.
func (a *Anatomy) sdAt(q geom.Vec3) float64 {
	v := a.FromLP.Apply(q)
	var f [3]float64
	var i [3]int
	for d := 0; d < 3; d++ {
		c := (v[d] - 0.5) / 2 // fine voxel -> coarse voxel
		fl := math.Floor(c)
		i[d], f[d] = int(fl), c-fl
		if i[d] < 0 || i[d]+1 >= a.sdDims[d] {
			return -50
		}
	}
	nx, ny := a.sdDims[0], a.sdDims[1]
	out := 0.0
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
		out += w * float64(a.sd[(i[0]+dx)+nx*((i[1]+dy)+ny*(i[2]+dz))])
	}
	return out
}

// classAt and aalAt are nearest-voxel lookups.
func (a *Anatomy) classAt(q geom.Vec3) uint8 {
	if i := a.voxel(q); i >= 0 {
		return a.class[i]
	}
	return tissueNone
}

func (a *Anatomy) aalAt(q geom.Vec3) uint8 {
	if i := a.voxel(q); i >= 0 {
		return a.aal[i]
	}
	return 0
}

// centre returns the LPS centre of the brain bounding box.
func (a *Anatomy) centre() geom.Vec3 {
	v := geom.Vec3{}
	for d := 0; d < 3; d++ {
		v[d] = float64(a.bbox[0][d]+a.bbox[1][d]) / 2
	}
	return a.ToLPS.Apply(v)
}

// rayToSurface walks from p along dir until the brain mask ends and returns
// the last inside point (ok=false if it never leaves within 150 mm).
func (a *Anatomy) rayToSurface(p, dir geom.Vec3) (geom.Vec3, bool) {
	dir = dir.Scale(1 / dir.Norm())
	last := p
	inside := false
	for t := 0.0; t < 150; t += 0.5 {
		q := p.Add(dir.Scale(t))
		// the midline has the interhemispheric fissure: look a little to
		// each side so the falx does not stop the ray early
		if a.sdAt(q) > 0 || a.sdAt(q.Add(geom.Vec3{7, 0, 0})) > 0 || a.sdAt(q.Add(geom.Vec3{-7, 0, 0})) > 0 {
			last, inside = q, true
		} else if inside {
			return last, true
		}
	}
	return last, false
}

// buildSinuses lays the superior sagittal, straight and transverse sinuses and
// the internal cerebral veins along the template brain's outline.
func (a *Anatomy) buildSinuses() []segment {
	c := a.centre()
	var segs []segment
	// Midsagittal arc: LPS y is posterior, z superior. theta 0 = anterior.
	var arc []geom.Vec3
	for th := 25.0; th <= 205; th += 5 {
		r := th * math.Pi / 180
		dir := geom.Vec3{0, -math.Cos(r), math.Sin(r)}
		if s, ok := a.rayToSurface(c, dir); ok {
			arc = append(arc, s.Add(dir.Scale(3.5)))
		}
	}
	for i := 1; i < len(arc); i++ {
		f := float64(i) / float64(len(arc))
		segs = append(segs, segment{A: arc[i-1], B: arc[i], RA: 1.6 + 2.4*f, RB: 1.6 + 2.4*f, kind: kindSinus})
	}
	if len(arc) == 0 {
		return segs
	}
	torcular := arc[len(arc)-1]
	// Transverse sinuses: in the axial plane of the torcular, sweep laterally.
	for _, side := range []float64{-1, 1} {
		prev := torcular
		for ph := 10.0; ph <= 75; ph += 5 {
			r := ph * math.Pi / 180
			dir := geom.Vec3{side * math.Sin(r), math.Cos(r), 0}
			o := geom.Vec3{c[0], c[1], torcular[2]}
			s, ok := a.rayToSurface(o, dir)
			if !ok {
				break
			}
			s = s.Add(dir.Scale(3.5))
			segs = append(segs, segment{A: prev, B: s, RA: 3.8, RB: 3.5, kind: kindSinus})
			prev = s
		}
	}
	// Vein of Galen, straight sinus and internal cerebral veins.
	galen := c.Add(geom.Vec3{0, 33, -8})
	segs = append(segs, segment{A: galen, B: torcular, RA: 2.2, RB: 2.8, kind: kindSinus})
	for _, side := range []float64{-1, 1} {
		icv := c.Add(geom.Vec3{side * 3, -8, 2})
		segs = append(segs, segment{A: icv, B: galen, RA: 1.2, RB: 1.6, kind: kindVein})
	}
	return segs
}
