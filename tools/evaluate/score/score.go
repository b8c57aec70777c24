package score

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrInput is returned (wrapped) when truth and prediction do not fit
// together.
var ErrInput = errors.New("score: truth and prediction do not match")

// Size bins of the longest diameter, as in DESIGN.md.
const (
	BinSmall  = "<3 mm"
	BinMedium = "3-10 mm"
	BinLarge  = ">=10 mm"
)

// Bins lists the size bins in order.
var Bins = []string{BinSmall, BinMedium, BinLarge}

// BinOf returns the size bin of a longest diameter in mm.
func BinOf(d float64) string {
	switch {
	case d < 3:
		return BinSmall
	case d < 10:
		return BinMedium
	}
	return BinLarge
}

// TruthLesion is one reference lesion: its value in the truth label volume
// and its longest diameter.
type TruthLesion struct {
	ID         int
	DiameterMM float64
}

// Input is one case to score. Truth holds lesion IDs (0 = background);
// Pred is the predicted mask (non-zero = lesion). Both are on the same grid
// of Dims, x fastest.
type Input struct {
	ID      string
	Dims    [3]int
	Truth   []uint16
	Lesions []TruthLesion
	Pred    []bool
	Seconds float64
	// VesselZone and GlandZone, when set, are the voxels on or near a blood
	// vessel and near the choroid plexus or pituitary (see Zone and
	// VesselRule): a false positive with a voxel in one counts as on it.
	// Nil: not known (false positives are then not split).
	VesselZone, GlandZone []bool
}

// LesionOutcome is what happened to one truth lesion.
type LesionOutcome struct {
	ID         int     `json:"id"`
	DiameterMM float64 `json:"diameter_mm"`
	Bin        string  `json:"bin"`
	Hit        bool    `json:"hit"`
	// Components is how many predicted components touch it.
	Components int     `json:"components"`
	Dice       float64 `json:"dice"`
}

// CaseResult is the score of one case.
type CaseResult struct {
	ID string `json:"case"`
	// Background is the real brain the case was drawn from (the phantom's
	// many-backgrounds generator); empty for the classic Colin27 phantom.
	Background string          `json:"background,omitempty"`
	Lesions    []LesionOutcome `json:"lesions"`
	Hits       int             `json:"hits"`
	// FP counts predicted components that touch no grown truth lesion.
	FP         int `json:"false_positives"`
	Components int `json:"components"`
	// VesselsKnown says the input carried a vessel zone; FPOnVessel and
	// FPOnGland count the false positives in the vessel zone and in the
	// choroid plexus / pituitary zone (a component in both counts in both).
	VesselsKnown bool `json:"vessels_known"`
	FPOnVessel   int  `json:"fp_on_vessel"`
	FPOnGland    int  `json:"fp_on_gland"`
	// Positive: the truth has a lesion; Flagged: the prediction has one.
	Positive bool `json:"positive"`
	Flagged  bool `json:"flagged"`
	// LesionDice is BraTS-METS's lesion-wise Dice: the sum of the Dice of
	// each found lesion over (hits + misses + false positives); 1 when the
	// case has neither lesions nor false positives.
	LesionDice float64 `json:"lesion_dice"`
	Seconds    float64 `json:"seconds"`
	// ReferenceSeconds is one pass of the run's speed reference, timed
	// straight after this study in the same process (0: no reference).
	ReferenceSeconds float64 `json:"reference_seconds,omitempty"`
	// FPByLocation counts the false positives by where they lie (the
	// location classes of Report.Locations); nil when not placed.
	FPByLocation map[string]int `json:"fp_by_location,omitempty"`
}

