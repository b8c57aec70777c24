package volume

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"metsentry/firmware/geom"
	"metsentry/runtime/manifest"
)

// Head mask: voxels brighter than HeadFraction × the 99th percentile of the
// bright image, or than the air's noise floor where that is higher, with a
// majority of their 3×3×3 neighbours as bright (headmask.go). Scalp, skull
// marrow and brain on a post-contrast T1 lie well above this; air and noise
// lie below.
const (
	HeadFraction = 0.1
	headPct      = 99
	// headNoiseMult × the median of the image's outermost voxels (the six
	// faces of its grid: air, in all but a very tight field of view) is a
	// floor under the head threshold. Magnitude images carry Rician noise
	// whose median in air is 1.18 σ; at a low SNR that is above HeadFraction
	// × the 99th percentile (a phantom study at SNR 11 had air at a median
	// of 136 against a threshold of 118), and the head mask, the head box
	// and the normalisation then take in the whole field of view. 2.5 ×
	// the median is 2.9 σ, which one air voxel in 70 passes. The floor is
	// capped at headMaxFraction × the 99th percentile, below white matter,
	// so a field of view whose faces cut through the head cannot raise it
	// into the tissue.
	headNoiseMult   = 2.5
	headMaxFraction = 0.3
	// HeadMarginMM is added around the head's bounding box before cropping.
	HeadMarginMM = 5
	// MaxHeadHeightMM bounds the crop below the top of the head: the brain
	// and cerebellum lie within about 160 mm of the vertex, so a field of
	// view that reaches the neck and shoulders is cut there.
	MaxHeadHeightMM = 200
)

// ReasonMissingChannel: the model needs a black-blood channel the study lacks.
const ReasonMissingChannel Reason = "missing-channel"

// ModelInput is a VISIBLE pair (or a bright-only study) on the model grid,
// normalised, ready for the network.
type ModelInput struct {
	// Grid is the model grid: the manifest's spacing, axes along patient
	// LPS (i to the left, j posterior, k superior), cropped to the head and
	// padded so each size is a multiple of the manifest's layout.multiple.
	// Grid.Affine maps a model voxel to patient LPS mm exactly.
	Grid geom.Grid
	// HeadGrid is the grid over the whole head that normalisation saw;
	// Grid is the part of it around the brain the network runs over (see
	// brainbox.go), or HeadGrid itself when no brain was found to cut to.
	HeadGrid geom.Grid
	// Channels names the channels in Data's order (the manifest's order).
	Channels []string
	// Data holds the channels one after another, each Grid.Len() values
	// with x fastest: the layout [C, D, H, W] with D = Grid.Dims[2],
	// H = Grid.Dims[1], W = Grid.Dims[0].
	Data []float32
	// HeadMask marks head voxels on the model grid (from the bright channel).
	HeadMask []uint8
	// BrainMask marks the brain found on the bright channel (brainbox.go:
	// the grown brain, closed, its enclosed holes filled, widened by 4 mm)
	// on the model grid, or is nil when none was found. Metastases grow in
	// the brain: detect.GateBrain drops findings that lie mostly outside
	// it (skull base, neck, orbit, scalp).
	BrainMask []uint8
	// Source is the bright volume; results map back onto its grid and slices.
	Source *Volume
	// BlackResampled is true when the black channel's grid differed from the
	// bright one's (it was placed on the model grid through patient space).
	BlackResampled bool
	// BlackZeroed is true when a bright-only study fed a model that lists a
	// black channel (the manifest's bright_only: the channel is zeros).
	BlackZeroed bool

	toSource geom.Affine // source voxel → model voxel
}

// Channel returns the data of the named channel, or nil.
func (mi *ModelInput) Channel(name string) []float32 {
	n := mi.Grid.Len()
	for c, ch := range mi.Channels {
		if ch == name {
			return mi.Data[c*n : (c+1)*n]
		}
	}
	return nil
}

// VoxelToPatient maps a model-grid voxel index (fractional allowed) to
// patient LPS mm.
func (mi *ModelInput) VoxelToPatient(v geom.Vec3) geom.Vec3 { return mi.Grid.Affine.Apply(v) }

