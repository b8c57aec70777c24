package selftest

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"metsentry/firmware/geom"
	"metsentry/firmware/volume"
)

// Lesion kinds of the phantom.
const (
	// KindSolid is a uniformly enhancing sphere.
	KindSolid = "solid"
	// KindRing is a sphere with an enhancing rim around a dark core.
	KindRing = "ring"
)

// Placed is a lesion the phantom puts in its study: where, how large and
// how it enhances. The self-test expects the model to find each one.
type Placed struct {
	Name       string    `json:"name"`
	CentreLPS  geom.Vec3 `json:"centre_lps_mm"`
	DiameterMM float64   `json:"diameter_mm"`
	Kind       string    `json:"kind"`
}

// VolumeMM3 is the placed sphere's volume.
func (p Placed) VolumeMM3() float64 {
	r := p.DiameterMM / 2
	return 4 / 3.0 * math.Pi * r * r * r
}

// Vessel is an enhancing vessel the phantom draws as a straight tube: bright
// on the bright-blood image, suppressed on the black-blood image. A model
// that reads the black-blood channel must not report it.
type Vessel struct {
	Name     string    `json:"name"`
	From     geom.Vec3 `json:"from_lps_mm"`
	To       geom.Vec3 `json:"to_lps_mm"`
	RadiusMM float64   `json:"radius_mm"`
}

// Phantom is the built-in study: a VISIBLE pair on one 1 mm axial grid and
// what was put in it.
type Phantom struct {
	Black, Bright *volume.Volume
	Lesions       []Placed
	Vessels       []Vessel
}

// Version names the phantom's generator; reports quote it. Change it with
// anything that changes the images.
const Version = "selftest-phantom/1"

// The head: nested ellipsoids centred on the LPS origin, semi-axes in mm
// (x left, y posterior, z superior). A small adult head keeps the model's
// pass short on the appliance's CPU.
var (
	scalpAxes = geom.Vec3{64, 80, 68}
	skullAxes = geom.Vec3{59, 75, 63}       // scalp fat outside
	csfAxes   = geom.Vec3{55, 71, 59}       // skull outside, CSF inside
	brainAxes = geom.Vec3{52, 68, 56}       // the pial surface
	wmAxes    = geom.Vec3{48.5, 64.5, 52.5} // grey matter ribbon outside
	gridDims  = [3]int{144, 176, 152}
)

// Signal levels (× 1000 = white matter) for the bright- and black-blood
// images, near those tools/phantom draws.
type tissue struct{ bright, black float64 }

var (
	tAir   = tissue{0, 0}
	tFat   = tissue{1.05, 0.95}
	tBone  = tissue{0.06, 0.06}
	tCSF   = tissue{0.25, 0.12}
	tGM    = tissue{0.74, 0.82}
	tWM    = tissue{1, 1}
	tBlood = tissue{1.55, 0.08}
)

// lesions and vessels of the phantom: sizes across the bins DESIGN.md
// reports (3-10 mm and ≥10 mm), both hemispheres, solid and ring
// enhancement, set in white matter where a metastasis sits.
var (
	phantomLesions = []Placed{
		{Name: "right frontal", CentreLPS: geom.Vec3{-24, -34, 18}, DiameterMM: 10, Kind: KindSolid},
		{Name: "left parietal", CentreLPS: geom.Vec3{24, 26, 20}, DiameterMM: 16, Kind: KindRing},
		{Name: "left temporal", CentreLPS: geom.Vec3{32, -8, -14}, DiameterMM: 7, Kind: KindSolid},
	}
	phantomVessels = []Vessel{
		{Name: "right cortical vein", From: geom.Vec3{-30, -20, 30}, To: geom.Vec3{-30, 30, 30}, RadiusMM: 1.2},
	}
)

// noiseSeed fixes the Rician noise: the phantom is the same on every box.
const noiseSeed = 0x6d657473656e7472 // "metsentr"

// snr is the white matter's signal to noise ratio.
const snr = 40