// FalsePositives returns the indices of the components that touch no truth
// lesion grown by one voxel: the false positives, by the rule
// CaseComponents counts them with.
func FalsePositives(in Input, comps [][]int) ([]int, error) {
	n := len(in.Truth)
	if n != in.Dims[0]*in.Dims[1]*in.Dims[2] {
		return nil, fmt.Errorf("%w: case %s: %d truth voxels for dims %v", ErrInput, in.ID, n, in.Dims)
	}
	nx, ny, nz := in.Dims[0], in.Dims[1], in.Dims[2]
	var out []int
	for ci, c := range comps {
		touch := false
		for _, idx := range c {
			if idx < 0 || idx >= n {
				return nil, fmt.Errorf("%w: case %s: component voxel %d outside the %v grid", ErrInput, in.ID, idx, in.Dims)
			}
			neighbours26(idx, nx, ny, nz, func(q int) {
				if in.Truth[q] != 0 {
					touch = true
				}
			})
			if touch {
				break
			}
		}
		if !touch {
			out = append(out, ci)
		}
	}
	return out, nil
}

// Case scores one case.
func Case(in Input) (CaseResult, error) {
	truthSize, err := check(in, true)
	if err != nil {
		return CaseResult{}, err
	}
	comp, ncomp := Components(in.Pred, in.Dims)
	lists := make([][]int, ncomp)
	for idx, c := range comp {
		if c != 0 {
			lists[c-1] = append(lists[c-1], idx)
		}
	}
	return scoreComponents(in, lists, truthSize)
}

// check validates an input and returns the voxel count of each truth lesion.
func check(in Input, needPred bool) (map[int]int, error) {
	n := in.Dims[0] * in.Dims[1] * in.Dims[2]
	if in.Dims[0] <= 0 || in.Dims[1] <= 0 || in.Dims[2] <= 0 {
		return nil, fmt.Errorf("%w: case %s: dims %v must be positive", ErrInput, in.ID, in.Dims)
	}
	if len(in.Truth) != n || needPred && len(in.Pred) != n {
		return nil, fmt.Errorf("%w: case %s: %d truth and %d predicted voxels for dims %v (want %d each)", ErrInput, in.ID, len(in.Truth), len(in.Pred), in.Dims, n)
	}
	if in.VesselZone != nil && len(in.VesselZone) != n || in.GlandZone != nil && len(in.GlandZone) != n {
		return nil, fmt.Errorf("%w: case %s: vessel zone of %d and gland zone of %d voxels for dims %v (want %d each, or none)", ErrInput, in.ID, len(in.VesselZone), len(in.GlandZone), in.Dims, n)
	}
	known := map[int]int{} // lesion ID -> index in in.Lesions
	for i, l := range in.Lesions {
		if l.ID <= 0 || l.ID > math.MaxUint16 {
			return nil, fmt.Errorf("%w: case %s: lesion id %d (want 1..65535)", ErrInput, in.ID, l.ID)
		}
		if _, dup := known[l.ID]; dup {
			return nil, fmt.Errorf("%w: case %s: lesion id %d listed twice", ErrInput, in.ID, l.ID)
		}
		known[l.ID] = i
	}
	truthSize := make(map[int]int)
	for _, v := range in.Truth {
		if v != 0 {
			if _, ok := known[int(v)]; !ok {
				return nil, fmt.Errorf("%w: case %s: label %d in the truth volume is not in the lesion list", ErrInput, in.ID, v)
			}
			truthSize[int(v)]++
		}
	}
	return truthSize, nil
}

// CaseComponents scores one case whose prediction is already split into
// components (flat voxel indices each), as firmware/detect returns them;
// in.Pred is ignored. The components must be disjoint; they are trusted to be
// connected, which is what makes sweeping thresholds cheap.
func CaseComponents(in Input, comps [][]int) (CaseResult, error) {
	in.Pred = nil
	n := len(in.Truth)
	for _, c := range comps {
		for _, idx := range c {
			if idx < 0 || idx >= n {
				return CaseResult{}, fmt.Errorf("%w: case %s: component voxel %d outside the %v grid", ErrInput, in.ID, idx, in.Dims)
			}
		}
	}
	truthSize, err := check(in, false)
	if err != nil {
		return CaseResult{}, err
	}
	return scoreComponents(in, comps, truthSize)
}