// PatientToSource maps patient LPS mm to a (fractional) voxel index of the
// source volume; its third coordinate rounded is the index into
// Source.Source.Slices.
func (mi *ModelInput) PatientToSource(p geom.Vec3) geom.Vec3 {
	inv, _ := mi.Source.Grid.Affine.Inverse() // checked invertible in Prepare
	return inv.Apply(p)
}

// ToSource maps a mask on the model grid (Grid.Len() values, nonzero = set)
// to the source grid. Each source voxel is sampled at 8 points (a 2×2×2
// pattern at ±¼ voxel along its own axes) and is set when more than half
// fall in set model voxels, ties going to its centre: between two lattices
// of about the same spacing, a plain nearest-neighbour lookup would shift
// the object by up to half a voxel. The result has Source.Grid.Len() values
// laid out like Source.Data (slice k is Source.Source.Slices[k]).
func (mi *ModelInput) ToSource(modelMask []uint8) ([]uint8, error) {
	if len(modelMask) != mi.Grid.Len() {
		return nil, fmt.Errorf("volume: ToSource got %d values for a %v model grid (%d voxels)", len(modelMask), mi.Grid.Dims, mi.Grid.Len())
	}
	src := mi.Source.Grid
	out := make([]uint8, src.Len())
	lo, hi, any := mi.sourceBox(func(i int) bool { return modelMask[i] != 0 })
	if !any {
		return out, nil
	}
	nx, ny := src.Dims[0], src.Dims[1]
	mx, my, mz := mi.Grid.Dims[0], mi.Grid.Dims[1], mi.Grid.Dims[2]
	m := mi.toSource
	di, dj, dk := m.Column(0), m.Column(1), m.Column(2)
	var offs [8]geom.Vec3
	for c := range offs {
		sx, sy, sz := -0.25, -0.25, -0.25
		if c&1 != 0 {
			sx = 0.25
		}
		if c&2 != 0 {
			sy = 0.25
		}
		if c&4 != 0 {
			sz = 0.25
		}
		offs[c] = di.Scale(sx).Add(dj.Scale(sy)).Add(dk.Scale(sz))
	}
	isSet := func(x, y, z float64) bool {
		i, j, k := int(math.Floor(x+0.5)), int(math.Floor(y+0.5)), int(math.Floor(z+0.5))
		return i >= 0 && j >= 0 && k >= 0 && i < mx && j < my && k < mz && modelMask[(k*my+j)*mx+i] != 0
	}
	parallelFor(hi[2]-lo[2]+1, func(k0, k1 int) {
		for k := lo[2] + k0; k < lo[2]+k1; k++ {
			for j := lo[1]; j <= hi[1]; j++ {
				p := m.Apply(geom.Vec3{float64(lo[0]), float64(j), float64(k)})
				row := out[(k*ny+j)*nx : (k*ny+j+1)*nx]
				for i := lo[0]; i <= hi[0]; i++ {
					n := 0
					for _, o := range offs {
						if isSet(p[0]+o[0], p[1]+o[1], p[2]+o[2]) {
							n++
						}
					}
					if n > 4 || (n == 4 && isSet(p[0], p[1], p[2])) {
						row[i] = 1
					}
					p[0] += di[0]
					p[1] += di[1]
					p[2] += di[2]
				}
			}
		}
	})
	return out, nil
}

// ProbabilityToSource samples a probability map on the model grid at the
// centre of every source voxel (trilinear) and marks those at or above thr.
// Smoother than ToSource when the source grid is finer than the model's.
func (mi *ModelInput) ProbabilityToSource(prob []float32, thr float32) ([]uint8, error) {
	if len(prob) != mi.Grid.Len() {
		return nil, fmt.Errorf("volume: ProbabilityToSource got %d values for a %v model grid (%d voxels)", len(prob), mi.Grid.Dims, mi.Grid.Len())
	}
	src := mi.Source.Grid
	out := make([]uint8, src.Len())
	lo, hi, any := mi.sourceBox(func(i int) bool { return prob[i] >= thr })
	if !any {
		return out, nil
	}
	s := sampler{data: prob, nx: mi.Grid.Dims[0], ny: mi.Grid.Dims[1], nz: mi.Grid.Dims[2]}
	nx, ny := src.Dims[0], src.Dims[1]
	m := mi.toSource
	di := m.Column(0)
	parallelFor(hi[2]-lo[2]+1, func(k0, k1 int) {
		for k := lo[2] + k0; k < lo[2]+k1; k++ {
			for j := lo[1]; j <= hi[1]; j++ {
				p := m.Apply(geom.Vec3{float64(lo[0]), float64(j), float64(k)})
				row := out[(k*ny+j)*nx : (k*ny+j+1)*nx]
				for i := lo[0]; i <= hi[0]; i++ {
					if v, ok := s.at(p[0], p[1], p[2]); ok && v >= thr {
						row[i] = 1
					}
					p[0] += di[0]
					p[1] += di[1]
					p[2] += di[2]
				}
			}
		}
	})
	return out, nil
}

