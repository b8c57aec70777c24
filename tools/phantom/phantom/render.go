package phantom

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"metsentry/firmware/geom"
)

// renderer composes one case voxel by voxel.
type renderer struct {
	g      *Generator
	c      *Case
	x      subjectXform
	enh    []enhancer
	ix     *segIndex
	shapes []*lesionShape
	rng    *rand.Rand

	// piecewise-linear T1 -> signal maps (knots at 0, CSF, GM, WM, top)
	knots       [5]float64
	bright, blk [5]float64
	bias        [3]struct {
		k          geom.Vec3
		phase, amp float64
	}
	voxels []int // label voxel counts per lesion id
	// ms holds the draws of a case on many backgrounds (nil for the
	// classic generator).
	ms *multiDraws
	// spacing is the grid's coarsest voxel size (the classic generator's
	// Config.Spacing).
	spacing float64
}

// drawContrast draws the per-tissue signal levels and the bias field.
func (r *renderer) drawContrast() {
	a := r.g.a
	rng := r.rng
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	r.knots = [5]float64{0, a.csf, a.gm, a.wm, math.Max(a.top, a.wm*1.2)}
	topRatio := r.knots[4] / a.wm
	r.bright = [5]float64{0, u(180, 320), u(680, 800), 1000, 1000 * topRatio * u(0.85, 1.1)}
	r.blk = [5]float64{0, u(70, 180), u(760, 880), 1000, 1000 * topRatio * u(0.7, 0.95)}
	for i := range r.bias {
		r.bias[i].k = randUnit(rng).Scale(2 * math.Pi / u(180, 400))
		r.bias[i].phase = u(0, 2*math.Pi)
		r.bias[i].amp = r.c.Params.BiasPercent / 100 / 2
	}
}

func pwl(k, v *[5]float64, t float64) float64 {
	if t <= k[0] {
		return 0
	}
	for i := 1; i < 5; i++ {
		if t <= k[i] {
			f := (t - k[i-1]) / (k[i] - k[i-1])
			return v[i-1] + f*(v[i]-v[i-1])
		}
	}
	return v[4] + (t-k[4])*(v[4]-v[3])/(k[4]-k[3])
}

// sub-voxel offsets for the 3×3×3 supersampling of edges
var subOffsets = func() []geom.Vec3 {
	var o []geom.Vec3
	for z := -1; z <= 1; z++ {
		for y := -1; y <= 1; y++ {
			for x := -1; x <= 1; x++ {
				o = append(o, geom.Vec3{float64(x) / 3, float64(y) / 3, float64(z) / 3})
			}
		}
	}
	return o
}()

// render fills Black, Bright and Labels, slice by slice on a worker pool.
func (r *renderer) render(noiseKey uint64) error {
	c := r.c
	dims := c.Grid.Dims
	n := c.Grid.Len()
	c.Black = make([]float32, n)
	c.Bright = make([]float32, n)
	c.Labels = make([]uint16, n)
	c.VesselPV = make([]uint8, n)
	c.GlandPV = make([]uint8, n)
	c.Brain = make([]uint8, n)
	r.voxels = make([]int, len(r.shapes)+1)
	slices := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := 0; w < r.g.cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts := make([]int, len(r.voxels))
			for k := range slices {
				r.slice(k, noiseKey, counts)
			}
			mu.Lock()
			for i, v := range counts {
				r.voxels[i] += v
			}
			mu.Unlock()
		}()
	}
	for k := 0; k < dims[2]; k++ {
		slices <- k
	}
	close(slices)
	wg.Wait()
	for i := 1; i < len(r.voxels); i++ {
		if r.voxels[i] == 0 {
			return fmt.Errorf("phantom: case %s: lesion %d owns no voxel (generator bug)", c.ID, i)
		}
	}
	return nil
}

