package detect

import (
	"fmt"
	"math"
	"slices"

	"metsentry/runtime/manifest"
)

// The second stage (manifest output.rescore), for VISIBLE studies, and its
// bright-only counterpart (output.rescore_bright_only).
//
// The network's probability is well calibrated where it is sure and mixed
// where it is not: below its operating point sit both small lesions and
// pieces of vessel. What tells them apart is plain to measure once a
// component is cut out: an enhancing lesion stays bright on the black-blood
// image, where flowing blood is dark, and a vessel is long and thin. So the
// map is cut at a low candidate threshold, each candidate is measured
// (RescoreFeatures) and a small model fitted on the train split
// (models/rescore: logistic, or with a hidden layer of tanh units) scores
// it. Rescore writes that score over the candidate's
// core, and Find, at the manifest's accept level, takes it from there. A
// bright-only study has only the shape, the probabilities and the
// bright-blood contrast to go on; its stage weighs those alone.

// RescoreFeatures names every measurement of a candidate this firmware
// makes, in the order Candidate.Features holds them. A manifest's stage
// lists the ones its weights apply to, by name, in its own order (so a
// stage fitted on fewer keeps working when the firmware measures more).
// Channel values are the model input's, normalised. The core is the
// candidate's voxels at or above half its highest probability (and the
// candidate threshold); the shell is the voxels two steps outside the
// candidate (Chebyshev distance 2 on the grid): the tissue it sits in.
var RescoreFeatures = []string{
	"log_voxels",            // ln(1 + voxels in the component)
	"max_prob",              // highest probability
	"mean_prob",             // mean probability
	"mean_bright",           // mean bright-blood value
	"mean_black",            // mean black-blood value
	"bright_at_max",         // bright-blood value at the most probable voxel
	"black_at_max",          // black-blood value there
	"elongation",            // largest share of the voxel positions' variance along one axis (1/3 a ball, 1 a line)
	"log_voxels_x_max_prob", // log_voxels × max_prob
	"core_black",            // mean black-blood value over the core
	"core_bright",           // mean bright-blood value over the core
	"black_contrast",        // core_black − the shell's mean black-blood value
	"bright_contrast",       // core_bright − the shell's mean bright-blood value
	"black_contrast_z",      // black_contrast / (the shell's black-blood sd + 0.1): contrast over the local texture and noise
	"bright_contrast_z",     // the same on bright-blood
	"bright_minus_black",    // core_bright − core_black: flowing blood is bright on one and dark on the other
	"logit_max",             // ln(max_prob / (1 − max_prob)), max_prob held within [1e-6, 1 − 1e-6]: the network's confidence unsquashed
	"log_core_voxels",       // ln(1 + voxels in the core)
	"ventricle_share",       // share of the voxels in the ventricles' zone (VentricleZone: where the choroid plexus lies); 0 without a brain mask
}

// needsBlack are the RescoreFeatures measured on the black-blood channel. A
// bright-only study has none (the channel is zeroed), so a stage for such
// studies must not name them.
var needsBlack = []string{"mean_black", "black_at_max", "core_black", "black_contrast", "black_contrast_z", "bright_minus_black"}

// BrightOnlyFeatures returns the RescoreFeatures that need no black-blood
// image: what a stage for bright-only studies may weigh.
func BrightOnlyFeatures() []string {
	return slices.DeleteFunc(slices.Clone(RescoreFeatures), func(f string) bool { return slices.Contains(needsBlack, f) })
}

// CheckBrightOnly refuses measurements a bright-only stage must not weigh:
// on a bright-only study a black-blood measurement would score the zeroed
// channel.
func CheckBrightOnly(features []string) error {
	for _, f := range features {
		if slices.Contains(needsBlack, f) {
			return fmt.Errorf("detect: a bright-only stage weighs %q, which needs the black-blood image", f)
		}
	}
	return nil
}

