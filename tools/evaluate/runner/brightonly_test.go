package runner

import (
	"context"
	"metsentry/firmware/analyze"
	"strings"
	"testing"

	"metsentry/firmware/detect"
	"metsentry/firmware/volume"
	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
	"metsentry/tools/evaluate/score"
	"metsentry/tools/phantom/phantom"
)

// structureEcho answers with a structure of the case the runner is on (the
// phantom's vessels or its choroid plexus and pituitary, outside lesion
// labels) as lesion, and records whether it was given a black-blood image.
type structureEcho struct {
	g      *phantom.Generator
	split  phantom.Split
	seeds  []uint64
	glands bool
	n      int
	blacks []bool // per call: black != nil
}

func (d *structureEcho) Name() string { return "structure echo" }

func (d *structureEcho) Prob(ctx context.Context, black, bright *volume.Volume) ([]float32, error) {
	d.blacks = append(d.blacks, black != nil)
	c, err := d.g.Generate(d.seeds[d.n], d.split)
	d.n++
	if err != nil {
		return nil, err
	}
	pv := c.VesselPV
	if d.glands {
		pv = c.GlandPV
	}
	p := make([]float32, len(pv))
	for i, v := range pv {
		if v >= 14 && c.Labels[i] == 0 {
			p[i] = 0.9
		}
	}
	return p, nil
}

func TestFalsePositivesOnStructures(t *testing.T) {
	g := generator(t)
	seeds := []uint64{4}
	for _, glands := range []bool{false, true} {
		name := map[bool]string{false: "vessels", true: "plexus and pituitary"}[glands]
		t.Run(name, func(t *testing.T) {
			d := &structureEcho{g: g, split: phantom.Val, seeds: seeds, glands: glands}
			rep, err := Run(context.Background(), Options{
				Generator: g, Split: phantom.Val, Seeds: seeds, Detector: d,
				Params: detect.Params{Threshold: 0.5}, FROCThresholds: []float64{0.5, 0.95}, ScratchDir: t.TempDir(),
			})
			if err != nil {
				t.Fatal(err)
			}
			s := rep.Summary
			if s.FP == 0 || !s.VesselsKnown {
				t.Fatalf("%d false positives (vessels known %v): the echo found nothing to count", s.FP, s.VesselsKnown)
			}
			on := s.FPOnVessel
			if glands {
				on = s.FPOnGland
			}
			if on != s.FP {
				t.Errorf("%d of %d false positives on %s, want all", on, s.FP, name)
			}
			if !glands && rep.FROC[0].FPOnVesselPerCase != s.FPOnVesselPerCase {
				t.Errorf("FROC at the operating threshold: %.2f on vessels per case, summary %.2f", rep.FROC[0].FPOnVesselPerCase, s.FPOnVesselPerCase)
			}
			if rep.Input != score.InputVISIBLE || !strings.Contains(rep.VesselRule, "within 1 mm") {
				t.Errorf("report input %q, rule %q", rep.Input, rep.VesselRule)
			}
		})
	}
}

