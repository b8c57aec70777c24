package phantom

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"metsentry/firmware/geom"
	"metsentry/tools/realcheck/realcheck"
)

// VersionMulti names the generator on many real backgrounds
// (NewMultiGenerator). It is a version of its own: the Colin27-only
// generator (Version) and its cases stay as they were.
const VersionMulti = "phantom/2.0.0-multi"

// DefaultBrainSplits puts each real brain of the shared data in one split,
// so training, validation and test never share a brain. Test holds a real
// post-contrast brain and a non-contrast head (the Philips DICOM series, the
// appliance's realistic ingest case); train holds the other post-contrast
// brain, Colin27 and studyforrest; validation the MRIcron head.
var DefaultBrainSplits = map[string]Split{
	"colin27":                 Train,
	"brats-gli-00001":         Train,
	"studyforrest-sub02":      Train,
	"mricron-chris-t1":        Val,
	"brats-preprocessed-case": Test,
	"philips-mprage-sag3d":    Test,
}

// background is what a generator on a real brain other than the classic
// Colin27 adds: its name, whether it is a real post-contrast image, and for
// one the blood fraction of every template voxel (from its real enhancement,
// realcheck.DeriveBlack) and the points on blood a lesion may touch.
type background struct {
	name     string
	post     bool
	blood    []float32
	bloodPts []geom.Vec3
	// tumourRule says what was done with a glioma ("" without one).
	tumourRule string
}