// sourceBox returns the box of source voxels that can see a set model voxel:
// the bounding box of the set voxels, grown by one voxel (the reach of
// trilinear sampling), mapped to the source grid and clipped to it.
func (mi *ModelInput) sourceBox(set func(i int) bool) (lo, hi [3]int, any bool) {
	g := mi.Grid
	mlo := [3]int{g.Dims[0], g.Dims[1], g.Dims[2]}
	mhi := [3]int{-1, -1, -1}
	var mu sync.Mutex
	nx, ny := g.Dims[0], g.Dims[1]
	parallelFor(g.Dims[2], func(k0, k1 int) {
		l := [3]int{g.Dims[0], g.Dims[1], g.Dims[2]}
		h := [3]int{-1, -1, -1}
		for k := k0; k < k1; k++ {
			for j := 0; j < ny; j++ {
				base := (k*ny + j) * nx
				for i := 0; i < nx; i++ {
					if set(base + i) {
						l = [3]int{min(l[0], i), min(l[1], j), min(l[2], k)}
						h = [3]int{max(h[0], i), max(h[1], j), max(h[2], k)}
					}
				}
			}
		}
		mu.Lock()
		for a := 0; a < 3; a++ {
			mlo[a], mhi[a] = min(mlo[a], l[a]), max(mhi[a], h[a])
		}
		mu.Unlock()
	})
	if mhi[0] < 0 {
		return lo, hi, false
	}
	inv, err := mi.toSource.Inverse() // model voxel → source voxel
	if err != nil {
		return lo, hi, false
	}
	src := mi.Source.Grid
	for a := 0; a < 3; a++ {
		lo[a], hi[a] = src.Dims[a]-1, 0
	}
	for c := 0; c < 8; c++ {
		var v geom.Vec3
		for a := 0; a < 3; a++ {
			if c&(1<<a) == 0 {
				v[a] = float64(mlo[a]) - 1
			} else {
				v[a] = float64(mhi[a]) + 1
			}
		}
		p := inv.Apply(v)
		for a := 0; a < 3; a++ {
			lo[a] = min(lo[a], int(math.Floor(p[a]))-1)
			hi[a] = max(hi[a], int(math.Ceil(p[a]))+1)
		}
	}
	for a := 0; a < 3; a++ {
		lo[a], hi[a] = max(lo[a], 0), min(hi[a], src.Dims[a]-1)
		if lo[a] > hi[a] {
			return lo, hi, false
		}
	}
	return lo, hi, true
}

// Prepare puts a VISIBLE pair on the model grid the manifest names: both
// channels resampled (trilinear) into one LPS-aligned grid at the manifest's
// spacing, cropped to the head's bounding box plus a margin, padded to a
// multiple of layout.multiple, and normalised channel by channel as the
// manifest says, with statistics taken inside the bright channel's head mask.
// black may be nil (bright-only study). The two channels must share a frame
// of reference; when their grids differ the black channel is placed through
// patient space (one interpolation, straight onto the model grid, which is
// the same as resampling it onto the bright grid first but without a second
// blur).
func Prepare(black, bright *Volume, m *manifest.Manifest) (*ModelInput, error) {
	return prepare(black, bright, m, true)
}

// PrepareHead is Prepare without the cut to the brain: the network runs over
// the whole head grid, as it did for models before MetNet 0.3.0. It is for
// comparisons (speed, detection near the cut), not for the appliance.
func PrepareHead(black, bright *Volume, m *manifest.Manifest) (*ModelInput, error) {
	return prepare(black, bright, m, false)
}