func TestBrightOnly(t *testing.T) {
	g := generator(t)
	seeds := []uint64{4}
	for _, brightOnly := range []bool{false, true} {
		d := &structureEcho{g: g, split: phantom.Val, seeds: seeds}
		rep, err := Run(context.Background(), Options{
			Generator: g, Split: phantom.Val, Seeds: seeds, Detector: d, BrightOnly: brightOnly,
			Params: detect.Params{Threshold: 0.5}, ScratchDir: t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.blacks) != 1 || d.blacks[0] == brightOnly {
			t.Errorf("bright-only %v: detector given a black-blood image: %v", brightOnly, d.blacks)
		}
		want := map[bool]string{false: score.InputVISIBLE, true: score.InputBrightOnly}[brightOnly]
		if rep.Input != want {
			t.Errorf("bright-only %v: report input %q, want %q", brightOnly, rep.Input, want)
		}
	}
	// the baseline thresholds black-blood: it refuses rather than crash
	_, err := Run(context.Background(), Options{Generator: g, Split: phantom.Val, Seeds: seeds, Detector: BaselineDetector{},
		BrightOnly: true, Params: detect.Params{Threshold: 0.5}, ScratchDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "bright-only") {
		t.Errorf("baseline bright-only: %v, want an error saying it cannot run bright-only", err)
	}
	for _, c := range []CLI{{Files: true, BrightOnly: true}, {E2E: "127.0.0.1:1", BrightOnly: true}} {
		if err := Main(context.Background(), c, nil); err == nil || !strings.Contains(err.Error(), "-bright-only") {
			t.Errorf("%+v: %v, want an error naming -bright-only", c, err)
		}
	}
}

// TestModelBrightOnly runs the model path with the black-blood series
// withheld: volume.Prepare zeroes the black channel of a model that allows
// bright-only studies and refuses one that does not.
func TestModelBrightOnly(t *testing.T) {
	g := generator(t)
	for _, allow := range []bool{true, false} {
		m := &manifest.Manifest{
			Schema: 1, Name: "echo", Version: "0", Precision: "fp32",
			Channels: []string{"black", "bright"}, BrightOnly: allow, SpacingMM: [3]float64{1, 1, 1},
			Normalisation: manifest.Normalisation{Method: "zscore-mask"},
			Layout:        manifest.Layout{Mode: manifest.LayoutWhole, Multiple: 8},
			Output:        manifest.Output{Meaning: "lesion-probability", Threshold: 0.5},
		}
		eng := &zeroBlack{}
		d := &ModelDetector{Model: analyze.Model{Manifest: m, Engine: eng, Plan: infer.Plan{Multiple: 8, BudgetBytes: 1 << 40, BytesPerVoxel: 64, OutChannels: 1}}}
		rep, err := Run(context.Background(), Options{
			Generator: g, Split: phantom.Val, Seeds: []uint64{4}, Detector: d, BrightOnly: true,
			Params: detect.Params{Threshold: 0.5}, ScratchDir: t.TempDir(),
		})
		if !allow {
			if err == nil {
				t.Error("a model without bright_only ran on a bright-only study")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !eng.ran || !eng.blackZero {
			t.Errorf("engine ran %v, black channel all zero %v: want the channel zeroed", eng.ran, eng.blackZero)
		}
		if rep.Summary.Hits == 0 || rep.Summary.FPOnVessel == 0 {
			t.Errorf("echo of the bright channel, bright-only: %d hits, %d of %d FP on vessels; want hits and vessel false positives", rep.Summary.Hits, rep.Summary.FPOnVessel, rep.Summary.FP)
		}
	}
}

// A manifest's bright-only stage (output.rescore_bright_only) scores a
// bright-only study's candidates: one that accepts nothing leaves nothing
// found, where the network alone found lesions and vessels
// (TestModelBrightOnly); the VISIBLE run does not use it.
func TestModelBrightOnlyStage(t *testing.T) {
	g := generator(t)
	none := &manifest.Rescore{Candidate: 0.5, Accept: 0.5, Features: []string{"log_voxels"},
		Mean: []float64{0}, Scale: []float64{1}, Weights: []float64{0}, Bias: -10}
	m := &manifest.Manifest{
		Schema: 1, Name: "echo", Version: "0", Precision: "fp32",
		Channels: []string{"black", "bright"}, BrightOnly: true, SpacingMM: [3]float64{1, 1, 1},
		Normalisation: manifest.Normalisation{Method: "zscore-mask"},
		Layout:        manifest.Layout{Mode: manifest.LayoutWhole, Multiple: 8},
		Output:        manifest.Output{Meaning: "lesion-probability", Threshold: 0.5, RescoreBrightOnly: none},
	}
	for _, brightOnly := range []bool{true, false} {
		d := &ModelDetector{Model: analyze.Model{Manifest: m, Engine: echoBright{}, Plan: infer.Plan{Multiple: 8, BudgetBytes: 1 << 40, BytesPerVoxel: 64, OutChannels: 1}}}
		rep, err := Run(context.Background(), Options{
			Generator: g, Split: phantom.Val, Seeds: []uint64{4}, Detector: d, BrightOnly: brightOnly,
			Params: detect.Params{Threshold: 0.5}, ScratchDir: t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(rep.Detector, "with its rescore stage on bright-only studies") {
			t.Errorf("detector %q does not name its bright-only stage", rep.Detector)
		}
		s := rep.Summary
		if found := s.Hits + s.FP; (found == 0) != brightOnly {
			t.Errorf("bright-only %v: %d hits and %d false positives; want none only where the stage runs", brightOnly, s.Hits, s.FP)
		}
	}
	// A bright-only stage weighing a black-blood measurement is refused.
	black := *none
	black.Features = []string{"mean_black"}
	m.Output.RescoreBrightOnly = &black
	d := &ModelDetector{Model: analyze.Model{Manifest: m, Engine: echoBright{}, Plan: infer.Plan{Multiple: 8, BudgetBytes: 1 << 40, BytesPerVoxel: 64, OutChannels: 1}}}
	_, err := Run(context.Background(), Options{Generator: g, Split: phantom.Val, Seeds: []uint64{4}, Detector: d, BrightOnly: true,
		Params: detect.Params{Threshold: 0.5}, ScratchDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "mean_black") {
		t.Errorf("err = %v, want a refusal naming mean_black", err)
	}
}

// zeroBlack is echoBright that also records whether the black channel it
// was given is all zero.
type zeroBlack struct {
	echoBright
	ran, blackZero bool
}

func (z *zeroBlack) Run(ctx context.Context, in []float32, shape [5]int64) ([]float32, error) {
	n := int(shape[2] * shape[3] * shape[4])
	z.ran, z.blackZero = true, true
	for _, v := range in[:n] {
		if v != 0 {
			z.blackZero = false
			break
		}
	}
	return z.echoBright.Run(ctx, in, shape)
}

func TestCLIVesselRule(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   score.VesselRule
		want score.VesselRule
		err  bool
	}{
		{"zero is the default", score.VesselRule{}, score.DefaultVesselRule, false},
		{"half, overlap only", score.VesselRule{MinFraction: 0.5}, score.VesselRule{MinFraction: 0.5}, false},
		{"no fraction", score.VesselRule{ReachMM: 1}, score.VesselRule{}, true},
		{"fraction above one", score.VesselRule{MinFraction: 2, ReachMM: 1}, score.VesselRule{}, true},
		{"negative reach", score.VesselRule{MinFraction: 0.5, ReachMM: -1}, score.VesselRule{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CLI{VesselRule: tc.in}.vesselRule()
			if (err != nil) != tc.err || !tc.err && got != tc.want {
				t.Errorf("got %+v, %v; want %+v, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}