func scoreComponents(in Input, lists [][]int, truthSize map[int]int) (CaseResult, error) {
	ncomp := int32(len(lists))
	// touches[c] = set of truth IDs component c touches (grown by one voxel);
	// overlap[c][id] = voxels of c inside lesion id; size[c] = voxels of c.
	touches := make([]map[int]bool, ncomp+1)
	overlap := make([]map[int]int, ncomp+1)
	size := make([]int, ncomp+1)
	nx, ny, nz := in.Dims[0], in.Dims[1], in.Dims[2]
	for ci, list := range lists {
		c := int32(ci + 1)
		for _, idx := range list {
			size[c]++
			if t := in.Truth[idx]; t != 0 {
				if overlap[c] == nil {
					overlap[c] = map[int]int{}
				}
				overlap[c][int(t)]++
			}
			neighbours26(idx, nx, ny, nz, func(q int) {
				if t := in.Truth[q]; t != 0 {
					if touches[c] == nil {
						touches[c] = map[int]bool{}
					}
					touches[c][int(t)] = true
				}
			})
		}
	}
	res := CaseResult{ID: in.ID, Components: int(ncomp), Positive: len(in.Lesions) > 0, Flagged: ncomp > 0, Seconds: in.Seconds,
		VesselsKnown: in.VesselZone != nil}
	byLesion := map[int][]int32{}
	for c := int32(1); c <= ncomp; c++ {
		if len(touches[c]) == 0 {
			res.FP++
			if in.VesselZone != nil && hits(lists[c-1], in.VesselZone) {
				res.FPOnVessel++
			}
			if in.GlandZone != nil && hits(lists[c-1], in.GlandZone) {
				res.FPOnGland++
			}
			continue
		}
		for id := range touches[c] {
			byLesion[id] = append(byLesion[id], c)
		}
	}
	diceSum := 0.0
	for _, l := range in.Lesions {
		o := LesionOutcome{ID: l.ID, DiameterMM: l.DiameterMM, Bin: BinOf(l.DiameterMM)}
		cs := byLesion[l.ID]
		o.Components = len(cs)
		o.Hit = len(cs) > 0
		if o.Hit {
			res.Hits++
			p, inter := 0, 0
			for _, c := range cs {
				p += size[c]
				inter += overlap[c][l.ID]
			}
			if d := truthSize[l.ID] + p; d > 0 {
				o.Dice = 2 * float64(inter) / float64(d)
			}
			diceSum += o.Dice
		}
		res.Lesions = append(res.Lesions, o)
	}
	if den := len(in.Lesions) + res.FP; den > 0 {
		res.LesionDice = diceSum / float64(den)
	} else {
		res.LesionDice = 1
	}
	return res, nil
}

// Components labels the 26-connected components of mask (1..n, 0 =
// background), numbered in scan order.
func Components(mask []bool, dims [3]int) ([]int32, int32) {
	nx, ny, nz := dims[0], dims[1], dims[2]
	lab := make([]int32, len(mask))
	var n int32
	var stack []int
	for start, m := range mask {
		if !m || lab[start] != 0 {
			continue
		}
		n++
		lab[start] = n
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			idx := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			neighbours26(idx, nx, ny, nz, func(q int) {
				if mask[q] && lab[q] == 0 {
					lab[q] = n
					stack = append(stack, q)
				}
			})
		}
	}
	return lab, n
}

// neighbours26 calls f with the flat index of every voxel in the 3×3×3 block
// around idx that lies inside the nx×ny×nz grid (idx itself included).
func neighbours26(idx, nx, ny, nz int, f func(q int)) {
	i, j, k := idx%nx, (idx/nx)%ny, idx/(nx*ny)
	for z := max(k-1, 0); z <= min(k+1, nz-1); z++ {
		for y := max(j-1, 0); y <= min(j+1, ny-1); y++ {
			for x := max(i-1, 0); x <= min(i+1, nx-1); x++ {
				f(x + nx*(y+ny*z))
			}
		}
	}
}

