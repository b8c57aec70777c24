package realcheck

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"metsentry/firmware/nifti"
	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
)

// brightEngine stands in for the network: probability 1 where the bright
// channel (normalised) is above 3, else 0. It records whether the black
// channel came in zeroed.
type brightEngine struct {
	blackNonZero bool
	runs         int
}

func (e *brightEngine) Run(_ context.Context, in []float32, shape [5]int64) ([]float32, error) {
	e.runs++
	n := int(shape[2] * shape[3] * shape[4])
	out := make([]float32, n)
	for i := range n {
		if in[i] != 0 {
			e.blackNonZero = true
		}
		if in[n+i] > 3 {
			out[i] = 1
		}
	}
	return out, nil
}
func (e *brightEngine) Provider() string { return "stand-in" }
func (e *brightEngine) Close() error     { return nil }

var _ infer.Engine = (*brightEngine)(nil)

func testManifest() *manifest.Manifest {
	return &manifest.Manifest{
		Schema: 1, Name: "standin", Version: "0.0.1", Precision: "fp32",
		Channels: []string{manifest.ChannelBlack, manifest.ChannelBright}, BrightOnly: true,
		SpacingMM:     [3]float64{1, 1, 1},
		Normalisation: manifest.Normalisation{Method: manifest.NormZScoreMask},
		Layout:        manifest.Layout{Mode: manifest.LayoutWhole, Multiple: 8},
		Output:        manifest.Output{Meaning: "lesion-probability", Threshold: 0.5, MinComponentMM3: 2},
	}
}