// Candidate is one component of the probability map at the candidate
// threshold.
type Candidate struct {
	Voxels   []int     // flat model-grid indices
	Features []float64 // in RescoreFeatures order
	MaxProb  float64
	// CoreAt is the probability at and above which a voxel belongs to the
	// candidate's core: half its peak, and never under the candidate
	// threshold. The core is measured, and Rescore writes the score over it.
	CoreAt float32
}

// Candidates cuts prob at thr into 26-connected components and measures
// each. black and bright are the model input's channels on the same grid;
// brain is the study's brain mask there (volume.ModelInput.BrainMask; nil
// when none was found), which places the ventricles.
func Candidates(prob, black, bright []float32, brain []uint8, dims [3]int, thr float64) ([]Candidate, error) {
	if err := checkGrid(prob, black, bright, brain, dims); err != nil {
		return nil, err
	}
	return candidates(prob, black, bright, brain, true, dims, thr), nil
}

// checkGrid refuses maps and channels (and a brain mask, when there is one)
// that do not fill the grid dims.
func checkGrid(prob, black, bright []float32, brain []uint8, dims [3]int) error {
	n := dims[0] * dims[1] * dims[2]
	if dims[0] <= 0 || dims[1] <= 0 || dims[2] <= 0 || len(prob) != n || len(black) != n || len(bright) != n {
		return fmt.Errorf("%w: %d probabilities, %d black and %d bright values for a %v grid", ErrGrid, len(prob), len(black), len(bright), dims)
	}
	if brain != nil && len(brain) != n {
		return fmt.Errorf("%w: a brain mask of %d voxels for a %v grid", ErrGrid, len(brain), dims)
	}
	return nil
}

// candidates is Candidates on checked inputs; the ventricles' zone is found
// only when withZone (else ventricle_share reads 0), as it takes a while and
// a stage that does not weigh it need not wait for it.
func candidates(prob, black, bright []float32, brain []uint8, withZone bool, dims [3]int, thr float64) []Candidate {
	comps := Components(dims, func(i int) bool { return float64(prob[i]) >= thr })
	var zone []bool
	if withZone && len(comps) > 0 {
		zone = VentricleZone(bright, brain, dims)
	}
	out := make([]Candidate, 0, len(comps))
	for _, c := range comps {
		out = append(out, measureCandidate(c, prob, black, bright, zone, dims, thr))
	}
	return out
}

// channelStats sums one channel's values over a set of voxels.
type channelStats struct{ n, sum, sumSq float64 }

func (s *channelStats) add(v float32) {
	s.n++
	s.sum += float64(v)
	s.sumSq += float64(v) * float64(v)
}

func (s channelStats) mean() float64 { return s.sum / s.n }

func (s channelStats) sd() float64 {
	m := s.mean()
	return math.Sqrt(max(0, s.sumSq/s.n-m*m))
}

func measureCandidate(c []int, prob, black, bright []float32, zone []bool, dims [3]int, thr float64) Candidate {
	var sumP, sumB, sumK, pmax, bAt, kAt, inZone float64
	var s [3]float64
	var ss [3][3]float64
	for _, i := range c {
		p := float64(prob[i])
		sumP += p
		sumB += float64(bright[i])
		sumK += float64(black[i])
		if zone != nil && zone[i] {
			inZone++
		}
		if p > pmax {
			pmax, bAt, kAt = p, float64(bright[i]), float64(black[i])
		}
		v := voxelAt(i, dims)
		for a := range 3 {
			s[a] += float64(v[a])
			for b := range 3 {
				ss[a][b] += float64(v[a] * v[b])
			}
		}
	}
	nv := float64(len(c))
	var cov [3][3]float64
	for a := range 3 {
		for b := range 3 {
			cov[a][b] = ss[a][b]/nv - s[a]/nv*s[b]/nv
		}
	}
	coreAt := float32(max(thr, pmax/2)) // Candidate.CoreAt
	var coreK, coreB channelStats
	for _, i := range c {
		if prob[i] >= coreAt {
			coreK.add(black[i])
			coreB.add(bright[i])
		}
	}
	shellK, shellB := shell(c, black, bright, dims)
	if shellK.n == 0 { // the component fills the grid: no tissue around it
		shellK, shellB = coreK, coreB
	}
	kCon, bCon := coreK.mean()-shellK.mean(), coreB.mean()-shellB.mean()
	// ONNX Runtime's sigmoid can return a hair over 1 in float32.
	q := min(max(pmax, 1e-6), 1-1e-6)
	logN := math.Log1p(nv)
	return Candidate{
		Voxels:  c,
		MaxProb: pmax,
		CoreAt:  coreAt,
		Features: []float64{
			logN, pmax, sumP / nv, sumB / nv, sumK / nv, bAt, kAt,
			elongation(cov), logN * pmax,
			coreK.mean(), coreB.mean(), kCon, bCon,
			kCon / (shellK.sd() + 0.1), bCon / (shellB.sd() + 0.1),
			coreB.mean() - coreK.mean(),
			math.Log(q / (1 - q)),
			math.Log1p(coreK.n),
			inZone / nv,
		},
	}
}