// BinStat is the sensitivity in one size bin.
type BinStat struct {
	Bin         string  `json:"bin"`
	Hits        int     `json:"hits"`
	Lesions     int     `json:"lesions"`
	Sensitivity float64 `json:"sensitivity"`
}

// Summary aggregates case results.
type Summary struct {
	Cases   int `json:"cases"`
	Lesions int `json:"lesions"`
	Hits    int `json:"hits"`
	FP      int `json:"false_positives"`
	// Sensitivity is lesion-wise (hits / lesions); NaN-free: 0 with no lesions.
	Sensitivity float64 `json:"sensitivity"`
	FPPerCase   float64 `json:"fp_per_case"`
	// VesselsKnown: every case carried a vessel zone, so FPOnVessel and
	// FPOnGland (and their per-case rates) are measured.
	VesselsKnown      bool      `json:"vessels_known"`
	FPOnVessel        int       `json:"fp_on_vessel"`
	FPOnVesselPerCase float64   `json:"fp_on_vessel_per_case"`
	FPOnGland         int       `json:"fp_on_gland"`
	FPOnGlandPerCase  float64   `json:"fp_on_gland_per_case"`
	Bins              []BinStat `json:"bins"`
	// Study-level flag: sensitivity over cases with lesions, specificity
	// over cases without.
	PositiveCases    int     `json:"positive_cases"`
	NegativeCases    int     `json:"negative_cases"`
	StudySensitivity float64 `json:"study_sensitivity"`
	StudySpecificity float64 `json:"study_specificity"`
	// LesionDice is the mean of the cases' lesion-wise Dice.
	LesionDice        float64 `json:"lesion_dice"`
	SecondsPerStudy   float64 `json:"seconds_per_study"`
	MaxSecondsPerCase float64 `json:"max_seconds_per_study"`
	// With a speed reference timed after every study (Report.SpeedReference):
	// its median seconds, and the studies' seconds over the reference's,
	// summed over the cases (how long a study takes in reference passes,
	// which holds where the machine's speed drifts).
	ReferenceSeconds   float64 `json:"reference_seconds,omitempty"`
	StudyOverReference float64 `json:"study_over_reference,omitempty"`
	// FPByLocation sums the false positives by location over the
	// PlacedCases cases whose false positives were placed
	// (CaseResult.FPByLocation); nil when none were.
	FPByLocation map[string]int `json:"fp_by_location,omitempty"`
	PlacedCases  int            `json:"placed_cases,omitempty"`
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Summarize adds up case results.
func Summarize(rs []CaseResult) Summary {
	s := Summary{Cases: len(rs), VesselsKnown: len(rs) > 0}
	bh := map[string]int{}
	bn := map[string]int{}
	var tp, tn int
	for _, r := range rs {
		s.Lesions += len(r.Lesions)
		s.Hits += r.Hits
		s.FP += r.FP
		s.FPOnVessel += r.FPOnVessel
		s.FPOnGland += r.FPOnGland
		s.VesselsKnown = s.VesselsKnown && r.VesselsKnown
		for _, l := range r.Lesions {
			bn[l.Bin]++
			if l.Hit {
				bh[l.Bin]++
			}
		}
		if r.Positive {
			s.PositiveCases++
			if r.Flagged {
				tp++
			}
		} else {
			s.NegativeCases++
			if !r.Flagged {
				tn++
			}
		}
		s.LesionDice += r.LesionDice
		s.SecondsPerStudy += r.Seconds
		s.MaxSecondsPerCase = math.Max(s.MaxSecondsPerCase, r.Seconds)
	}
	s.ReferenceSeconds, s.StudyOverReference = referenceRatio(rs)
	s.FPByLocation, s.PlacedCases = locationSums(rs)
	s.Sensitivity = ratio(s.Hits, s.Lesions)
	if s.Cases > 0 {
		s.FPPerCase = float64(s.FP) / float64(s.Cases)
		s.FPOnVesselPerCase = float64(s.FPOnVessel) / float64(s.Cases)
		s.FPOnGlandPerCase = float64(s.FPOnGland) / float64(s.Cases)
		s.LesionDice /= float64(s.Cases)
		s.SecondsPerStudy /= float64(s.Cases)
	}
	for _, b := range Bins {
		s.Bins = append(s.Bins, BinStat{Bin: b, Hits: bh[b], Lesions: bn[b], Sensitivity: ratio(bh[b], bn[b])})
	}
	s.StudySensitivity = ratio(tp, s.PositiveCases)
	s.StudySpecificity = ratio(tn, s.NegativeCases)
	return s
}

// locationSums adds up the false positives by location of the cases that
// have them placed, and counts those cases; nil and 0 when none has.
func locationSums(rs []CaseResult) (map[string]int, int) {
	var sum map[string]int
	n := 0
	for _, r := range rs {
		if r.FPByLocation == nil {
			continue
		}
		if sum == nil {
			sum = map[string]int{}
		}
		n++
		for k, v := range r.FPByLocation {
			sum[k] += v
		}
	}
	return sum, n
}

// referenceRatio returns the median reference pass and the cases' study
// seconds over their reference seconds, both summed; zeros unless every case
// has a reference time.
func referenceRatio(rs []CaseResult) (median, over float64) {
	ref := make([]float64, 0, len(rs))
	var study, sum float64
	for _, r := range rs {
		if !(r.ReferenceSeconds > 0) {
			return 0, 0
		}
		ref = append(ref, r.ReferenceSeconds)
		study += r.Seconds
		sum += r.ReferenceSeconds
	}
	if len(ref) == 0 {
		return 0, 0
	}
	sort.Float64s(ref)
	n := len(ref)
	median = ref[n/2]
	if n%2 == 0 {
		median = (ref[n/2-1] + ref[n/2]) / 2
	}
	return median, study / sum
}

// ProbInput is a case with a probability map instead of a mask, for FROC.
type ProbInput struct {
	Input // Pred is ignored
	Prob  []float32
}

// FROCPoint is one operating point.
type FROCPoint struct {
	Threshold   float64 `json:"threshold"`
	Sensitivity float64 `json:"sensitivity"`
	FPPerCase   float64 `json:"fp_per_case"`
	// FPOnVesselPerCase is measured where the summary's VesselsKnown is.
	FPOnVesselPerCase float64 `json:"fp_on_vessel_per_case"`
	// NegativeCases counts the lesion-free cases, StudySpecificity the
	// share of them with nothing found at this threshold (the study
	// flag's specificity there).
	NegativeCases    int     `json:"negative_cases,omitempty"`
	StudySpecificity float64 `json:"study_specificity,omitempty"`
}

// PointOf is the FROC point at threshold t of cases summed into s.
func PointOf(t float64, s Summary) FROCPoint {
	return FROCPoint{Threshold: t, Sensitivity: s.Sensitivity, FPPerCase: s.FPPerCase, FPOnVesselPerCase: s.FPOnVesselPerCase,
		NegativeCases: s.NegativeCases, StudySpecificity: s.StudySpecificity}
}

// FROC scores every case at each threshold (a voxel is lesion when its
// probability is at least the threshold) and returns the points sorted by
// threshold.
func FROC(cases []ProbInput, thresholds []float64) ([]FROCPoint, error) {
	ts := append([]float64(nil), thresholds...)
	sort.Float64s(ts)
	var out []FROCPoint
	for _, t := range ts {
		var rs []CaseResult
		for _, c := range cases {
			in := c.Input
			in.Pred = Threshold(c.Prob, t)
			r, err := Case(in)
			if err != nil {
				return nil, err
			}
			rs = append(rs, r)
		}
		out = append(out, PointOf(t, Summarize(rs)))
	}
	return out, nil
}

// Threshold returns prob >= t.
func Threshold(prob []float32, t float64) []bool {
	m := make([]bool, len(prob))
	for i, p := range prob {
		m[i] = float64(p) >= t
	}
	return m
}