func prepare(black, bright *Volume, m *manifest.Manifest, cut bool) (*ModelInput, error) {
	if bright == nil || m == nil {
		return nil, fmt.Errorf("volume: Prepare needs a bright volume and a manifest")
	}
	if _, err := bright.Grid.Affine.Inverse(); err != nil || len(bright.Data) != bright.Grid.Len() || bright.Grid.Len() == 0 {
		return nil, fmt.Errorf("volume: the bright volume's grid %v is empty or singular, or its data does not fit it", bright.Grid.Dims)
	}
	wantBlack := slices.Contains(m.Channels, manifest.ChannelBlack)
	mi := &ModelInput{Channels: slices.Clone(m.Channels), Source: bright}
	if wantBlack && black == nil {
		if !m.BrightOnly {
			return nil, refuse(ReasonMissingChannel, "model %s %s needs a black-blood channel and the study has none", m.Name, m.Version)
		}
		mi.BlackZeroed = true
	}
	if !wantBlack {
		black = nil
	}
	if black != nil {
		if _, err := black.Grid.Affine.Inverse(); err != nil || len(black.Data) != black.Grid.Len() || black.Grid.Len() == 0 {
			return nil, fmt.Errorf("volume: the black volume's grid %v is empty or singular, or its data does not fit it", black.Grid.Dims)
		}
		if bf, kf := forOf(bright), forOf(black); bf != kf {
			return nil, refuse(ReasonFrameOfReference, "the black-blood and bright-blood series have different frames of reference, so one cannot be placed on the other; both must come from one acquisition")
		}
		// 1e-3 mm: DICOM decimal strings round positions.
		mi.BlackResampled = !black.Grid.Near(bright.Grid, 1e-3)
	}

	// Head threshold and bounding box on the bright source grid.
	st := maskedStats(bright.Data, nil)
	p := percentiles(bright.Data, nil, st, headPct)
	thr := float32(HeadFraction * p[0])
	if !(p[0] > float64(st.min)) || !(thr > st.min) {
		return nil, refuse(ReasonNoHead, "the bright-blood image is empty or constant (values %g to %g); no head to examine", st.min, st.max)
	}
	thr = max(thr, min(float32(headNoiseMult*faceMedian(bright)), float32(headMaxFraction*p[0])))
	lo, hi, ok := headBox(bright, thr)
	if !ok {
		return nil, refuse(ReasonNoHead, "no head found in the bright-blood image (nothing above %g)", thr)
	}
	grid, err := modelGrid(bright.Grid, lo, hi, m.SpacingMM, m.Layout.Multiple)
	if err != nil {
		return nil, err
	}
	mi.Grid = grid
	n := grid.Len()
	mi.Data = make([]float32, n*len(mi.Channels))
	mi.HeadMask = make([]uint8, n)

	brightOut := mi.Channel(manifest.ChannelBright)
	if _, err := resample(brightOut, grid, bright.Grid, bright.Data); err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	threshold(mi.HeadMask, brightOut, thr)
	denoiseMask(mi.HeadMask, grid.Dims)
	if black != nil {
		blackOut := mi.Channel(manifest.ChannelBlack)
		inside, err := resample(blackOut, grid, black.Grid, black.Data)
		if err != nil {
			return nil, fmt.Errorf("volume: %w", err)
		}
		if cov := coverage(mi.HeadMask, grid, black.Grid); cov < 0.9 {
			return nil, refuse(ReasonFrameOfReference, "the black-blood series covers only %.0f%% of the head seen on the bright-blood series (%d of the model grid's voxels); both must cover the whole head", 100*cov, inside)
		}
	}
	for _, ch := range mi.Channels {
		if ch == manifest.ChannelBlack && black == nil {
			continue // zeroed
		}
		data := mi.Channel(ch)
		switch m.Normalisation.Method {
		case manifest.NormZScoreMask:
			if _, _, ok := zscore(data, mi.HeadMask); !ok {
				return nil, refuse(ReasonNoHead, "the %s channel is constant inside the head; nothing to normalise", ch)
			}
		case manifest.NormPercentile:
			if _, _, ok := percentileScale(data, mi.HeadMask, m.Normalisation.LowPct, m.Normalisation.HighPct); !ok {
				return nil, refuse(ReasonNoHead, "the %s channel is constant inside the head; nothing to normalise", ch)
			}
		default:
			return nil, fmt.Errorf("volume: normalisation %q is not supported (zscore-mask or percentile)", m.Normalisation.Method)
		}
	}
	mi.HeadGrid = mi.Grid
	if cut {
		cropToBrain(mi, brightOut, m.Layout.Multiple)
	}
	inv, err := mi.Grid.Affine.Inverse()
	if err != nil {
		return nil, fmt.Errorf("volume: model grid: %w", err)
	}
	mi.toSource = inv.Mul(bright.Grid.Affine)
	return mi, nil
}