// shell sums both channels over the voxels at Chebyshev distance exactly 2
// from the component c (within the grid).
func shell(c []int, black, bright []float32, dims [3]int) (k, b channelStats) {
	lo := [3]int{dims[0], dims[1], dims[2]}
	hi := [3]int{-1, -1, -1}
	for _, i := range c {
		v := voxelAt(i, dims)
		for a := range 3 {
			lo[a], hi[a] = min(lo[a], v[a]), max(hi[a], v[a])
		}
	}
	var size [3]int
	for a := range 3 {
		lo[a], hi[a] = max(0, lo[a]-2), min(dims[a]-1, hi[a]+2)
		size[a] = hi[a] - lo[a] + 1
	}
	// dist holds each box voxel's Chebyshev distance to the component,
	// capped at 3.
	dist := make([]uint8, size[0]*size[1]*size[2])
	for i := range dist {
		dist[i] = 3
	}
	for _, i := range c {
		v := voxelAt(i, dims)
		for dz := -2; dz <= 2; dz++ {
			z := v[2] + dz - lo[2]
			if z < 0 || z >= size[2] {
				continue
			}
			for dy := -2; dy <= 2; dy++ {
				y := v[1] + dy - lo[1]
				if y < 0 || y >= size[1] {
					continue
				}
				for dx := -2; dx <= 2; dx++ {
					x := v[0] + dx - lo[0]
					if x < 0 || x >= size[0] {
						continue
					}
					d := uint8(max(abs(dx), abs(dy), abs(dz)))
					if j := x + size[0]*(y+size[1]*z); d < dist[j] {
						dist[j] = d
					}
				}
			}
		}
	}
	for z := range size[2] {
		for y := range size[1] {
			for x := range size[0] {
				if dist[x+size[0]*(y+size[1]*z)] == 2 {
					i := (x + lo[0]) + dims[0]*((y+lo[1])+dims[1]*(z+lo[2]))
					k.add(black[i])
					b.add(bright[i])
				}
			}
		}
	}
	return k, b
}