func TestCheckSynthetic(t *testing.T) {
	s := newSynth(true)
	e := &brightEngine{}
	res, err := Check(context.Background(), s.study, Options{Manifest: testManifest(), ManifestPath: "standin.json", Engine: e, Plan: infer.Plan{Multiple: 8}})
	if err != nil {
		t.Fatal(err)
	}
	if e.runs != 1 || e.blackNonZero || !res.BlackZeroed {
		t.Errorf("runs %d, black channel non-zero %v, BlackZeroed %v: a bright-only study feeds a zeroed black channel in one pass", e.runs, e.blackNonZero, res.BlackZeroed)
	}
	if !res.Flagged || !res.TumourFound {
		t.Fatalf("flagged %v, tumour found %v; both expected", res.Flagged, res.TumourFound)
	}
	classes := map[string][]int{}
	for _, f := range res.Findings {
		classes[f.Class] = append(classes[f.Class], f.Voxels)
	}
	want := map[string][]int{
		ClassTumour:       {count(s.ring)},
		ClassTumourRegion: {count(s.haemorrhage)},
		ClassBright:       {count(s.vessel)},
	}
	for c, w := range want {
		if !slices.Equal(classes[c], w) {
			t.Errorf("class %q: lesions of %v voxels, want %v (all: %+v)", c, classes[c], w, res.Findings)
		}
	}
	if len(res.Findings) != 3 {
		t.Errorf("%d lesions, want 3 (ring, blood products, vessel)", len(res.Findings))
	}
	for _, f := range res.Findings {
		switch f.Class {
		case ClassTumour:
			if f.ReferenceVoxels != f.Voxels || f.OnBrightStructure {
				t.Errorf("tumour lesion %+v: all its voxels are the reference", f)
			}
		case ClassBright:
			if !f.OnBrightStructure || f.BrightFraction != 1 || f.EnhancingFraction != 1 || f.ReferenceVoxels != 0 {
				t.Errorf("vessel lesion %+v", f)
			}
			if !strings.Contains(f.Location, "right") {
				// the vessel lies at smaller LPS x than the midline
				t.Errorf("vessel location %q, want the right side", f.Location)
			}
		case ClassTumourRegion:
			if f.EnhancingFraction != 0 || f.TumourRegionVoxels == 0 || f.ReferenceVoxels != 0 {
				t.Errorf("blood-products lesion %+v: bright before and after contrast, so not enhancing", f)
			}
		}
	}
	if res.ProbReference.Max != 1 || res.ProbReference.AboveOperating < 0.99 {
		t.Errorf("probability in the reference %+v, want 1 throughout", res.ProbReference)
	}
	if !strings.HasPrefix(res.ReferenceLocation, "left") {
		t.Errorf("reference location %q; the tumour lies at greater LPS x than the midline, the patient's left", res.ReferenceLocation)
	}
	if res.Reference.Voxels != count(s.ring) || res.Model.Threshold != 0.5 || res.Model.Manifest != "standin.json" {
		t.Errorf("reference %d voxels, model %+v", res.Reference.Voxels, res.Model)
	}

	dir := t.TempDir()
	if err := res.WriteReport(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Real patient-derived research data: BraTS 2023", "bright-only", "threshold 0.5", "Tumour found (a lesion overlapping the enhancing reference region): **yes**", "bright non-tumour structure"} {
		if !strings.Contains(string(md), w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	var js map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatal(err)
	}
	if js["flagged"] != true || js["tumour_found"] != true || !strings.Contains(js["data"].(string), "BraTS 2023") {
		t.Errorf("report.json: flagged %v tumour_found %v data %v", js["flagged"], js["tumour_found"], js["data"])
	}
	for _, name := range []string{"reference.nii.gz", "prob.nii.gz", "lesions.nii.gz"} {
		img, err := nifti.Read(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "reference.nii.gz" && !img.Grid.Near(s.study.Grid(), 1e-4) {
			t.Errorf("%s grid %v %v, want the study's", name, img.Grid.Dims, img.Grid.Affine)
		}
	}
}

func TestCheckNothingFound(t *testing.T) {
	s := newSynth(true)
	m := testManifest()
	e := &zeroEngine{}
	res, err := Check(context.Background(), s.study, Options{Manifest: m, Engine: e, Plan: infer.Plan{Multiple: 8}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Flagged || res.TumourFound || len(res.Findings) != 0 || res.ProbReference.Max != 0 {
		t.Errorf("a model that sees nothing: flagged %v, found %v, %d lesions, max prob %v", res.Flagged, res.TumourFound, len(res.Findings), res.ProbReference.Max)
	}
	if md := res.Markdown(); !strings.Contains(md, "Study flagged (any lesion at the operating point): **no**") {
		t.Errorf("report:\n%s", md)
	}
}

func TestCheckRefusesMissingBlack(t *testing.T) {
	m := testManifest()
	m.BrightOnly = false
	_, err := Check(context.Background(), newSynth(true).study, Options{Manifest: m, Engine: &zeroEngine{}, Plan: infer.Plan{Multiple: 8}})
	if err == nil || !strings.Contains(err.Error(), "black-blood") {
		t.Errorf("got %v, want a refusal naming the missing black-blood channel", err)
	}
}

type zeroEngine struct{}

func (zeroEngine) Run(_ context.Context, in []float32, shape [5]int64) ([]float32, error) {
	return make([]float32, shape[2]*shape[3]*shape[4]), nil
}
func (zeroEngine) Provider() string { return "zero" }
func (zeroEngine) Close() error     { return nil }

// With a bright-only stage (output.rescore_bright_only) the lesions are the
// candidates it accepts: one that counts elongation against drops the
// vessel and keeps the tumour; the probabilities stay the network's.
func TestCheckBrightOnlyStage(t *testing.T) {
	s := newSynth(true)
	m := testManifest()
	m.Output.RescoreBrightOnly = &manifest.Rescore{Candidate: 0.5, Accept: 0.5, Features: []string{"elongation"},
		Mean: []float64{0}, Scale: []float64{1}, Weights: []float64{-20}, Bias: 16}
	res, err := Check(context.Background(), s.study, Options{Manifest: m, ManifestPath: "standin.json", Engine: &brightEngine{}, Plan: infer.Plan{Multiple: 8}})
	if err != nil {
		t.Fatal(err)
	}
	var classes []string
	for _, f := range res.Findings {
		classes = append(classes, f.Class)
	}
	if !res.TumourFound || slices.Contains(classes, ClassBright) || res.Model.StageAccept != 0.5 {
		t.Errorf("tumour found %v, lesion classes %v, stage accept %g: want the vessel dropped by the stage and the tumour kept", res.TumourFound, classes, res.Model.StageAccept)
	}
	if res.ProbReference.Max != 1 {
		t.Errorf("probability in the reference %+v: want the network's", res.ProbReference)
	}
	dir := t.TempDir()
	if err := res.WriteReport(dir); err != nil {
		t.Fatal(err)
	}
	if md, err := os.ReadFile(filepath.Join(dir, "report.md")); err != nil || !strings.Contains(string(md), "bright-only second stage") {
		t.Errorf("report.md does not say the bright-only stage found the lesions (%v)", err)
	}
}