// BrainsOf is the brains a backgrounds value (a tool's -backgrounds) names
// for split: "all" is every real brain of the split (DefaultBrainSplits),
// else the names separated by commas, each of which must be a brain of
// that split (splits are by brain: a brain of another split would mix
// them).
func BrainsOf(backgrounds string, split Split) ([]string, error) {
	var names []string
	if strings.TrimSpace(backgrounds) == "all" {
		for _, n := range realcheck.BackgroundNames {
			if DefaultBrainSplits[n] == split {
				names = append(names, n)
			}
		}
		return names, nil
	}
	for _, n := range strings.Split(backgrounds, ",") {
		n = strings.TrimSpace(n)
		s, ok := DefaultBrainSplits[n]
		switch {
		case n == "":
			continue
		case !ok:
			return nil, fmt.Errorf("phantom: no brain %q (the brains: %s)", n, strings.Join(realcheck.BackgroundNames, ", "))
		case s != split:
			return nil, fmt.Errorf("phantom: brain %s is in the %s split, not %s (splits are by brain; all takes the split's own)", n, s, split)
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("phantom: backgrounds %q names no brain (use all or names separated by commas)", backgrounds)
	}
	return names, nil
}

// MultiGenerator draws every case from one of many real brains, the brain
// picked by the seed among those of the case's split.
type MultiGenerator struct {
	gens    map[string]*Generator
	splits  map[string]Split
	bySplit map[Split][]string
}

// NewMultiGenerator loads the brains named (realcheck.BackgroundNames when
// empty) from the shared data folder (../shared/data) and assigns them to
// splits (DefaultBrainSplits when nil). Every split needs at least one brain.
func NewMultiGenerator(shared string, names []string, splits map[string]Split, cfg Config) (*MultiGenerator, error) {
	if len(names) == 0 {
		names = realcheck.BackgroundNames
	}
	var bgs []*realcheck.Background
	for _, n := range names {
		b, err := realcheck.LoadBackground(shared, n)
		if err != nil {
			return nil, fmt.Errorf("phantom: %w", err)
		}
		bgs = append(bgs, b)
	}
	return newMulti(bgs, splits, cfg)
}

// NewMultiGeneratorFrom is NewMultiGenerator on backgrounds already loaded
// (a tool's own, or small synthetic heads in another package's tests).
func NewMultiGeneratorFrom(bgs []*realcheck.Background, splits map[string]Split, cfg Config) (*MultiGenerator, error) {
	return newMulti(bgs, splits, cfg)
}

// newMulti builds the generators of loaded backgrounds.
func newMulti(bgs []*realcheck.Background, splits map[string]Split, cfg Config) (*MultiGenerator, error) {
	if splits == nil {
		splits = DefaultBrainSplits
	}
	m := &MultiGenerator{gens: map[string]*Generator{}, splits: map[string]Split{}, bySplit: map[Split][]string{}}
	for _, b := range bgs {
		s, ok := splits[b.Name]
		if !ok {
			return nil, fmt.Errorf("phantom: brain %q has no split (give every brain one of train, val, test)", b.Name)
		}
		if _, dup := m.gens[b.Name]; dup {
			return nil, fmt.Errorf("phantom: brain %q given twice", b.Name)
		}
		g, err := generatorOn(b, cfg)
		if err != nil {
			return nil, err
		}
		m.gens[b.Name], m.splits[b.Name] = g, s
		m.bySplit[s] = append(m.bySplit[s], b.Name)
	}
	for _, s := range []Split{Train, Val, Test} {
		sort.Strings(m.bySplit[s])
	}
	return m, nil
}

// Brains lists the brains of split s, sorted.
func (m *MultiGenerator) Brains(s Split) []string { return slices.Clone(m.bySplit[s]) }

// SplitOf is the split brain name belongs to.
func (m *MultiGenerator) SplitOf(name string) (Split, bool) {
	s, ok := m.splits[name]
	return s, ok
}

// Generate makes case (split, seed) on brain seed mod the number of brains
// in split. The same pair always gives the same case.
func (m *MultiGenerator) Generate(seed uint64, split Split) (*Case, error) {
	if _, err := ParseSplit(string(split)); err != nil {
		return nil, err
	}
	names := m.bySplit[split]
	if len(names) == 0 {
		return nil, fmt.Errorf("phantom: split %s has no brain (brains: %v)", split, m.splits)
	}
	return m.gens[names[seed%uint64(len(names))]].Generate(seed, split)
}

// salt is the stream key of a case on a background: the version, the split
// and the brain.
func (b *background) salt(s Split) uint64 {
	h := fnv.New64a()
	h.Write([]byte(VersionMulti))
	h.Write([]byte{0})
	h.Write([]byte(s))
	h.Write([]byte{0})
	h.Write([]byte(b.name))
	return h.Sum64()
}

// generatorOn makes a generator on one real brain: the image resampled to a
// 1 mm grid along patient LPS (the template space the generator expects), a
// glioma replaced by the mirror image of the other hemisphere, the blood
// fraction of a post-contrast image kept for the black-blood channel.
func generatorOn(b *realcheck.Background, cfg Config) (*Generator, error) {
	masks, err := realcheck.MakeMasks(b, realcheck.DefaultNegParams)
	if err != nil {
		return nil, fmt.Errorf("phantom: %w", err)
	}
	_, blood, err := realcheck.DeriveBlack(b, masks)
	if err != nil {
		return nil, fmt.Errorf("phantom: %w", err)
	}
	src := b.Grid()
	img := b.Image.Data
	bg := &background{name: b.Name, post: b.PostContrast}
	var zone []uint8
	if masks.TumourZone != nil {
		img, zone = mirrorFill(img, masks.TumourZone, masks.Brain, src)
		bg.tumourRule = b.TumourRule + "; widened 3 mm and filled with the mirror image of the other hemisphere, no lesion placed there"
	}
	grid := lpsGrid(src)
	t1 := resample(img, src, grid, true)
	n := grid.Len()
	brainF := resample(u8f(masks.Brain), src, grid, false)
	mask := make([]bool, n)
	for i, v := range brainF {
		mask[i] = v > 0.5
	}
	aal := make([]uint8, n)
	if b.AAL != nil {
		for i, v := range resample(u8f(b.AAL), src, grid, false) {
			aal[i] = uint8(v)
		}
	}
	a, err := newAnatomy(t1, grid, mask, aal, true)
	if err != nil {
		return nil, err
	}
	if zone != nil {
		for i, v := range resample(u8f(zone), src, grid, false) {
			if v > 0.5 {
				a.class[i] = tissueNone // no lesion is placed on the filled tumour
			}
		}
	}
	if blood != nil {
		bg.blood = resample(blood, src, grid, true)
		for i, w := range bg.blood {
			if w >= 0.5 && mask[i] && a.class[i] != tissueNone && i%7 == 0 {
				x, y, z := i%grid.Dims[0], (i/grid.Dims[0])%grid.Dims[1], i/(grid.Dims[0]*grid.Dims[1])
				bg.bloodPts = append(bg.bloodPts, grid.Affine.Apply(geom.Vec3{float64(x), float64(y), float64(z)}))
			}
		}
	}
	g := &Generator{a: a, cfg: cfg.withDefaults(), aalNames: map[int]string{}, bg: bg}
	for k, v := range b.AALNames {
		g.aalNames[k] = v
	}
	return g, nil
}

func u8f(m []uint8) []float32 {
	out := make([]float32, len(m))
	for i, v := range m {
		out[i] = float32(v)
	}
	return out
}

// lpsGrid is a 1 mm grid along patient LPS covering src.
func lpsGrid(src geom.Grid) geom.Grid {
	lo := geom.Vec3{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := geom.Vec3{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	d := src.Dims
	for c := range 8 {
		v := geom.Vec3{float64((c & 1) * (d[0] - 1)), float64((c >> 1 & 1) * (d[1] - 1)), float64((c >> 2 & 1) * (d[2] - 1))}
		p := src.Affine.Apply(v)
		for a := range 3 {
			lo[a], hi[a] = min(lo[a], p[a]), max(hi[a], p[a])
		}
	}
	var dims [3]int
	for a := range 3 {
		lo[a] = math.Floor(lo[a])
		dims[a] = int(math.Ceil(hi[a]-lo[a])) + 1
	}
	return geom.Grid{Dims: dims, Affine: geom.Affine{{1, 0, 0, lo[0]}, {0, 1, 0, lo[1]}, {0, 0, 1, lo[2]}}}
}

// resample samples v (on src) at every voxel centre of dst: trilinear, or
// nearest when linear is false; 0 outside src.
func resample(v []float32, src, dst geom.Grid, linear bool) []float32 {
	inv, err := src.Affine.Inverse()
	if err != nil {
		return make([]float32, dst.Len())
	}
	m := inv.Mul(dst.Affine)
	out := make([]float32, dst.Len())
	sx, sy, sz := src.Dims[0], src.Dims[1], src.Dims[2]
	at := func(x, y, z int) float32 { return v[x+sx*(y+sy*z)] }
	nx, ny := dst.Dims[0], dst.Dims[1]
	for idx := range out {
		p := m.Apply(geom.Vec3{float64(idx % nx), float64((idx / nx) % ny), float64(idx / (nx * ny))})
		if !linear {
			x, y, z := int(math.Round(p[0])), int(math.Round(p[1])), int(math.Round(p[2]))
			if x >= 0 && y >= 0 && z >= 0 && x < sx && y < sy && z < sz {
				out[idx] = at(x, y, z)
			}
			continue
		}
		x0, y0, z0 := math.Floor(p[0]), math.Floor(p[1]), math.Floor(p[2])
		x, y, z := int(x0), int(y0), int(z0)
		if x < 0 || y < 0 || z < 0 || x >= sx || y >= sy || z >= sz {
			continue
		}
		x1, y1, z1 := min(x+1, sx-1), min(y+1, sy-1), min(z+1, sz-1)
		fx, fy, fz := float32(p[0]-x0), float32(p[1]-y0), float32(p[2]-z0)
		c00 := at(x, y, z)*(1-fx) + at(x1, y, z)*fx
		c10 := at(x, y1, z)*(1-fx) + at(x1, y1, z)*fx
		c01 := at(x, y, z1)*(1-fx) + at(x1, y, z1)*fx
		c11 := at(x, y1, z1)*(1-fx) + at(x1, y1, z1)*fx
		out[idx] = (c00*(1-fy)+c10*fy)*(1-fz) + (c01*(1-fy)+c11*fy)*fz
	}
	return out
}

// mirrorFill replaces every voxel of zone by the voxel mirrored across the
// brain's mid-sagittal plane (the plane x = the brain mask's mean x, in
// patient LPS), where that voxel lies outside zone. It returns the filled
// image and zone, on which the caller places no lesion.
func mirrorFill(img []float32, zone, brain []uint8, g geom.Grid) ([]float32, []uint8) {
	nx, ny := g.Dims[0], g.Dims[1]
	pos := func(i int) geom.Vec3 {
		return g.Affine.Apply(geom.Vec3{float64(i % nx), float64((i / nx) % ny), float64(i / (nx * ny))})
	}
	var sum float64
	cnt := 0
	for i, b := range brain {
		if b != 0 && i%5 == 0 {
			sum += pos(i)[0]
			cnt++
		}
	}
	if cnt == 0 {
		return img, zone
	}
	mid := sum / float64(cnt)
	inv, err := g.Affine.Inverse()
	if err != nil {
		return img, zone
	}
	out := slices.Clone(img)
	for i, z := range zone {
		if z == 0 {
			continue
		}
		p := pos(i)
		p[0] = 2*mid - p[0]
		v := inv.Apply(p)
		x, y, k := int(math.Round(v[0])), int(math.Round(v[1])), int(math.Round(v[2]))
		if !g.Contains(x, y, k) {
			continue
		}
		if j := g.Index(x, y, k); zone[j] == 0 {
			out[i] = img[j]
		}
	}
	return out, zone
}

// multiDraws are a case's draws on many backgrounds beyond Params: the
// smooth field that says where real blood escapes suppression, the residual
// signal of suppressed real blood in sinuses, and the bright rim.
type multiDraws struct {
	leak [3]struct {
		k     geom.Vec3
		phase float64
	}
	leakCut    float64
	sinusLevel float64
	rimLeak    float64
}

// drawMulti draws what a case on many backgrounds varies beyond the classic
// generator: wider noise and bias ranges, the intensity gain and the
// black-blood suppression quality.
func (g *Generator) drawMulti(rng *rand.Rand, p *Params) *multiDraws {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	p.Background, p.PostContrast, p.Tumour = g.bg.name, g.bg.post, g.bg.tumourRule
	p.SNR = u(10, 40)
	p.BiasPercent = u(5, 40)
	p.Gain = math.Exp(u(math.Log(0.25), math.Log(4)))
	if rng.Float64() < 0.5 {
		p.Incomplete = u(0, 0.35)
	}
	p.BloodLevel = u(0.04, 0.3)
	p.SlowFlow = u(0.02, 0.25)
	p.LeakShare = u(0, 0.15)
	p.RimMM = u(0, 0.5)
	m := &multiDraws{sinusLevel: u(0.3, 0.8), rimLeak: u(0.3, 0.9)}
	for i := range m.leak {
		m.leak[i].k = randUnit(rng).Scale(2 * math.Pi / u(20, 60))
		m.leak[i].phase = u(0, 2*math.Pi)
	}
	// the sum of three unit cosines exceeds 3 − 6·share for roughly that
	// share of space
	m.leakCut = 3 - 6*p.LeakShare
	return m
}

// leaks says whether real blood at template point q escapes suppression.
func (m *multiDraws) leaks(q geom.Vec3) bool {
	s := 0.0
	for _, l := range m.leak {
		s += math.Cos(l.k.Dot(q) + l.phase)
	}
	return s > m.leakCut
}

// spacings are the finest and coarsest voxel size of grid; the classic
// generator's Config.Spacing for both on its own grid.
func (g *Generator) spacings(grid geom.Grid) (float64, float64) {
	if g.bg == nil {
		return g.cfg.Spacing, g.cfg.Spacing
	}
	sp := grid.Spacing()
	return min(sp[0], sp[1], sp[2]), max(sp[0], sp[1], sp[2])
}

// drawGrid draws a case's grid on many backgrounds: axial (half the cases),
// sagittal or oblique (axial tilted up to 25° about two axes), in-plane and
// slice spacing each 0.5–1.2 mm, over the classic field of view
// (Config.Dims × Config.Spacing; the sagittal one turned), centred as the
// classic grid is. A grid of more than twice the classic voxel count is
// coarsened evenly to that.
func (g *Generator) drawGrid(rng *rand.Rand) (geom.Grid, string) {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	cfg := g.cfg
	fov := geom.Vec3{float64(cfg.Dims[0]) * cfg.Spacing, float64(cfg.Dims[1]) * cfg.Spacing, float64(cfg.Dims[2]) * cfg.Spacing}
	row, col, nrm := geom.Vec3{1, 0, 0}, geom.Vec3{0, 1, 0}, geom.Vec3{0, 0, 1}
	orient := "axial"
	switch o := rng.Float64(); {
	case o < 0.25:
		orient = "sagittal"
		row, col, nrm = geom.Vec3{0, 1, 0}, geom.Vec3{0, 0, -1}, geom.Vec3{-1, 0, 0}
		fov = geom.Vec3{fov[1], fov[0], fov[2]}
	case o < 0.5:
		orient = "oblique"
		m := mul3(rotX(u(-25, 25)*math.Pi/180), rotY(u(-25, 25)*math.Pi/180))
		rot := func(v geom.Vec3) geom.Vec3 {
			return geom.Vec3{m[0][0]*v[0] + m[0][1]*v[1] + m[0][2]*v[2], m[1][0]*v[0] + m[1][1]*v[1] + m[1][2]*v[2], m[2][0]*v[0] + m[2][1]*v[1] + m[2][2]*v[2]}
		}
		row, col, nrm = rot(row), rot(col), rot(nrm)
	}
	inPlane, thick := u(0.5, 1.2), u(0.5, 1.2)
	sp := geom.Vec3{inPlane, inPlane, thick}
	dims := func() [3]int {
		return [3]int{max(8, int(math.Round(fov[0]/sp[0]))), max(8, int(math.Round(fov[1]/sp[1]))), max(8, int(math.Round(fov[2]/sp[2])))}
	}
	d := dims()
	limit := 2.0 * float64(cfg.Dims[0]*cfg.Dims[1]*cfg.Dims[2])
	if n := float64(d[0] * d[1] * d[2]); n > limit {
		sp = sp.Scale(math.Cbrt(n / limit))
		d = dims()
	}
	centre := g.a.centre().Add(geom.Vec3{0, 0, -6})
	origin := centre.Sub(row.Scale(sp[0] * float64(d[0]-1) / 2)).Sub(col.Scale(sp[1] * float64(d[1]-1) / 2)).Sub(nrm.Scale(sp[2] * float64(d[2]-1) / 2))
	return geom.Grid{Dims: d, Affine: geom.FromDICOM(origin, row, col, [2]float64{sp[1], sp[0]}, nrm.Scale(sp[2]))}, orient
}

// gridBox is the box of grid's voxel centres in patient LPS.
func gridBox(grid geom.Grid) (geom.Vec3, geom.Vec3) {
	lo := geom.Vec3{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := geom.Vec3{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	d := grid.Dims
	for c := range 8 {
		p := grid.Affine.Apply(geom.Vec3{float64((c & 1) * (d[0] - 1)), float64((c >> 1 & 1) * (d[1] - 1)), float64((c >> 2 & 1) * (d[2] - 1))})
		for a := range 3 {
			lo[a], hi[a] = min(lo[a], p[a]), max(hi[a], p[a])
		}
	}
	return lo, hi
}

// sliceBox is the box of slice k's voxel centres in patient LPS.
func sliceBox(grid geom.Grid, k int) (geom.Vec3, geom.Vec3) {
	lo := geom.Vec3{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := geom.Vec3{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	d := grid.Dims
	for c := range 4 {
		p := grid.Affine.Apply(geom.Vec3{float64((c & 1) * (d[0] - 1)), float64((c >> 1 & 1) * (d[1] - 1)), float64(k)})
		for a := range 3 {
			lo[a], hi[a] = min(lo[a], p[a]), max(hi[a], p[a])
		}
	}
	return lo, hi
}