// NewPhantom builds the phantom. It is deterministic: the same images on
// every call (across CPU architectures the compiler's fused multiply-adds
// may change a voxel in its last bit, far below the noise). It takes about
// a second of CPU and holds 2 × 15 MB until dropped.
func NewPhantom() *Phantom {
	d := gridDims
	// Axial slices from inferior to superior, centred on the origin.
	org := geom.Vec3{-float64(d[0]-1) / 2, -float64(d[1]-1) / 2, -float64(d[2]-1) / 2}
	g := geom.Grid{Dims: d, Affine: geom.FromDICOM(org, geom.Vec3{1, 0, 0}, geom.Vec3{0, 1, 0}, [2]float64{1, 1}, geom.Vec3{0, 0, 1})}
	n := g.Len()
	bright := make([]float32, n)
	black := make([]float32, n)
	sigma := 1000.0 / snr
	// Slices in parallel, each with its own noise stream, so the images do
	// not depend on the number of cores.
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				rng := rand.New(rand.NewPCG(noiseSeed, uint64(k)))
				for j := 0; j < d[1]; j++ {
					for i := 0; i < d[0]; i++ {
						p := g.Affine.Apply(geom.Vec3{float64(i), float64(j), float64(k)})
						b, bl := signal(p)
						idx := g.Index(i, j, k)
						bright[idx] = float32(rician(rng, b*1000, sigma))
						black[idx] = float32(rician(rng, bl*1000, sigma))
					}
				}
			}
		}()
	}
	for k := 0; k < d[2]; k++ {
		next <- k
	}
	close(next)
	wg.Wait()
	return &Phantom{
		Black:   &volume.Volume{Grid: g, Data: black},
		Bright:  &volume.Volume{Grid: g, Data: bright},
		Lesions: append([]Placed(nil), phantomLesions...),
		Vessels: append([]Vessel(nil), phantomVessels...),
	}
}

// signal is both images' noiseless value at p (× white matter).
func signal(p geom.Vec3) (bright, black float64) {
	if ellipsoid(p, scalpAxes) > 1 {
		return 0, 0 // air
	}
	// Anatomy, with one millimetre of partial volume at every boundary.
	t := mix(tAir, tFat, edge(ellipsoid(p, scalpAxes)))
	t = mix(t, tBone, edge(ellipsoid(p, skullAxes)))
	t = mix(t, tCSF, edge(ellipsoid(p, csfAxes)))
	t = mix(t, tGM, edge(ellipsoid(p, brainAxes)))
	t = mix(t, tWM, edge(ellipsoid(p, wmAxes)))
	// Lateral ventricles.
	for _, s := range []float64{-1, 1} {
		v := ellipsoid(p.Sub(geom.Vec3{s * 9, 2, 8}), geom.Vec3{5, 22, 8})
		t = mix(t, tCSF, edge(v))
	}
	// A gentle texture so that white matter is not flat.
	tex := 1 + 0.03*math.Sin(0.21*p[0])*math.Sin(0.17*p[1]+0.5)*math.Sin(0.19*p[2]+1)
	t.bright *= tex
	t.black *= tex
	for _, v := range phantomVessels {
		t = mix(t, tBlood, edge(segmentDistance(p, v.From, v.To)-v.RadiusMM))
	}
	for _, l := range phantomLesions {
		r := l.DiameterMM / 2
		dist := p.Sub(l.CentreLPS).Norm()
		if dist > r+1 {
			continue
		}
		w := edge(dist - r)
		if w == 0 {
			continue
		}
		e := 1.6
		if l.Kind == KindRing {
			// 2.5 mm rim, core darker than white matter
			e = 0.55 + (1.75-0.55)*edge(r-2.5-dist)
		}
		t = mix(t, tissue{e, e}, w)
	}
	return t.bright, t.black
}

// ellipsoid is a signed distance-like value for an ellipsoid with semi-axes
// a: negative inside, about the distance in mm to the surface near it.
func ellipsoid(p, a geom.Vec3) float64 {
	q := geom.Vec3{p[0] / a[0], p[1] / a[1], p[2] / a[2]}
	mn := math.Min(a[0], math.Min(a[1], a[2]))
	return (q.Norm() - 1) * mn
}

// edge is how much of a 1 mm voxel lies inside a surface at signed
// distance sd (negative inside).
func edge(sd float64) float64 {
	return math.Max(0, math.Min(1, 0.5-sd))
}

func mix(a, b tissue, w float64) tissue {
	return tissue{a.bright + w*(b.bright-a.bright), a.black + w*(b.black-a.black)}
}

func segmentDistance(p, a, b geom.Vec3) float64 {
	ab := b.Sub(a)
	t := math.Max(0, math.Min(1, p.Sub(a).Dot(ab)/ab.Dot(ab)))
	return p.Sub(a.Add(ab.Scale(t))).Norm()
}

func rician(rng *rand.Rand, s, sigma float64) float64 {
	a := s + rng.NormFloat64()*sigma
	b := rng.NormFloat64() * sigma
	return math.Sqrt(a*a + b*b)
}
