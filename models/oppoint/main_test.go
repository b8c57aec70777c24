package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metsentry/tools/evaluate/score"
	"metsentry/tools/realcheck/realcheck"
)

var (
	vis    = realcheck.InputVisibleLike
	bright = realcheck.InputBrightOnly
)

func froc(pts ...[3]float64) []score.FROCPoint {
	var out []score.FROCPoint
	for _, p := range pts {
		out = append(out, score.FROCPoint{Threshold: p[0], Sensitivity: p[1], FPPerCase: p[2]})
	}
	return out
}

// negReport is a real-negatives report of two brains at levels, with
// fps[brain][level] false positives on each input.
func negReport(levels []float64, fps map[string][2][]int) realcheck.NegReport {
	r := realcheck.NegReport{Levels: levels}
	for in, brains := range fps {
		for b, counts := range brains {
			row := realcheck.NegRow{Brain: []string{"a", "b"}[b], Input: in}
			for j, n := range counts {
				row.ByLevel = append(row.ByLevel, realcheck.LevelCount{Level: levels[j], FalsePositives: n})
			}
			r.Rows = append(r.Rows, row)
		}
	}
	return r
}

func TestChoose(t *testing.T) {
	levels := []float64{0.1, 0.3, 0.6, 0.9}
	f := froc([3]float64{0.1, 0.90, 0.19}, [3]float64{0.3, 0.88, 0.12}, [3]float64{0.6, 0.85, 0.06}, [3]float64{0.9, 0.85, 0.0})
	tests := []struct {
		name  string
		fps   [2][]int
		maxFP float64
		want  float64 // 0: none
	}{
		// Val alone decides when the real negatives hold everywhere.
		{"val decides", [2][]int{{0, 0, 0, 0}, {0, 0, 0, 0}}, 0.3, 0.1},
		// A brain with two false positives at 0.1 and 0.3 rules them out;
		// 0.6 and 0.9 tie on val, and the higher level is taken.
		{"negatives bind", [2][]int{{2, 2, 0, 0}, {0, 0, 0, 0}}, 0.3, 0.9},
		// A mean over 0.3 (one each on both brains at 0.1).
		{"mean over", [2][]int{{1, 0, 0, 0}, {1, 0, 0, 0}}, 0.3, 0.3},
		// The val FP limit rules out 0.1 and 0.3; 0.6 and 0.9 tie.
		{"val fp", [2][]int{{0, 0, 0, 0}, {0, 0, 0, 0}}, 0.1, 0.9},
		{"val fp strict", [2][]int{{0, 0, 0, 0}, {0, 0, 0, 0}}, 0.2, 0.1},
		{"none", [2][]int{{2, 2, 2, 2}, {0, 0, 0, 0}}, 0.3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			neg := negReport(levels, map[string][2][]int{vis: tc.fps})
			got, rows, err := choose(f, nil, neg.SummariseLevels(), vis, rule{maxFP: tc.maxFP, minSpec: 0.9})
			if len(rows) != len(f) {
				t.Errorf("%d lines for %d levels", len(rows), len(f))
			}
			if tc.want == 0 {
				if !errors.Is(err, ErrNone) {
					t.Fatalf("chose %g (%v), want none", got.Threshold, err)
				}
				return
			}
			if err != nil || got.Threshold != tc.want {
				t.Fatalf("chose %g (%v), want %g\n%s", got.Threshold, err, tc.want, strings.Join(rows, "\n"))
			}
		})
	}
}

// run reads the tools' JSON; bright-only reads the comparison arm and the
// bright-only rows, and refuses a report without a comparison.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	levels := []float64{0.5, 0.99}
	neg := write("neg.json", negReport(levels, map[string][2][]int{vis: {{0, 0}, {0, 0}}, bright: {{3, 0}, {0, 0}}}))
	rep := score.Report{FROC: froc([3]float64{0.5, 0.9, 0.1}, [3]float64{0.99, 0.5, 0})}
	noCmp := write("val-nocmp.json", rep)
	rep.Comparison = &score.Arm{FROC: froc([3]float64{0.5, 0.6, 0.2}, [3]float64{0.99, 0.3, 0})}
	val := write("val.json", rep)

	var out strings.Builder
	vr, br := rule{maxFP: 0.3, minSpec: 0.9}, rule{maxFP: 0.3, minSpec: 0.9, brightOnly: true}
	if err := run(val, "", neg, vr, &out); err != nil || !strings.Contains(out.String(), "level 0.5: val 90.0%") {
		t.Errorf("VISIBLE: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(val, "", neg, br, &out); err != nil || !strings.Contains(out.String(), "level 0.99: val 30.0%") {
		t.Errorf("bright-only: %v\n%s", err, out.String())
	}
	// The val lesion-free studies flag at 0.5 (80% specificity): 0.99.
	lf := write("lf.json", score.Report{FROC: []score.FROCPoint{
		{Threshold: 0.5, FPPerCase: 0.2, NegativeCases: 10, StudySpecificity: 0.8},
		{Threshold: 0.99, NegativeCases: 10, StudySpecificity: 1}}})
	out.Reset()
	if err := run(val, lf, neg, vr, &out); err != nil || !strings.Contains(out.String(), "level 0.99: val 50.0%") ||
		!strings.Contains(out.String(), "val lesion-free flag specificity 80.0%, under 90%") {
		t.Errorf("with the val lesion-free studies: %v\n%s", err, out.String())
	}
	if err := run(noCmp, "", neg, br, &out); err == nil || !strings.Contains(err.Error(), "no bright-only comparison") {
		t.Errorf("bright-only without a comparison: %v", err)
	}
	if err := run(val, "", filepath.Join(dir, "missing.json"), vr, &out); err == nil {
		t.Error("a missing negatives file was accepted")
	}
	if err := run("", "", neg, vr, &out); err == nil {
		t.Error("no -val accepted")
	}
}