func (r *renderer) slice(k int, noiseKey uint64, counts []int) {
	c := r.c
	a := r.g.a
	nx, ny := c.Grid.Dims[0], c.Grid.Dims[1]
	sp := r.spacing
	nearEdge := 0.87 * sp
	off := nx * ny * k
	bl := make([]float64, nx*ny)
	br := make([]float64, nx*ny)
	var near []*lesionShape
	if r.ms == nil {
		zlo := c.Grid.Affine.Apply(geom.Vec3{0, 0, float64(k)})[2]
		for _, l := range r.shapes {
			if zlo >= l.lo[2] && zlo <= l.hi[2] {
				near = append(near, l)
			}
		}
	} else {
		// any orientation: the slice's box against the lesion's
		slo, shi := sliceBox(c.Grid, k)
		for _, l := range r.shapes {
			if slo[0] <= l.hi[0] && shi[0] >= l.lo[0] && slo[1] <= l.hi[1] && shi[1] >= l.lo[1] && slo[2] <= l.hi[2] && shi[2] >= l.lo[2] {
				near = append(near, l)
			}
		}
	}
	qs := make([]geom.Vec3, nx)
	var cand []int32
	bs := make([]float64, nx)
	for j := 0; j < ny; j++ {
		r.row(j, k, qs, bs)
		for i := 0; i < nx; i++ {
			p := c.Grid.Affine.Apply(geom.Vec3{float64(i), float64(j), float64(k)})
			q := qs[i]
			t1 := float64(a.trilinear(a.t1, q, 0))
			baseB := pwl(&r.knots, &r.bright, t1)
			baseK := pwl(&r.knots, &r.blk, t1)
			var bloodPV uint8
			if r.ms != nil && r.g.bg.blood != nil {
				// a real post-contrast background: its real blood is
				// suppressed in black-blood, to the case's level (the
				// residual of sinuses at the brain's edge), lifted by
				// incomplete suppression, or left bright where it leaks
				if w := float64(a.trilinear(r.g.bg.blood, q, 0)); w > 0 {
					lvl := c.Params.BloodLevel
					if a.sdAt(q) < 3 {
						lvl = r.ms.sinusLevel
					}
					blood := lvl*1000 + c.Params.Incomplete*(baseB-lvl*1000)
					if r.ms.leaks(q) {
						blood = baseB * r.ms.rimLeak
					}
					baseK = (1-w)*baseK + w*blood
					bloodPV = uint8(math.Round(w * PVSamples))
				}
			}
			// oedema darkens the background around larger lesions
			for _, l := range near {
				if l.edema > 0 {
					if d := l.sdf(p); d > 0 && d < l.edema {
						f := 1 - 0.18*(1-d/l.edema)
						baseB *= f
						baseK *= f
					}
				}
			}
			// nearest lesion and vessel at the voxel centre decide whether to
			// supersample
			var lz *lesionShape
			ld := math.Inf(1)
			for _, l := range near {
				if p[0] < l.lo[0] || p[0] > l.hi[0] || p[1] < l.lo[1] || p[1] > l.hi[1] || p[2] < l.lo[2] || p[2] > l.hi[2] {
					continue
				}
				if d := l.sdf(p); d < ld {
					lz, ld = l, d
				}
			}
			// keep only the vessels a sub-sample of this voxel can fall in
			// (a sub-sample lies within 0.58 voxel of the centre)
			cand = cand[:0]
			vd := math.Inf(1)
			for _, si := range r.ix.near(p) {
				d, rr, ok := r.enh[si].seg.within(p, 0.6*sp)
				if ok {
					cand = append(cand, si)
					vd = math.Min(vd, d-rr)
				}
			}
			sb, sk := 0.0, 0.0
			label := 0
			var pv [srcGland + 1]uint8 // sub-samples rendered by each source
			if math.Abs(ld) < nearEdge || math.Abs(vd) < nearEdge {
				for _, o := range subOffsets {
					ps := p.Add(o.Scale(sp))
					if r.ms != nil {
						// along the grid's own axes and spacings
						ps = c.Grid.Affine.Apply(geom.Vec3{float64(i) + o[0], float64(j) + o[1], float64(k) + o[2]})
					}
					b, kk, src := r.sample(ps, lz, cand, baseB, baseK)
					sb += b
					sk += kk
					pv[src]++
				}
				sb /= float64(len(subOffsets))
				sk /= float64(len(subOffsets))
			} else {
				var src uint8
				sb, sk, src = r.sample(p, lz, cand, baseB, baseK)
				pv[src] = PVSamples
			}
			c.VesselPV[off+i+nx*j] = max(pv[srcVessel], bloodPV)
			c.GlandPV[off+i+nx*j] = pv[srcGland]
			if a.sdAt(q) >= 0 {
				c.Brain[off+i+nx*j] = 1
			}
			// the truth label is the shape voxelised by voxel centres: a
			// lesion snapped to a voxel always owns it, and the labels span
			// the listed diameter to within a voxel
			if lz != nil && ld <= 0 {
				label = lz.id
			}
			b := bs[i]
			br[i+nx*j] = sb * b
			bl[i+nx*j] = sk * b
			if label > 0 {
				c.Labels[off+i+nx*j] = uint16(label)
				counts[label]++
			}
		}
	}
	if g := c.Params.Ghosting; g > 0 {
		// motion ghost along the phase-encode (anterior-posterior) axis
		gb := append([]float64(nil), br...)
		gk := append([]float64(nil), bl...)
		for j := 0; j < ny; j++ {
			js := (j + ny/2) % ny
			for i := 0; i < nx; i++ {
				br[i+nx*j] += g * gb[i+nx*js]
				bl[i+nx*j] += g * gk[i+nx*js]
			}
		}
	}
	rng := rand.New(rand.NewPCG(noiseKey, uint64(k)))
	sigma := 1000 / c.Params.SNR
	for i := range br {
		c.Bright[off+i] = float32(rician(rng, br[i], sigma))
		c.Black[off+i] = float32(rician(rng, bl[i], sigma))
	}
}

