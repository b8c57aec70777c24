package score

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var dims = [3]int{20, 20, 20}

func idx(i, j, k int) int { return i + dims[0]*(j+dims[1]*k) }

// vol is a hand-made case: truth voxels per lesion, predicted voxels.
type vol struct {
	truth map[int][][3]int
	diam  map[int]float64
	pred  [][3]int
}

func (v vol) input(id string) Input {
	in := Input{ID: id, Dims: dims, Truth: make([]uint16, dims[0]*dims[1]*dims[2]), Pred: make([]bool, dims[0]*dims[1]*dims[2])}
	for l := 1; l <= len(v.truth); l++ {
		for _, p := range v.truth[l] {
			in.Truth[idx(p[0], p[1], p[2])] = uint16(l)
		}
		in.Lesions = append(in.Lesions, TruthLesion{ID: l, DiameterMM: v.diam[l]})
	}
	for _, p := range v.pred {
		in.Pred[idx(p[0], p[1], p[2])] = true
	}
	return in
}

func ball(c [3]int, r int) [][3]int {
	var out [][3]int
	for z := -r; z <= r; z++ {
		for y := -r; y <= r; y++ {
			for x := -r; x <= r; x++ {
				if x*x+y*y+z*z <= r*r {
					out = append(out, [3]int{c[0] + x, c[1] + y, c[2] + z})
				}
			}
		}
	}
	return out
}

func row(x0, x1, y, z int) [][3]int {
	var out [][3]int
	for x := x0; x <= x1; x++ {
		out = append(out, [3]int{x, y, z})
	}
	return out
}