// voxelAt is the (i, j, k) position of flat grid index i, x fastest.
func voxelAt(i int, dims [3]int) [3]int {
	return [3]int{i % dims[0], i / dims[0] % dims[1], i / (dims[0] * dims[1])}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// elongation is the largest eigenvalue of the 3×3 covariance cov over its
// trace: 1/3 for a ball, 1 for a line, 1/3 for a single voxel (no spread).
func elongation(cov [3][3]float64) float64 {
	tr := cov[0][0] + cov[1][1] + cov[2][2]
	if !(tr > 1e-12) {
		return 1.0 / 3
	}
	// Power iteration from a start no eigenvector of a symmetric 3×3 is
	// orthogonal to in practice; the covariance is positive semidefinite.
	v := [3]float64{1, 0.7, 0.3}
	lam := 0.0
	for range 50 {
		var w [3]float64
		for a := range 3 {
			for b := range 3 {
				w[a] += cov[a][b] * v[b]
			}
		}
		lam = math.Sqrt(w[0]*w[0] + w[1]*w[1] + w[2]*w[2])
		if lam == 0 {
			return 1.0 / 3
		}
		for a := range 3 {
			v[a] = w[a] / lam
		}
	}
	return lam / tr
}

// stage is a manifest's rescore model bound to this firmware's
// measurements: at[i] is where the stage's feature i sits in
// Candidate.Features.
type stage struct {
	r  *manifest.Rescore
	at []int
}

// FeatureColumns returns where each named measurement sits in
// Candidate.Features (RescoreFeatures order); a name this firmware does not
// measure is refused, not scored with the wrong numbers.
func FeatureColumns(names []string) ([]int, error) {
	at := make([]int, len(names))
	for i, f := range names {
		if at[i] = slices.Index(RescoreFeatures, f); at[i] < 0 {
			return nil, fmt.Errorf("detect: no measurement %q; this firmware measures %v", f, RescoreFeatures)
		}
	}
	return at, nil
}

// bind resolves the stage's feature names against RescoreFeatures.
func bind(r *manifest.Rescore) (stage, error) {
	n := len(r.Features)
	units := n
	if h := r.Hidden; h != nil {
		units = len(h.Bias)
		if len(h.Weights) != units {
			return stage{}, fmt.Errorf("detect: the manifest's rescore stage has %d hidden weight rows and %d biases", len(h.Weights), units)
		}
		for k, row := range h.Weights {
			if len(row) != n {
				return stage{}, fmt.Errorf("detect: the manifest's rescore stage's hidden unit %d has %d weights for %d features", k, len(row), n)
			}
		}
	}
	if len(r.Weights) != units || len(r.Mean) != n || len(r.Scale) != n {
		return stage{}, fmt.Errorf("detect: the manifest's rescore stage has %d features, %d means, %d scales and %d weights (for %d units)", n, len(r.Mean), len(r.Scale), len(r.Weights), units)
	}
	at, err := FeatureColumns(r.Features)
	if err != nil {
		return stage{}, fmt.Errorf("detect: the manifest's rescore stage: %w", err)
	}
	return stage{r: r, at: at}, nil
}

// score is the stage's score of a candidate's features (in
// RescoreFeatures order): the logistic of its output unit, which weighs
// the standardised features or, with a hidden layer, its tanh units.
func (s stage) score(features []float64) float64 {
	z := make([]float64, len(s.at))
	for i, at := range s.at {
		z[i] = (features[at] - s.r.Mean[i]) / s.r.Scale[i]
	}
	if h := s.r.Hidden; h != nil {
		u := make([]float64, len(h.Bias))
		for k, row := range h.Weights {
			a := h.Bias[k]
			for i, w := range row {
				a += w * z[i]
			}
			u[k] = math.Tanh(a)
		}
		z = u
	}
	out := s.r.Bias
	for i, w := range s.r.Weights {
		out += w * z[i]
	}
	return 1 / (1 + math.Exp(-out))
}

// Score is the stage r's score of a candidate's features (in
// RescoreFeatures order).
func Score(r *manifest.Rescore, features []float64) (float64, error) {
	s, err := bind(r)
	if err != nil {
		return 0, err
	}
	return s.score(features), nil
}

// Rescore returns the score map of a study: every candidate of prob at
// r.Candidate scored by r, the score written over the candidate's core (its
// voxels at or above half its highest probability), 0 elsewhere. Find on it
// at r.Accept gives the lesions. A piece of core that r's mass rule covers
// (manifest.Rescore.MassVoxels) scores at least its peak probability. A
// stage fitted on VISIBLE studies reads black-blood values: with a zeroed
// black channel (a bright-only study) every candidate would read as blood,
// so OperatingMap gives a bright-only study the manifest's bright-only
// stage, or none.
func Rescore(prob, black, bright []float32, brain []uint8, dims [3]int, r *manifest.Rescore) ([]float32, error) {
	if r == nil {
		return nil, fmt.Errorf("detect: no rescore stage")
	}
	st, err := bind(r)
	if err != nil {
		return nil, err
	}
	if err := checkGrid(prob, black, bright, brain, dims); err != nil {
		return nil, err
	}
	cands := candidates(prob, black, bright, brain, slices.Contains(r.Features, "ventricle_share"), dims, r.Candidate)
	out := make([]float32, len(prob))
	for _, c := range cands {
		sc := float32(st.score(c.Features))
		for _, i := range c.Voxels {
			if prob[i] >= c.CoreAt {
				out[i] = sc
			}
		}
		if r.MassVoxels > 0 && c.MaxProb >= r.MassProb && len(c.Voxels) >= r.MassVoxels {
			masses(out, prob, c, dims, r, sc)
		}
	}
	return out, nil
}

// masses applies r's mass rule to candidate c, whose core out holds at
// score sc: each connected piece of the core with at least r.MassVoxels
// voxels and a peak of at least r.MassProb scores at least that peak. The
// rule reads pieces, not the candidate: at the candidate level a mass's
// haze can join vessels to it, whose cores are no part of the mass. A voxel
// at or above CoreAt next to the candidate is the candidate's (CoreAt is
// never under the candidate threshold), so the pieces grow from its voxels
// on the probability alone.
func masses(out, prob []float32, c Candidate, dims [3]int, r *manifest.Rescore, sc float32) {
	for _, piece := range componentsFrom(dims, c.Voxels, func(i int) bool { return prob[i] >= c.CoreAt }) {
		if len(piece) < r.MassVoxels {
			continue
		}
		var peak float32
		for _, i := range piece {
			peak = max(peak, prob[i])
		}
		if float64(peak) >= r.MassProb {
			for _, i := range piece {
				out[i] = max(sc, peak)
			}
		}
	}
}

// Stage returns the manifest's second stage for a study: output.rescore
// for a VISIBLE one (visible: the black-blood channel was measured),
// output.rescore_bright_only for a bright-only one; nil when the manifest
// has none for it. A bright-only stage naming a black-blood measurement is
// refused (CheckBrightOnly).
func Stage(o manifest.Output, visible bool) (*manifest.Rescore, error) {
	r := stageOf(o, visible)
	if r != nil && !visible {
		if err := CheckBrightOnly(r.Features); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// OperatingPoint is the manifest's operating point for a study: with a
// stage for it (Stage), the stage's accept level on its score map;
// otherwise the network's threshold on its probability map. Both keep the
// manifest's smallest component.
func OperatingPoint(o manifest.Output, visible bool) Params {
	return operatingPoint(o, stageOf(o, visible))
}

// operatingPoint is the manifest's operating point with stage r (nil: the
// network's threshold).
func operatingPoint(o manifest.Output, r *manifest.Rescore) Params {
	p := ParamsFromManifest(o)
	if r != nil {
		p.Threshold = r.Accept
	}
	return p
}

// stageOf is Stage's choice, without its check (OperatingMap makes it).
func stageOf(o manifest.Output, visible bool) *manifest.Rescore {
	if visible {
		return o.Rescore
	}
	return o.RescoreBrightOnly
}

// OperatingMap returns the map OperatingPoint applies to, with it: the
// stage's score map (Rescore) when the manifest has a stage for the study
// (Stage), else prob itself. black may be nil for a bright-only study. Find
// on the map at the returned Params gives the study's lesions; this is the
// one place the choice is made, for the appliance and the tools alike.
func OperatingMap(prob, black, bright []float32, brain []uint8, dims [3]int, o manifest.Output, visible bool) ([]float32, Params, error) {
	r, err := Stage(o, visible)
	if err != nil {
		return nil, Params{}, err
	}
	p := operatingPoint(o, r)
	if r == nil {
		return prob, p, nil
	}
	if black == nil && !visible {
		black = make([]float32, len(prob))
	}
	score, err := Rescore(prob, black, bright, brain, dims, r)
	if err != nil {
		return nil, Params{}, err
	}
	return score, p, nil
}