func rician(rng *rand.Rand, s, sigma float64) float64 {
	a := s + rng.NormFloat64()*sigma
	b := rng.NormFloat64() * sigma
	return math.Sqrt(a*a + b*b)
}

// What renders a sample point (sample's third result).
const (
	srcBackground uint8 = iota // anatomy (with oedema)
	srcLesion
	srcVessel // a blood vessel or sinus
	srcGland  // choroid plexus or pituitary
)

// sample gives both channels' signal at one point and what renders it: the
// lesion lz wins over vessels, which win over the anatomy.
func (r *renderer) sample(p geom.Vec3, lz *lesionShape, cand []int32, baseB, baseK float64) (float64, float64, uint8) {
	if lz != nil {
		if d := lz.sdf(p); d <= 0 {
			v := lz.value(p, d) * 1000
			return v, v, srcLesion
		}
	}
	best := -1
	bestPen := 0.0
	for _, si := range cand {
		d, rr := r.enh[si].seg.distance(p)
		if d <= rr && rr-d > bestPen-1e-9 {
			best, bestPen = int(si), rr-d
		}
	}
	if best >= 0 {
		e := &r.enh[best]
		if e.gland {
			return e.brite * 1000, e.black * 1000, srcGland
		}
		if r.ms != nil && bestPen < r.c.Params.RimMM {
			// the vessel's outer rim: partial volume left partly bright
			return e.brite * 1000, (e.black + (e.brite-e.black)*r.ms.rimLeak) * 1000, srcVessel
		}
		return e.brite * 1000, e.black * 1000, srcVessel
	}
	return baseB, baseK, srcBackground
}

// row fills the template coordinates and bias of one image row. Both are
// smooth, so they are computed exactly every 16 voxels and interpolated
// linearly between (the displacement is trilinear, hence linear along a row
// inside a control cell).
func (r *renderer) row(j, k int, qs []geom.Vec3, bs []float64) {
	nx := len(qs)
	const step = 16
	at := func(i int) (geom.Vec3, float64) {
		p := r.c.Grid.Affine.Apply(geom.Vec3{float64(i), float64(j), float64(k)})
		return r.x.toTemplate(p), r.biasAt(p)
	}
	i0 := 0
	q0, b0 := at(0)
	for i0 < nx-1 {
		i1 := min(i0+step, nx-1)
		q1, b1 := at(i1)
		for i := i0; i < i1; i++ {
			f := float64(i-i0) / float64(i1-i0)
			qs[i] = q0.Add(q1.Sub(q0).Scale(f))
			bs[i] = b0 + (b1-b0)*f
		}
		i0, q0, b0 = i1, q1, b1
	}
	qs[nx-1], bs[nx-1] = q0, b0
}

func (r *renderer) biasAt(p geom.Vec3) float64 {
	s := 0.0
	for _, b := range r.bias {
		s += b.amp * math.Cos(b.k.Dot(p)+b.phase)
	}
	return math.Exp(s)
}

// lesionList turns the placed shapes into the truth list.
func (r *renderer) lesionList() []Lesion {
	inv, _ := r.c.Grid.Affine.Inverse()
	out := make([]Lesion, 0, len(r.shapes))
	for _, l := range r.shapes {
		vol, cen := moments(l.spheres)
		// the AAL region at the centre, through the subject transform
		region := r.g.regionAt(r.x.toTemplate(cen))
		cv := inv.Apply(cen)
		out = append(out, Lesion{
			ID:                l.id,
			CentreLPS:         round3(cen),
			CentreVoxel:       round3(cv),
			LongestDiameterMM: math.Round(longestDiameter(l.spheres)*1000) / 1000,
			VolumeMM3:         math.Round(vol*100) / 100,
			Voxels:            r.voxels[l.id],
			Kind:              l.kind,
			Lobes:             len(l.spheres),
			Enhancement:       math.Round(l.enh*1000) / 1000,
			Site:              l.site,
			Region:            region,
		})
	}
	return out
}

func round3(v geom.Vec3) [3]float64 {
	return [3]float64{math.Round(v[0]*1000) / 1000, math.Round(v[1]*1000) / 1000, math.Round(v[2]*1000) / 1000}
}
