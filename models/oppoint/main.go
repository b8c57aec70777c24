// Command oppoint applies the operating-point rule of models/MODEL.md
// (Second stage) to a candidate's measurements and prints the level it
// gives:
//
//	go run ./models/oppoint -val OUT/eval-val/report.json \
//	    -negatives OUT/negatives-train-val/negatives.json
//
// The rule: among the levels at which the real negatives of the train and
// val brains (tools/realcheck -negatives -levels, nothing inserted) meet
// issue 23's target (at most 0.3 false positives per brain on average, none
// above 1) and, with -val-lesion-free, the study flag's specificity on the
// val brain's lesion-free studies (tools/evaluate -lesion-free) is at least
// -min-specificity (issue 23's 90%), the one with the val brain's highest
// lesion sensitivity at no more than -max-fp false positives per study
// (tools/evaluate's FROC); between equals, the higher level. (The
// lesion-free condition came from candidate 0.7.1, models/MODEL.md: its
// val studies with lesions did not show the false positives that its val
// lesion-free studies did.) -bright-only chooses for bright-only
// studies instead: the val report's bright-only comparison and the
// negatives' bright-only rows.
//
// It reads what the tools wrote and decides nothing else: the held-out
// brains are not an input, so the level is fixed before they are scored.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"

	"metsentry/tools/evaluate/score"
	"metsentry/tools/realcheck/realcheck"
)

func main() {
	val := flag.String("val", "", "tools/evaluate's report.json on the val brain (with -compare-bright-only for -bright-only)")
	negatives := flag.String("negatives", "", "tools/realcheck -negatives -levels' negatives.json on the train and val brains")
	lesionFree := flag.String("val-lesion-free", "", "tools/evaluate -lesion-free's report.json on the val brain (optional)")
	maxFP := flag.Float64("max-fp", 0.3, "most false positives per val study")
	minSpec := flag.Float64("min-specificity", 0.9, "with -val-lesion-free: the least study flag specificity on its studies")
	brightOnly := flag.Bool("bright-only", false, "choose for bright-only studies")
	flag.Parse()
	r := rule{maxFP: *maxFP, minSpec: *minSpec, brightOnly: *brightOnly}
	if err := run(*val, *lesionFree, *negatives, r, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "oppoint:", err)
		os.Exit(1)
	}
}

// ErrNone says no level meets both halves of the rule.
var ErrNone = errors.New("no level meets the rule")

// rule holds the rule's limits.
type rule struct {
	maxFP, minSpec float64
	brightOnly     bool
}

func run(valPath, lfPath, negPath string, r rule, w io.Writer) error {
	if valPath == "" || negPath == "" {
		return fmt.Errorf("-val and -negatives are both needed")
	}
	froc, err := readFROC(valPath, r.brightOnly)
	if err != nil {
		return err
	}
	var lf []score.FROCPoint
	if lfPath != "" {
		if lf, err = readFROC(lfPath, r.brightOnly); err != nil {
			return err
		}
	}
	var neg realcheck.NegReport
	if err := readJSON(negPath, &neg); err != nil {
		return err
	}
	input := realcheck.InputVisibleLike
	if r.brightOnly {
		input = realcheck.InputBrightOnly
	}
	best, rows, err := choose(froc, lf, neg.SummariseLevels(), input, r)
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "level %g: val %.1f%% at %.2f FP/study; real negatives %.2f per brain, %d above 1 (%s)\n",
		best.Threshold, 100*best.Sensitivity, best.FPPerCase, best.neg.MeanFP, best.neg.Above1, input)
	return nil
}

// readFROC reads a tools/evaluate report's FROC: VISIBLE, or its
// bright-only comparison.
func readFROC(path string, brightOnly bool) ([]score.FROCPoint, error) {
	var rep score.Report
	if err := readJSON(path, &rep); err != nil {
		return nil, err
	}
	if !brightOnly {
		return rep.FROC, nil
	}
	if rep.Comparison == nil {
		return nil, fmt.Errorf("%s has no bright-only comparison (tools/evaluate -compare-bright-only)", path)
	}
	return rep.Comparison.FROC, nil
}

// point is a FROC level with the real negatives at the same level.
type point struct {
	score.FROCPoint
	neg realcheck.LevelSummary
}

// choose applies the rule r to the val FROC, the val lesion-free FROC (nil:
// none) and the negatives' summaries of input, and returns the chosen level
// with a line per level saying why.
func choose(froc, lf []score.FROCPoint, levels []realcheck.LevelSummary, input string, r rule) (point, []string, error) {
	var best point
	found := false
	var rows []string
	for _, f := range froc {
		var s realcheck.LevelSummary
		ok := false
		for _, l := range levels {
			if l.Input == input && math.Abs(l.Level-f.Threshold) < 1e-9 {
				s, ok = l, true
			}
		}
		spec, specOK := 1.0, true
		if lf != nil {
			specOK = false
			for _, p := range lf {
				if math.Abs(p.Threshold-f.Threshold) < 1e-9 && p.NegativeCases > 0 {
					spec, specOK = p.StudySpecificity, true
				}
			}
		}
		why := ""
		switch {
		case !ok:
			why = "no real-negatives count at this level"
		case !s.Met:
			why = fmt.Sprintf("real negatives %.2f per brain, %d above 1: target not met", s.MeanFP, s.Above1)
		case !specOK:
			why = "no val lesion-free studies scored at this level"
		case spec < r.minSpec:
			why = fmt.Sprintf("val lesion-free flag specificity %.1f%%, under %g%%", 100*spec, 100*r.minSpec)
		case f.FPPerCase > r.maxFP:
			why = fmt.Sprintf("val %.2f FP/study, over %g", f.FPPerCase, r.maxFP)
		default:
			why = "eligible"
			if !found || f.Sensitivity > best.Sensitivity || f.Sensitivity == best.Sensitivity && f.Threshold > best.Threshold {
				best, found = point{f, s}, true
			}
		}
		rows = append(rows, fmt.Sprintf("%g: val %.1f%% at %.2f FP/study: %s", f.Threshold, 100*f.Sensitivity, f.FPPerCase, why))
	}
	if !found {
		return point{}, rows, ErrNone
	}
	return best, rows, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
