package runner

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
	"metsentry/firmware/volume"
	"metsentry/tools/evaluate/score"
	"metsentry/tools/phantom/phantom"
	"metsentry/tools/realcheck/realcheck"
)

// tinyHead is a small synthetic head standing in for a real brain: a brain
// sphere (ventricle, white matter, grey matter, CSF) in skull and scalp;
// post makes it a post-contrast image with a pre-contrast one and an
// enhancing vessel. Real brains take seconds each to load; these do not.
// The brain (310 cm³, a 108 mm head) is about as small as
// realcheck.ExtractBrain, which places the false positives, takes: it peels
// 8 mm of head and erodes 4 mm, and wants 100 cm³ left.
func tinyHead(name string, post bool) *realcheck.Background {
	const n = 112
	g := geom.Grid{Dims: [3]int{n, n, n}, Affine: geom.Affine{{1, 0, 0, -56}, {0, 1, 0, -56}, {0, 0, 1, -56}}}
	img, pre := make([]float32, g.Len()), make([]float32, g.Len())
	brain := make([]uint8, g.Len())
	for k := range n {
		for j := range n {
			for i := range n {
				d := math.Sqrt(float64((i-56)*(i-56) + (j-56)*(j-56) + (k-56)*(k-56)))
				var v float32
				switch {
				case d < 8:
					v = 300
				case d < 30:
					v = 1000
				case d < 40:
					v = 750
				case d < 42:
					v = 300
				case d < 46:
					v = 50
				case d < 54:
					v = 900
				}
				idx := g.Index(i, j, k)
				if d < 42 {
					brain[idx] = 1
				}
				if (i+2*j+3*k)%5 == 0 && v > 100 {
					v *= 1.1
				}
				img[idx], pre[idx] = v, v
				if post && math.Hypot(float64(i-72), float64(k-60)) < 1.5 && j > 30 && j < 80 {
					img[idx] = 2500 // an enhancing vessel
				}
			}
		}
	}
	b := &realcheck.Background{Name: name, Source: "test head", PostContrast: post, Image: &volume.Volume{Grid: g, Data: img}, Brain: brain, BrainRule: "sphere"}
	if post {
		b.Pre = &volume.Volume{Grid: g, Data: pre}
	}
	return b
}

// multiEcho answers with the truth of the case the runner is on, and on a
// bright-only study (black == nil) with the case's vessels as well, below
// the truth's score: the VISIBLE curve is clean, the bright-only one has
// false positives on vessels up to 0.7. The runner calls it twice per
// study with CompareBrightOnly (VISIBLE first).
type multiEcho struct {
	g      *phantom.MultiGenerator
	split  phantom.Split
	seeds  []uint64
	calls  int
	pairs  bool // two calls per study
	blacks []bool
	last   *phantom.Case
}

func (d *multiEcho) Name() string { return "multi echo" }

func (d *multiEcho) Prob(ctx context.Context, black, bright *volume.Volume) ([]float32, error) {
	i := d.calls
	if d.pairs {
		i /= 2
	}
	d.calls++
	d.blacks = append(d.blacks, black != nil)
	c := d.last
	if c == nil || c.Seed != d.seeds[i] {
		var err error
		if c, err = d.g.Generate(d.seeds[i], d.split); err != nil {
			return nil, err
		}
		d.last = c
	}
	p := make([]float32, len(c.Labels))
	for i, v := range c.Labels {
		switch {
		case v != 0:
			p[i] = 0.99
		case black == nil && c.VesselPV[i] >= 14:
			p[i] = 0.7
		}
	}
	return p, nil
}

// tinyMulti is a many-backgrounds generator on two tiny heads, both in
// the test split (one post-contrast, one not), and one in train; every
// study has lesions.
func tinyMulti(t *testing.T) *phantom.MultiGenerator { return tinyMultiFree(t, -1) }