func forOf(v *Volume) string {
	if v.Source == nil {
		return ""
	}
	return v.Source.FrameOfReferenceUID
}

// coverage is the fraction of head voxels whose centres lie inside g.
// Along a model row the centres move linearly, so the part of the row inside
// g is one interval, found from the row's ends; the head voxels are then
// counted, not mapped one by one.
func coverage(mask []uint8, model, g geom.Grid) float64 {
	m, err := voxelMap(model, g)
	if err != nil {
		return 0
	}
	var mu sync.Mutex
	in, tot := 0, 0
	nx, ny := model.Dims[0], model.Dims[1]
	di := m.Column(0)
	parallelFor(model.Dims[2], func(lo, hi int) {
		a, t := 0, 0
		for k := lo; k < hi; k++ {
			for j := 0; j < ny; j++ {
				row := mask[(k*ny+j)*nx : (k*ny+j+1)*nx]
				p := m.Apply(geom.Vec3{0, float64(j), float64(k)})
				// i in [first, last] keeps -0.5 <= p+i·di <= dims-0.5 on
				// every axis.
				first, last := 0.0, float64(nx-1)
				for ax := 0; ax < 3; ax++ {
					lim := float64(g.Dims[ax]) - 0.5
					switch d := di[ax]; {
					case d > 0:
						first = math.Max(first, (-0.5-p[ax])/d)
						last = math.Min(last, (lim-p[ax])/d)
					case d < 0:
						first = math.Max(first, (lim-p[ax])/d)
						last = math.Min(last, (-0.5-p[ax])/d)
					case p[ax] < -0.5 || p[ax] > lim:
						first, last = 1, 0
					}
				}
				i0, i1 := int(math.Ceil(first-1e-9)), int(math.Floor(last+1e-9))
				for i, v := range row {
					if v == 0 {
						continue
					}
					t++
					if i >= i0 && i <= i1 {
						a++
					}
				}
			}
		}
		mu.Lock()
		in += a
		tot += t
		mu.Unlock()
	})
	if tot == 0 {
		return 0
	}
	return float64(in) / float64(tot)
}

// headBlock is the edge, in source voxels, of the cubes headBox averages
// before thresholding.
const headBlock = 4

