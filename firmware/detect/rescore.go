package detect

import (
	"fmt"
	"math"

	"metsentry/runtime/manifest"
)

// The second stage (manifest output.rescore), for VISIBLE studies.
//
// The network's probability is well calibrated where it is sure and mixed
// where it is not: below its operating point sit both small lesions and
// pieces of vessel. What tells them apart is plain to measure once a
// component is cut out: an enhancing lesion stays bright on the black-blood
// image, where flowing blood is dark, and a vessel is long and thin. So the
// map is cut at a low candidate threshold, each candidate is measured
// (RescoreFeatures) and a logistic model fitted on the train split
// (models/rescore) scores it. Rescore writes that score over the candidate's
// core, and Find, at the manifest's accept level, takes it from there.

// RescoreFeatures names the measurements of a candidate, in the order
// Measure returns them. Channel values are the model input's, normalised.
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
}

// Candidate is one component of the probability map at the candidate
// threshold.
type Candidate struct {
	Voxels   []int     // flat model-grid indices
	Features []float64 // in RescoreFeatures order
	MaxProb  float64
}

// Candidates cuts prob at thr into 26-connected components and measures
// each. black and bright are the model input's channels on the same grid.
func Candidates(prob, black, bright []float32, dims [3]int, thr float64) ([]Candidate, error) {
	n := dims[0] * dims[1] * dims[2]
	if dims[0] <= 0 || dims[1] <= 0 || dims[2] <= 0 || len(prob) != n || len(black) != n || len(bright) != n {
		return nil, fmt.Errorf("%w: %d probabilities, %d black and %d bright values for a %v grid", ErrGrid, len(prob), len(black), len(bright), dims)
	}
	comps := Components(dims, func(i int) bool { return float64(prob[i]) >= thr })
	out := make([]Candidate, 0, len(comps))
	for _, c := range comps {
		out = append(out, measureCandidate(c, prob, black, bright, dims))
	}
	return out, nil
}

func measureCandidate(c []int, prob, black, bright []float32, dims [3]int) Candidate {
	var sumP, sumB, sumK, pmax, bAt, kAt float64
	var s [3]float64
	var ss [3][3]float64
	for _, i := range c {
		p := float64(prob[i])
		sumP += p
		sumB += float64(bright[i])
		sumK += float64(black[i])
		if p > pmax {
			pmax, bAt, kAt = p, float64(bright[i]), float64(black[i])
		}
		v := [3]float64{float64(i % dims[0]), float64(i / dims[0] % dims[1]), float64(i / (dims[0] * dims[1]))}
		for a := range 3 {
			s[a] += v[a]
			for b := range 3 {
				ss[a][b] += v[a] * v[b]
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
	logN := math.Log1p(nv)
	return Candidate{
		Voxels:  c,
		MaxProb: pmax,
		Features: []float64{
			logN, pmax, sumP / nv, sumB / nv, sumK / nv, bAt, kAt,
			elongation(cov), logN * pmax,
		},
	}
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

// Score is the logistic model's score of a candidate's features.
func Score(r *manifest.Rescore, features []float64) float64 {
	z := r.Bias
	for i, w := range r.Weights {
		z += w * (features[i] - r.Mean[i]) / r.Scale[i]
	}
	return 1 / (1 + math.Exp(-z))
}

// checkFeatures reports whether r names exactly RescoreFeatures.
func checkFeatures(r *manifest.Rescore) error {
	if len(r.Features) != len(RescoreFeatures) {
		return fmt.Errorf("detect: the manifest's rescore stage lists %d features; this firmware measures %d (%v)", len(r.Features), len(RescoreFeatures), RescoreFeatures)
	}
	for i, f := range r.Features {
		if f != RescoreFeatures[i] {
			return fmt.Errorf("detect: the manifest's rescore feature %d is %q; this firmware measures %q there", i, f, RescoreFeatures[i])
		}
	}
	return nil
}

// Rescore returns the score map of a VISIBLE study: every candidate of prob
// at r.Candidate scored by r, the score written over the candidate's core
// (its voxels at or above half its highest probability), 0 elsewhere. Find
// on it at r.Accept gives the lesions. It is for VISIBLE studies only: with
// a zeroed black channel (a bright-only study) every candidate would read as
// blood, so the caller uses prob at the manifest's threshold instead.
func Rescore(prob, black, bright []float32, dims [3]int, r *manifest.Rescore) ([]float32, error) {
	if r == nil {
		return nil, fmt.Errorf("detect: no rescore stage")
	}
	if err := checkFeatures(r); err != nil {
		return nil, err
	}
	cands, err := Candidates(prob, black, bright, dims, r.Candidate)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(prob))
	for _, c := range cands {
		sc := float32(Score(r, c.Features))
		core := float32(max(r.Candidate, c.MaxProb/2))
		for _, i := range c.Voxels {
			if prob[i] >= core {
				out[i] = sc
			}
		}
	}
	return out, nil
}
