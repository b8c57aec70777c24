package score

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"strings"
	"testing"
)

// compareReport is a report of two studies on two brains with a bright-only
// comparison: VISIBLE clean, bright-only with false positives on vessels.
func compareReport() *Report {
	cases := []CaseResult{
		{ID: "test-0000", Background: "brain-a", Lesions: []LesionOutcome{{ID: 1, Bin: BinSmall, Hit: true}}, Hits: 1, VesselsKnown: true, Positive: true, Flagged: true, LesionDice: 0.8},
		{ID: "test-0001", Background: "brain-b", VesselsKnown: true, LesionDice: 1},
	}
	bright := []CaseResult{
		{ID: "test-0000", Background: "brain-a", Lesions: []LesionOutcome{{ID: 1, Bin: BinSmall}}, FP: 4, FPOnVessel: 4, VesselsKnown: true, Positive: true, Flagged: true},
		{ID: "test-0001", Background: "brain-b", FP: 2, FPOnVessel: 1, VesselsKnown: true, Flagged: true},
	}
	r := &Report{Data: "d", Split: "test", Generator: "phantom/2.0.0-multi", Seeds: []uint64{0, 1}, Detector: "net", Threshold: 0.9,
		Input: InputVISIBLE, Backgrounds: []string{"brain-a", "brain-b"}, SplitBy: SplitByBrain,
		Summary: Summarize(cases), ByBrain: SummarizeBy(cases, ByBackground), Cases: cases,
		FROC: []FROCPoint{{Threshold: 0.5, Sensitivity: 1, FPPerCase: 0.5}, {Threshold: 0.9, Sensitivity: 1}}}
	r.Comparison = &Arm{Input: InputBrightOnly, Threshold: 0.5, Summary: Summarize(bright), ByBrain: SummarizeBy(bright, ByBackground), Cases: bright,
		FROC: []FROCPoint{{Threshold: 0.5, Sensitivity: 0, FPPerCase: 3, FPOnVesselPerCase: 2.5}, {Threshold: 0.9, Sensitivity: 0, FPPerCase: 1}}}
	return r
}

func TestReportComparison(t *testing.T) {
	r := compareReport()
	var md bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	m := md.String()
	for _, want := range []string{
		"(splits are by brain: train, val and test never share a brain)",
		"## VISIBLE against bright-only",
		"| threshold | 0.9 | 0.5 |",
		"| lesion-wise sensitivity | 100.0% (1/1) | 0.0% (0/1) |",
		"| false positives per study | 0.00 (0) | 3.00 (6) |",
		"| false positives on vessels per study | 0.00 (0, n/a) | 2.50 (5, 83.3%) |",
		"| study flag specificity | 100.0% (1 lesion-free cases) | 0.0% (1 lesion-free cases) |",
		"## Per brain",
		"| brain-b | 1 | 0 | n/a | — | — | — | 2.00 | 1.00 | 0.00 | 1.00 | — | 0.0% of 1 | 0.000 |",
		"## FROC, bright-only",
		"| 0.5 | 0.0% | 3.00 | 2.50 |",
		"| test-0000 (brain-a) |",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("report.md lacks %q:\n%s", want, m)
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	// false positives by location: per study, "n/a" where not placed
	r = compareReport()
	r.Locations, r.LocationRule = []string{"vessel", "edge"}, "a rule"
	r.Comparison.Cases[0].FPByLocation = map[string]int{"vessel": 3, "edge": 1}
	r.Comparison.Cases[1].FPByLocation = nil // not placed
	r.Comparison.Summary = Summarize(r.Comparison.Cases)
	r.Comparison.ByBrain = SummarizeBy(r.Comparison.Cases, ByBackground)
	md.Reset()
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"; a rule.",
		"| brain | studies | studies placed | vessel | edge |",
		"| all | 2 | 0 | n/a | n/a |",
		"| all | 2 | 1 | 3.00 (3) | 1.00 (1) |",
		"| brain-a | 1 | 1 | 3.00 (3) | 1.00 (1) |",
		"| brain-b | 1 | 0 | n/a | n/a |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md.String())
		}
	}
	if back.Comparison == nil || len(back.Comparison.FROC) != 2 || back.Comparison.FROC[0] != r.Comparison.FROC[0] || len(back.ByBrain) != 2 || back.SplitBy != "brain" {
		t.Errorf("report.json round trip lost the comparison or the brains: %+v", back)
	}
}

// TestPlotFROCTwoCurves checks that the bright-only curve is drawn: its
// colour appears in the PNG with a comparison and not without.
func TestPlotFROCTwoCurves(t *testing.T) {
	orange := func(r *Report) int {
		var b bytes.Buffer
		if err := r.PlotFROC(&b); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&b)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		bd := img.Bounds()
		for y := bd.Min.Y; y < bd.Max.Y; y++ {
			for x := bd.Min.X; x < bd.Max.X; x++ {
				if isOrange(img, x, y) {
					n++
				}
			}
		}
		return n
	}
	r := compareReport()
	if n := orange(r); n < 50 {
		t.Errorf("%d pixels of the bright-only curve's colour with a comparison, want a curve", n)
	}
	r.Comparison = nil
	if n := orange(r); n != 0 {
		t.Errorf("%d pixels of the bright-only curve's colour without a comparison, want none", n)
	}
}

// isOrange is the bright-only curve's colour (230, 120, 0), give or take
// anti-aliasing.
func isOrange(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	r, g, b = r>>8, g>>8, b>>8
	return r > 200 && g > 90 && g < 150 && b < 40
}