func cat(parts ...[][3]int) [][3]int {
	var out [][3]int
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var (
	lesA = ball([3]int{5, 5, 5}, 2)  // 33 voxels, 5 mm
	lesB = [][3]int{{15, 15, 15}}    // one voxel, 1.5 mm
	fp   = ball([3]int{15, 3, 3}, 1) // 7 voxels far from both
	two  = map[int][][3]int{1: lesA, 2: lesB}
	dia  = map[int]float64{1: 5, 2: 1.5}
	bar  = row(2, 9, 15, 5)  // 8 voxels, 8 mm
	left = row(2, 4, 10, 10) // 3 voxels
	rght = row(7, 9, 10, 10) // 3 voxels
	mrg  = row(2, 9, 10, 10) // 8 voxels over both
	one  = map[int][][3]int{1: {{10, 10, 10}}}
)

func TestCaseHandMade(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    vol
		want CaseResult
	}{
		{"perfect", vol{truth: two, diam: dia, pred: cat(lesA, lesB)}, CaseResult{
			Lesions: []LesionOutcome{{1, 5, BinMedium, true, 1, 1}, {2, 1.5, BinSmall, true, 1, 1}},
			Hits:    2, Components: 2, Positive: true, Flagged: true, LesionDice: 1}},
		{"all missed", vol{truth: two, diam: dia}, CaseResult{
			Lesions:  []LesionOutcome{{1, 5, BinMedium, false, 0, 0}, {2, 1.5, BinSmall, false, 0, 0}},
			Positive: true}},
		{"one false positive", vol{truth: two, diam: dia, pred: cat(lesA, lesB, fp)}, CaseResult{
			Lesions: []LesionOutcome{{1, 5, BinMedium, true, 1, 1}, {2, 1.5, BinSmall, true, 1, 1}},
			Hits:    2, FP: 1, Components: 3, Positive: true, Flagged: true, LesionDice: 2.0 / 3}},
		{"one lesion split in two", vol{truth: map[int][][3]int{1: bar}, diam: map[int]float64{1: 8}, pred: cat(row(2, 4, 15, 5), row(7, 9, 15, 5))}, CaseResult{
			Lesions: []LesionOutcome{{1, 8, BinMedium, true, 2, 2.0 * 6 / (8 + 6)}},
			Hits:    1, Components: 2, Positive: true, Flagged: true, LesionDice: 12.0 / 14}},
		{"two lesions merged", vol{truth: map[int][][3]int{1: left, 2: rght}, diam: map[int]float64{1: 3, 2: 3}, pred: mrg}, CaseResult{
			Lesions: []LesionOutcome{{1, 3, BinMedium, true, 1, 6.0 / 11}, {2, 3, BinMedium, true, 1, 6.0 / 11}},
			Hits:    2, Components: 1, Positive: true, Flagged: true, LesionDice: 6.0 / 11}},
		{"touching the grown lesion is a hit", vol{truth: one, diam: map[int]float64{1: 1.5}, pred: [][3]int{{11, 11, 11}}}, CaseResult{
			Lesions: []LesionOutcome{{1, 1.5, BinSmall, true, 1, 0}},
			Hits:    1, Components: 1, Positive: true, Flagged: true, LesionDice: 0}},
		{"two voxels away is a miss and a false positive", vol{truth: one, diam: map[int]float64{1: 1.5}, pred: [][3]int{{12, 10, 10}}}, CaseResult{
			Lesions: []LesionOutcome{{1, 1.5, BinSmall, false, 0, 0}},
			FP:      1, Components: 1, Positive: true, Flagged: true, LesionDice: 0}},
		{"lesion-free, nothing predicted", vol{}, CaseResult{LesionDice: 1}},
		{"lesion-free, one false positive", vol{pred: fp}, CaseResult{FP: 1, Components: 1, Flagged: true, LesionDice: 0}},
		{"large lesion", vol{truth: map[int][][3]int{1: ball([3]int{10, 10, 10}, 6)}, diam: map[int]float64{1: 13}, pred: ball([3]int{10, 10, 10}, 6)}, CaseResult{
			Lesions: []LesionOutcome{{1, 13, BinLarge, true, 1, 1}},
			Hits:    1, Components: 1, Positive: true, Flagged: true, LesionDice: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.v.input(tc.name)
			got, err := Case(in)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.ID = tc.name
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateApprox(0, 1e-12), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// the same answer from components handed over as voxel lists
			lab, n := Components(in.Pred, in.Dims)
			lists := make([][]int, n)
			for idx, c := range lab {
				if c != 0 {
					lists[c-1] = append(lists[c-1], idx)
				}
			}
			got2, err := CaseComponents(in, lists)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got2, cmpopts.EquateApprox(0, 1e-12), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("CaseComponents (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	var rs []CaseResult
	for i, v := range []vol{
		{truth: two, diam: dia, pred: cat(lesA, lesB)}, // 2/2, 0 FP, flagged
		{truth: two, diam: dia, pred: cat(lesA, fp)},   // 1/2 (small missed), 1 FP
		{truth: two, diam: dia},                        // 0/2, missed study
		{pred: fp},                                     // negative, flagged (FP)
		{},                                             // negative, clean
		{truth: map[int][][3]int{1: bar}, diam: map[int]float64{1: 12}, pred: bar}, // large found
	} {
		in := v.input(string(rune('a' + i)))
		in.Seconds = float64(i + 1)
		r, err := Case(in)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	got := Summarize(rs)
	want := Summary{
		Cases: 6, Lesions: 7, Hits: 4, FP: 2,
		Sensitivity: 4.0 / 7, FPPerCase: 2.0 / 6,
		Bins: []BinStat{
			{BinSmall, 1, 3, 1.0 / 3},
			{BinMedium, 2, 3, 2.0 / 3},
			{BinLarge, 1, 1, 1},
		},
		PositiveCases: 4, NegativeCases: 2,
		StudySensitivity: 3.0 / 4, StudySpecificity: 1.0 / 2,
		// lesion-wise Dice per case: 1, (1+0)/(2+1), 0, 0, 1, 1
		LesionDice:        (1 + 1.0/3 + 0 + 0 + 1 + 1) / 6,
		SecondsPerStudy:   3.5,
		MaxSecondsPerCase: 6,
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A speed reference timed after every study gives its median and the
// studies' seconds over its seconds, summed; one study without a reference
// time leaves both out rather than skew them.
func TestSummarizeReference(t *testing.T) {
	rs := []CaseResult{{Seconds: 3, ReferenceSeconds: 2}, {Seconds: 4, ReferenceSeconds: 4}, {Seconds: 2, ReferenceSeconds: 3}}
	s := Summarize(rs)
	if s.ReferenceSeconds != 3 || math.Abs(s.StudyOverReference-9.0/9) > 1e-12 {
		t.Errorf("median %g, ratio %g; want 3 and 1", s.ReferenceSeconds, s.StudyOverReference)
	}
	s = Summarize(rs[:2])
	if s.ReferenceSeconds != 3 || math.Abs(s.StudyOverReference-7.0/6) > 1e-12 {
		t.Errorf("two cases: median %g, ratio %g; want 3 and 7/6", s.ReferenceSeconds, s.StudyOverReference)
	}
	rs = append(rs, CaseResult{Seconds: 5})
	if s := Summarize(rs); s.ReferenceSeconds != 0 || s.StudyOverReference != 0 {
		t.Errorf("a case without a reference time: median %g, ratio %g; want none", s.ReferenceSeconds, s.StudyOverReference)
	}
	if s := Summarize(nil); s.ReferenceSeconds != 0 || s.StudyOverReference != 0 {
		t.Errorf("no cases: median %g, ratio %g", s.ReferenceSeconds, s.StudyOverReference)
	}
}

func TestFROC(t *testing.T) {
	in := vol{truth: two, diam: dia}.input("froc")
	prob := make([]float32, len(in.Truth))
	for _, p := range lesA {
		prob[idx(p[0], p[1], p[2])] = 0.9
	}
	for _, p := range lesB {
		prob[idx(p[0], p[1], p[2])] = 0.6
	}
	for _, p := range fp {
		prob[idx(p[0], p[1], p[2])] = 0.4
	}
	// A lesion-free case holding the same faint false positive: the flag's
	// specificity is 0 where the false positive is found, 1 above it.
	neg := vol{}.input("froc-negative")
	negProb := make([]float32, len(neg.Truth))
	for _, p := range fp {
		negProb[idx(p[0], p[1], p[2])] = 0.4
	}
	got, err := FROC([]ProbInput{{Input: in, Prob: prob}, {Input: neg, Prob: negProb}}, []float64{0.95, 0.3, 0.5, 0.7})
	if err != nil {
		t.Fatal(err)
	}
	want := []FROCPoint{{0.3, 1, 1, 0, 1, 0}, {0.5, 1, 0, 0, 1, 1}, {0.7, 0.5, 0, 0, 1, 1}, {0.95, 0, 0, 0, 1, 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestComponents(t *testing.T) {
	in := vol{pred: cat(lesA, lesB, [][3]int{{16, 16, 16}}, fp)}.input("c")
	_, n := Components(in.Pred, dims)
	if n != 3 { // lesB and (16,16,16) touch diagonally: one component
		t.Errorf("%d components, want 3", n)
	}
}

func TestCaseErrors(t *testing.T) {
	good := vol{truth: two, diam: dia}.input("e")
	for _, tc := range []struct {
		name string
		mod  func(*Input)
	}{
		{"short prediction", func(in *Input) { in.Pred = in.Pred[:10] }},
		{"short truth", func(in *Input) { in.Truth = in.Truth[:10] }},
		{"bad dims", func(in *Input) { in.Dims = [3]int{0, 20, 20} }},
		{"label not listed", func(in *Input) { in.Lesions = in.Lesions[:1] }},
		{"duplicate id", func(in *Input) { in.Lesions = append(in.Lesions, in.Lesions[0]) }},
		{"zero id", func(in *Input) { in.Lesions[0].ID = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := good
			in.Lesions = append([]TruthLesion(nil), good.Lesions...)
			tc.mod(&in)
			if _, err := Case(in); !errors.Is(err, ErrInput) {
				t.Errorf("got %v, want ErrInput", err)
			}
		})
	}
	if math.IsNaN(Summarize(nil).Sensitivity) {
		t.Error("empty summary gives NaN")
	}
}

func TestReport(t *testing.T) {
	r := Report{Data: "hand-made", Split: "test", Generator: "phantom/x", Seeds: []uint64{0, 1, 2, 5}, Detector: "d", Threshold: 0.5, Mode: "files"}
	in := vol{truth: two, diam: dia, pred: cat(lesA, fp)}.input("a")
	res, err := Case(in)
	if err != nil {
		t.Fatal(err)
	}
	r.Cases = []CaseResult{res}
	r.Summary = Summarize(r.Cases)
	r.FROC = []FROCPoint{{Threshold: 0.3, Sensitivity: 0.5, FPPerCase: 1}, {Threshold: 0.5, Sensitivity: 0.5, FPPerCase: 1}, {Threshold: 0.9}}
	var md, js, png strings.Builder
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(md.String(), "speed reference") {
		t.Errorf("markdown names a speed reference the run did not time:\n%s", md.String())
	}
	r.SpeedReference = "the bench U-Net"
	r.Cases[0].Seconds, r.Cases[0].ReferenceSeconds = 3, 2.5
	r.Summary = Summarize(r.Cases)
	md.Reset()
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"split: **test**", "generator **phantom/x**", "seeds 0-2,5 (4 cases)", "| lesion-wise sensitivity | 50.0% (1/2) |", "| false positives per case | 1.00 (1 in 1 cases) |", "| sensitivity <3 mm | 0.0% (0/1) |",
		// One case, with lesions: no lesion-free case, so no specificity to give.
		"| study flag specificity | n/a (0 lesion-free cases) |", "| sensitivity >=10 mm | n/a (0/0) |",
		"| seconds per study over the speed reference's | 1.200 (reference 2.50 s, median; timed after each study: the bench U-Net) |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"split": "test"`, `"generator": "phantom/x"`, `"seeds": [`, `"speed_reference": "the bench U-Net"`, `"reference_seconds": 2.5`, `"study_over_reference": 1.2`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("json lacks %q", want)
		}
	}
	if err := r.PlotFROC(&png); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(png.String(), "\x89PNG") {
		t.Error("FROC plot is not a PNG")
	}
	r.FROC = nil
	if err := r.PlotFROC(&png); err == nil {
		t.Error("plotting no points gave no error")
	}
}

// The FROC table gains the flag's specificity where lesion-free cases were
// scored, and only there.
func TestFROCMarkdownSpecificity(t *testing.T) {
	pts := []FROCPoint{{Threshold: 0.5, Sensitivity: 1, FPPerCase: 0.5, NegativeCases: 2, StudySpecificity: 0.5}}
	md := frocMarkdown("FROC", pts, true)
	if !strings.Contains(md, "| FP on vessels per case | study flag specificity |") || !strings.Contains(md, "| 0.5 | 100.0% | 0.50 | 0.00 | 50.0% |") {
		t.Errorf("with lesion-free cases:\n%s", md)
	}
	pts[0].NegativeCases = 0
	if md := frocMarkdown("FROC", pts, false); strings.Contains(md, "specificity") {
		t.Errorf("without lesion-free cases:\n%s", md)
	}
}