// headBox returns the source-voxel bounding box of the head.
//
// It thresholds the means of headBlock³ cubes, not single voxels: magnitude
// MR images carry Rician noise over the whole field of view, and at a low
// SNR a few percent of the air voxels pass thr one by one, enough to stretch
// a per-voxel box to the edges of the field of view (2.8× the voxels for the
// network to run over). The cube means of air sit near the noise floor, well
// below thr. The box is the range of cube planes along each axis holding
// enough cubes above thr (max(2, total/4000), so a stray bright cube does not
// stretch it), widened to the voxels those cubes cover.
func headBox(v *Volume, thr float32) (lo, hi [3]int, ok bool) {
	nx, ny, nz := v.Grid.Dims[0], v.Grid.Dims[1], v.Grid.Dims[2]
	bx, by, bz := (nx+headBlock-1)/headBlock, (ny+headBlock-1)/headBlock, (nz+headBlock-1)/headBlock
	cx, cy, cz := make([]int, bx), make([]int, by), make([]int, bz)
	var mu sync.Mutex
	parallelFor(bz, func(kb0, kb1 int) {
		lx, ly := make([]int, bx), make([]int, by)
		sum := make([]float64, bx)
		cnt := make([]int, bx)
		for kb := kb0; kb < kb1; kb++ {
			c := 0
			for jb := 0; jb < by; jb++ {
				clear(sum)
				clear(cnt)
				for k := kb * headBlock; k < min(nz, (kb+1)*headBlock); k++ {
					for j := jb * headBlock; j < min(ny, (jb+1)*headBlock); j++ {
						row := v.Data[(k*ny+j)*nx : (k*ny+j+1)*nx]
						for i, x := range row {
							sum[i/headBlock] += float64(x)
							cnt[i/headBlock]++
						}
					}
				}
				for ib := range sum {
					if sum[ib] > float64(thr)*float64(cnt[ib]) {
						lx[ib]++
						ly[jb]++
						c++
					}
				}
			}
			cz[kb] = c
		}
		mu.Lock()
		for i, c := range lx {
			cx[i] += c
		}
		for j, c := range ly {
			cy[j] += c
		}
		mu.Unlock()
	})
	total := 0
	for _, c := range cz {
		total += c
	}
	if total == 0 {
		return lo, hi, false
	}
	need := max(2, total/4000)
	n := [3]int{nx, ny, nz}
	for a, counts := range [3][]int{cx, cy, cz} {
		lo[a], hi[a] = -1, -1
		for i, c := range counts {
			if c >= need {
				if lo[a] < 0 {
					lo[a] = i * headBlock
				}
				hi[a] = min(n[a]-1, (i+1)*headBlock-1)
			}
		}
		if lo[a] < 0 {
			return lo, hi, false
		}
	}
	return lo, hi, true
}

// modelGrid builds the LPS-aligned grid at spacing sp covering the source
// voxel box [lo, hi] (voxel centres, plus half a voxel and HeadMarginMM),
// with each size rounded up to a multiple of mult and the padding shared
// between both ends.
func modelGrid(src geom.Grid, lo, hi [3]int, sp [3]float64, mult int) (geom.Grid, error) {
	if mult < 1 {
		mult = 1
	}
	for a := 0; a < 3; a++ {
		if !(sp[a] > 0) {
			return geom.Grid{}, fmt.Errorf("volume: model spacing %v must be positive", sp)
		}
	}
	pmin := geom.Vec3{math.Inf(1), math.Inf(1), math.Inf(1)}
	pmax := geom.Vec3{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for c := 0; c < 8; c++ {
		var v geom.Vec3
		for a := 0; a < 3; a++ {
			if c&(1<<a) == 0 {
				v[a] = float64(lo[a]) - 0.5
			} else {
				v[a] = float64(hi[a]) + 0.5
			}
		}
		p := src.Affine.Apply(v)
		for a := 0; a < 3; a++ {
			pmin[a] = math.Min(pmin[a], p[a])
			pmax[a] = math.Max(pmax[a], p[a])
		}
	}
	if pmax[2]-pmin[2] > MaxHeadHeightMM {
		pmin[2] = pmax[2] - MaxHeadHeightMM // LPS z runs to the vertex
	}
	// A source voxel centre near the middle of the box: the model lattice is
	// shifted (by less than half a voxel) to pass through it, so an axis-
	// aligned source at the model spacing is sampled without blur and a mask
	// maps back without the half-voxel shift of two offset lattices.
	var mid [3]float64
	for a := 0; a < 3; a++ {
		mid[a] = math.Round(float64(lo[a]+hi[a]) / 2)
	}
	ref := src.Affine.Apply(geom.Vec3{mid[0], mid[1], mid[2]})
	var g geom.Grid
	for a := 0; a < 3; a++ {
		lo := pmin[a] - HeadMarginMM
		ext := pmax[a] + HeadMarginMM - lo
		n := int(math.Ceil(ext/sp[a])) + 1
		padded := (n + mult - 1) / mult * mult
		if padded > 2048 {
			return geom.Grid{}, fmt.Errorf("volume: the model grid would be %d voxels along axis %d; the head box is implausibly large", padded, a)
		}
		// Centre the padded grid on the box.
		origin := lo + ext/2 - float64(padded-1)*sp[a]/2
		origin = ref[a] - math.Round((ref[a]-origin)/sp[a])*sp[a]
		g.Dims[a] = padded
		g.Affine[a][a] = sp[a]
		g.Affine[a][3] = origin
	}
	return g, nil
}