// tinyMultiFree is tinyMulti with the phantom's LesionFree fraction.
func tinyMultiFree(t *testing.T, lesionFree float64) *phantom.MultiGenerator {
	t.Helper()
	bgs := []*realcheck.Background{tinyHead("head-post", true), tinyHead("head-plain", false), tinyHead("head-train", false)}
	splits := map[string]phantom.Split{"head-post": phantom.Test, "head-plain": phantom.Test, "head-train": phantom.Train}
	m, err := phantom.NewMultiGeneratorFrom(bgs, splits, phantom.Config{Dims: [3]int{112, 112, 112}, MaxLesions: 3, LesionFree: lesionFree, GhostProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRunBackgroundsCompareBrightOnly(t *testing.T) {
	m := tinyMulti(t)
	seeds := []uint64{0, 1} // one case on each test brain
	d := &multiEcho{g: m, split: phantom.Test, seeds: seeds, pairs: true}
	rep, err := Run(context.Background(), Options{
		Multi: m, Split: phantom.Test, Seeds: seeds, Detector: d,
		CompareBrightOnly: true,
		Params:            detect.Params{Threshold: 0.9},
		BrightOnlyParams:  detect.Params{Threshold: 0.5},
		FROCThresholds:    []float64{0.5, 0.95},
		ScratchDir:        t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true, false}; !slices.Equal(d.blacks, want) {
		t.Errorf("black-blood given per call %v, want %v (VISIBLE then bright-only, per study)", d.blacks, want)
	}
	if rep.Generator != phantom.VersionMulti || rep.SplitBy != "brain" || !slices.Equal(rep.Backgrounds, []string{"head-plain", "head-post"}) {
		t.Errorf("report generator %q, split by %q, brains %v", rep.Generator, rep.SplitBy, rep.Backgrounds)
	}
	if !strings.Contains(rep.Data, "real brains: head-plain, head-post") {
		t.Errorf("data %q does not name the brains", rep.Data)
	}
	// VISIBLE: every lesion, no false positive, one row per brain
	s := rep.Summary
	if s.Lesions == 0 || s.Sensitivity != 1 || s.FP != 0 {
		t.Errorf("VISIBLE: sensitivity %v of %d lesions with %d FP, want all with none", s.Sensitivity, s.Lesions, s.FP)
	}
	if len(rep.ByBrain) != 2 || rep.ByBrain[0].Group != "head-plain" || rep.ByBrain[1].Group != "head-post" || rep.ByBrain[0].Cases != 1 || rep.ByBrain[1].Cases != 1 {
		t.Fatalf("per brain rows %+v, want one case on each test brain", rep.ByBrain)
	}
	for _, c := range rep.Cases {
		if c.Background == "" {
			t.Errorf("case %s does not name its brain", c.ID)
		}
	}
	// bright-only: the same studies with false positives on vessels at 0.5
	a := rep.Comparison
	if a == nil {
		t.Fatal("no bright-only comparison in the report")
	}
	if a.Input != score.InputBrightOnly || a.Threshold != 0.5 || len(a.Cases) != 2 || len(a.ByBrain) != 2 {
		t.Errorf("comparison input %q threshold %v, %d cases, %d brain rows", a.Input, a.Threshold, len(a.Cases), len(a.ByBrain))
	}
	if a.Summary.FP == 0 || a.Summary.FPOnVessel != a.Summary.FP || a.Summary.Sensitivity != 1 {
		t.Errorf("bright-only: %d FP, %d on vessels, sensitivity %v; want FP, all on vessels, every lesion", a.Summary.FP, a.Summary.FPOnVessel, a.Summary.Sensitivity)
	}
	// every false positive placed by realcheck's rule, in both runs, on
	// head-plain; on head-post the case's own brain mask is not found (the
	// tiny head drawn smaller and shifted leaves realcheck.ExtractBrain less
	// than the 100 cm³ it wants), so its false positives stay unplaced: left
	// out of the location counts, and n/a, not none
	for _, arm := range []struct {
		name string
		gs   []score.GroupSummary
	}{{"VISIBLE", rep.ByBrain}, {"bright-only", a.ByBrain}} {
		plain, post := arm.gs[0].Summary, arm.gs[1].Summary
		n := 0
		for _, k := range plain.FPByLocation {
			n += k
		}
		if plain.FPByLocation == nil || n != plain.FP {
			t.Errorf("%s on head-plain: %d false positives, %v by location", arm.name, plain.FP, plain.FPByLocation)
		}
		if post.FP > 0 && post.FPByLocation != nil {
			t.Errorf("%s on head-post: %v by location, want them unplaced", arm.name, post.FPByLocation)
		}
	}
	if a.ByBrain[0].FP == 0 || a.ByBrain[0].FPByLocation[realcheck.LocVessel] == 0 {
		t.Errorf("bright-only on head-plain: %d false positives, %v by location: want some on vessels", a.ByBrain[0].FP, a.ByBrain[0].FPByLocation)
	}
	if a.Summary.PlacedCases != 1 || a.Summary.FPByLocation[realcheck.LocVessel] != a.ByBrain[0].FPByLocation[realcheck.LocVessel] {
		t.Errorf("bright-only: %d studies placed, %v by location: want head-plain's alone", a.Summary.PlacedCases, a.Summary.FPByLocation)
	}
	t.Logf("bright-only false positives by location on head-plain: %v", a.ByBrain[0].FPByLocation)
	if len(rep.FROC) != 2 || len(a.FROC) != 2 {
		t.Fatalf("FROC points: %d VISIBLE, %d bright-only, want 2 each", len(rep.FROC), len(a.FROC))
	}
	if a.FROC[0].Threshold != 0.5 || a.FROC[0].FPPerCase != a.Summary.FPPerCase || a.FROC[1].FPPerCase != 0 || rep.FROC[0].FPPerCase != 0 {
		t.Errorf("FROC VISIBLE %+v, bright-only %+v: bright-only's FP at 0.5 as its operating point, none at 0.95 or in VISIBLE", rep.FROC, a.FROC)
	}
	out := t.TempDir()
	if err := WriteReport(out, rep); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"phantom/2.0.0-multi", "brains of the test split: head-plain, head-post (splits are by brain", "## Per brain", "| head-post | 1 |", "## VISIBLE against bright-only", "## FROC, bright-only", "## False positives by location", "| head-plain | 1 | 1 | 0.00 (0) |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	js, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		ByBrain    []score.GroupSummary `json:"by_brain"`
		Comparison struct {
			FROC []score.FROCPoint `json:"froc"`
		} `json:"comparison"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.ByBrain) != 2 || len(back.Comparison.FROC) != 2 || back.Comparison.FROC[0] != a.FROC[0] {
		t.Errorf("report.json: %d brain rows, bright-only FROC %+v", len(back.ByBrain), back.Comparison.FROC)
	}
	if fi, err := os.Stat(filepath.Join(out, "froc.png")); err != nil || fi.Size() == 0 {
		t.Errorf("froc.png not written: %v", err)
	}
}

// The many-backgrounds options refused: out of process, and a split with
// no brain loaded.
func TestBackgroundsRefused(t *testing.T) {
	for _, c := range []CLI{{Files: true, Backgrounds: "all"}, {E2E: "127.0.0.1:1", CompareBrightOnly: true}, {Files: true, LesionFree: true}, {E2E: "127.0.0.1:1", LesionFree: true}} {
		if err := Main(context.Background(), c, nil); err == nil || !strings.Contains(err.Error(), "in process only") {
			t.Errorf("%+v: %v, want an error saying in process only", c, err)
		}
	}
	if _, err := Run(context.Background(), Options{Multi: tinyMulti(t), Split: phantom.Val, Seeds: []uint64{0}, Detector: BaselineDetector{}}); err == nil || !strings.Contains(err.Error(), "no brain of the val split") {
		t.Errorf("a split with no brain loaded: %v", err)
	}
}

// A lesion-free set (evaluate -lesion-free) is all negative studies: what
// the detector flags there is study flag specificity's complement. The
// detector here marks the vessels, so each study is flagged.
func TestRunLesionFreeSet(t *testing.T) {
	m := tinyMultiFree(t, 1)
	seeds := []uint64{0, 1}
	d := &multiEcho{g: m, split: phantom.Test, seeds: seeds}
	rep, err := Run(context.Background(), Options{
		Multi: m, Split: phantom.Test, Seeds: seeds, Detector: d, BrightOnly: true,
		Params: detect.Params{Threshold: 0.5}, ScratchDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Summary
	if s.Lesions != 0 || s.NegativeCases != 2 || s.PositiveCases != 0 {
		t.Fatalf("%d lesions, %d lesion-free and %d positive studies; want none, 2 and 0", s.Lesions, s.NegativeCases, s.PositiveCases)
	}
	if s.FP == 0 || s.StudySpecificity != 0 {
		t.Errorf("vessels marked in every study: %d false positives, specificity %v; want some and 0", s.FP, s.StudySpecificity)
	}
}
