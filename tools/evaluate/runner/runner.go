package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"metsentry/firmware/detect"
	"metsentry/firmware/volume"
	"metsentry/tools/evaluate/score"
	"metsentry/tools/phantom/phantom"
	"metsentry/tools/realcheck/realcheck"
)

// Detector produces a lesion probability map for a VISIBLE pair, one value
// in [0, 1] per voxel of bright's grid. black is nil for a bright-only study
// (Options.BrightOnly).
type Detector interface {
	Name() string
	Prob(ctx context.Context, black, bright *volume.Volume) ([]float32, error)
}

// SpeedReference is a fixed workload timed after every study in the same
// process (Options.Reference), so a study's seconds can be read against the
// machine's speed of that moment: a shared machine's seconds drift, a ratio
// of two things timed side by side holds.
type SpeedReference interface {
	// Name says what the workload is, for the report.
	Name() string
	// Time runs the workload once and returns its seconds.
	Time(ctx context.Context) (float64, error)
}

// Options says what to run.
type Options struct {
	AnatomyDir string
	Split      phantom.Split
	Seeds      []uint64
	Detector   Detector
	// Params is the operating point handed to firmware/detect.
	Params detect.Params
	// FROCThresholds are swept for the FROC curve (empty: none).
	FROCThresholds []float64
	// ScratchDir receives the DICOM studies (a temporary folder when empty;
	// removed afterwards either way).
	ScratchDir string
	Phantom    phantom.Config
	// Generator, when set, is used instead of loading one from AnatomyDir
	// with Phantom.
	Generator *phantom.Generator
	// Multi, when set, draws the cases from the many-backgrounds generator
	// instead (each case on one real brain of Split's, splits by brain);
	// the report then has a row per brain.
	Multi *phantom.MultiGenerator
	// CompareBrightOnly runs every study a second time with the black-blood
	// series withheld (as BrightOnly) at BrightOnlyParams, and reports both:
	// Report.Comparison, a second curve in the FROC plot.
	CompareBrightOnly bool
	// BrightOnlyParams is the comparison's operating point (the zero value:
	// Params). A model with a VISIBLE-only second stage has another
	// operating point on bright-only studies (detect.OperatingPoint).
	BrightOnlyParams detect.Params
	// BrightOnly withholds the black-blood series: the detector gets black
	// == nil, as the appliance does for a study with only a post-contrast 3D
	// T1 (firmware/volume.Prepare then zeroes the black channel of a model
	// that allows it).
	BrightOnly bool
	// VesselRule decides which false positives sit on vessels; the zero
	// value means score.DefaultVesselRule.
	VesselRule score.VesselRule
	// Reference, when set, is timed straight after each study's timed work
	// (CaseResult.ReferenceSeconds; the summary gives the ratio).
	Reference SpeedReference
	Progress  io.Writer
}

// Run generates, runs and scores every case and returns the report.
func Run(ctx context.Context, o Options) (*score.Report, error) {
	if o.Detector == nil {
		return nil, errors.New("evaluate: no detector given")
	}
	if len(o.Seeds) == 0 {
		return nil, errors.New("evaluate: no seeds given")
	}
	if o.CompareBrightOnly && o.BrightOnly {
		return nil, errors.New("evaluate: -compare-bright-only runs VISIBLE and bright-only already: leave out -bright-only")
	}
	var g interface {
		Generate(seed uint64, split phantom.Split) (*phantom.Case, error)
	}
	version := phantom.Version
	data := "synthetic VISIBLE studies (tools/phantom on Colin27 anatomy); not patient data"
	var brains []string
	switch {
	case o.Multi != nil:
		g, version = o.Multi, phantom.VersionMulti
		if brains = o.Multi.Brains(o.Split); len(brains) == 0 {
			return nil, fmt.Errorf("evaluate: no brain of the %s split among those loaded (-backgrounds): choose brains of that split (phantom.DefaultBrainSplits)", o.Split)
		}
		data = fmt.Sprintf("synthetic VISIBLE studies (tools/phantom on real brains: %s); not patient data", strings.Join(brains, ", "))
	case o.Generator != nil:
		g = o.Generator
	default:
		gen, err := phantom.NewGenerator(o.AnatomyDir, o.Phantom)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		g = gen
	}
	if o.VesselRule == (score.VesselRule{}) {
		o.VesselRule = score.DefaultVesselRule
	}
	var err error
	scratch := o.ScratchDir
	if scratch == "" {
		if scratch, err = os.MkdirTemp("", "evaluate-"); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		defer os.RemoveAll(scratch)
	}
	rep := &score.Report{
		Data:       data,
		Split:      string(o.Split),
		Generator:  version,
		Seeds:      o.Seeds,
		Detector:   o.Detector.Name(),
		Threshold:  o.Params.Threshold,
		Mode:       "in-process: DICOM -> firmware/volume -> detector -> firmware/detect",
		Input:      score.InputVISIBLE,
		VesselRule: o.VesselRule.String(),
	}
	if o.BrightOnly {
		rep.Input = score.InputBrightOnly
	}
	if brains != nil {
		rep.Backgrounds, rep.SplitBy = brains, score.SplitByBrain
		rep.Locations, rep.LocationRule = realcheck.Locations, LocationRule
	}
	// bo is the bright-only comparison's options and report arm
	var bo Options
	var arm *score.Arm
	if o.CompareBrightOnly {
		bo = o
		bo.BrightOnly = true
		if bo.BrightOnlyParams != (detect.Params{}) {
			bo.Params = bo.BrightOnlyParams
		}
		arm = &score.Arm{Input: score.InputBrightOnly, Threshold: bo.Params.Threshold}
		rep.Comparison = arm
	}
	if o.Reference != nil {
		rep.SpeedReference = o.Reference.Name()
	}
	ths := append([]float64(nil), o.FROCThresholds...)
	sort.Float64s(ths)
	froc := make([][]score.CaseResult, len(ths))
	frocBO := make([][]score.CaseResult, len(ths))
	start := time.Now()
	for n, seed := range o.Seeds {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		c, err := g.Generate(seed, o.Split)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		in, err := CaseInput(c, nil, 0, o.VesselRule)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(scratch, c.ID)
		if err := phantom.WriteDICOM(dir, c); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		res, prob, lesions, err := runCase(ctx, o, c, in, dir)
		if err != nil {
			return nil, err
		}
		res.Background = c.Params.Background
		var loc *locator
		if brains != nil {
			loc = &locator{c: c, in: in}
			res.FPByLocation = placeFPs(loc, lesions, o.Progress)
		}
		if o.Reference != nil {
			if res.ReferenceSeconds, err = o.Reference.Time(ctx); err != nil {
				return nil, fmt.Errorf("evaluate: speed reference %s: %w", o.Reference.Name(), err)
			}
		}
		rep.Cases = append(rep.Cases, res)
		for i, t := range ths {
			r, err := frocCase(c, in, prob, t, o.Params.MinComponentMM3)
			if err != nil {
				return nil, err
			}
			r.Background = c.Params.Background
			froc[i] = append(froc[i], r)
		}
		if arm != nil {
			// the same study again, its black-blood series withheld
			rb, pb, lb, err := runCase(ctx, bo, c, in, dir)
			if err != nil {
				return nil, err
			}
			rb.Background = c.Params.Background
			if loc != nil {
				rb.FPByLocation = placeFPs(loc, lb, o.Progress)
			}
			arm.Cases = append(arm.Cases, rb)
			for i, t := range ths {
				r, err := frocCase(c, in, pb, t, bo.Params.MinComponentMM3)
				if err != nil {
					return nil, err
				}
				r.Background = c.Params.Background
				frocBO[i] = append(frocBO[i], r)
			}
		}
		os.RemoveAll(dir)
		if o.Progress != nil {
			el := time.Since(start)
			fmt.Fprintf(o.Progress, "\r%d/%d cases  %.1f s/case  eta %s ", n+1, len(o.Seeds), el.Seconds()/float64(n+1),
				(time.Duration(float64(el) / float64(n+1) * float64(len(o.Seeds)-n-1))).Round(time.Second))
		}
	}
	if o.Progress != nil {
		fmt.Fprintln(o.Progress)
	}
	rep.Summary = score.Summarize(rep.Cases)
	rep.FROC = frocPoints(ths, froc)
	if brains != nil {
		rep.ByBrain = score.SummarizeBy(rep.Cases, score.ByBackground)
	}
	if arm != nil {
		arm.Summary = score.Summarize(arm.Cases)
		arm.FROC = frocPoints(ths, frocBO)
		if brains != nil {
			arm.ByBrain = score.SummarizeBy(arm.Cases, score.ByBackground)
		}
	}
	return rep, nil
}

// frocPoints sums the cases scored at each threshold of ths.
func frocPoints(ths []float64, perThr [][]score.CaseResult) []score.FROCPoint {
	var out []score.FROCPoint
	for i, t := range ths {
		out = append(out, score.PointOf(t, score.Summarize(perThr[i])))
	}
	return out
}

// runCase reads the case's DICOM series back like the appliance does (the
// bright-blood series only with o.BrightOnly) and scores the detector's
// lesions against in.
func runCase(ctx context.Context, o Options, c *phantom.Case, in score.Input, dir string) (score.CaseResult, []float32, []detect.Lesion, error) {
	t0 := time.Now()
	var vols [2]*volume.Volume
	for i, s := range phantom.SeriesOf() {
		if o.BrightOnly && i == 0 {
			continue // the black-blood series is withheld
		}
		files, err := filepath.Glob(filepath.Join(dir, fmt.Sprintf("s%d", s.Number), "*.dcm"))
		if err != nil {
			return score.CaseResult{}, nil, nil, fmt.Errorf("evaluate: %w", err)
		}
		v, err := volume.Assemble(files, volume.Options{})
		if err != nil {
			return score.CaseResult{}, nil, nil, fmt.Errorf("evaluate: case %s series %d: %w", c.ID, s.Number, err)
		}
		vols[i] = v
	}
	black, bright := vols[0], vols[1]
	if err := sameGrid(c, bright); err != nil {
		return score.CaseResult{}, nil, nil, err
	}
	prob, err := o.Detector.Prob(ctx, black, bright)
	if err != nil {
		return score.CaseResult{}, nil, nil, fmt.Errorf("evaluate: case %s: detector %s: %w", c.ID, o.Detector.Name(), err)
	}
	lesions, err := detect.Find(prob, c.Grid, o.Params, detect.Reference{})
	if err != nil {
		return score.CaseResult{}, nil, nil, fmt.Errorf("evaluate: case %s: %w", c.ID, err)
	}
	// The study's time is the appliance's work: reading the series, the
	// detector and the lesions; scoring them against the truth is not.
	secs := time.Since(t0).Seconds()
	res, err := scoreLesions(in, lesions)
	if err != nil {
		return score.CaseResult{}, nil, nil, err
	}
	res.Seconds = secs
	return res, prob, lesions, nil
}

// placeFPs is loc.place, with a failure said on progress (once a case)
// and the case's false positives left unplaced (nil) rather than the run
// lost.
func placeFPs(loc *locator, lesions []detect.Lesion, progress io.Writer) map[string]int {
	m, err := loc.place(lesions)
	if err != nil && progress != nil && !loc.told {
		loc.told = true
		fmt.Fprintf(progress, "\n%v (its false positives are not placed)\n", err)
	}
	return m
}

// sameGrid checks that the assembled volume lies on the phantom's grid, so
// the truth labels apply voxel for voxel.
func sameGrid(c *phantom.Case, v *volume.Volume) error {
	if v.Grid.Dims != c.Grid.Dims {
		return fmt.Errorf("evaluate: case %s: assembled volume is %v, the phantom grid %v", c.ID, v.Grid.Dims, c.Grid.Dims)
	}
	if !v.Grid.Near(c.Grid, 1e-3) {
		return fmt.Errorf("evaluate: case %s: assembled affine %v differs from the phantom's %v", c.ID, v.Grid.Affine, c.Grid.Affine)
	}
	return nil
}

// scoreLesions scores the lesions firmware/detect found.
func scoreLesions(in score.Input, lesions []detect.Lesion) (score.CaseResult, error) {
	comps := make([][]int, len(lesions))
	for i, l := range lesions {
		comps[i] = l.Voxels
	}
	return score.CaseComponents(in, comps)
}

// frocCase scores one FROC point: the same rule as detect.Find (voxels at
// or above t, 26-connected components, those under minMM3 dropped) without
// measuring each component, which the sweep does not need.
func frocCase(c *phantom.Case, in score.Input, prob []float32, t, minMM3 float64) (score.CaseResult, error) {
	lab, n := score.Components(score.Threshold(prob, t), c.Grid.Dims)
	comps := make([][]int, n)
	for idx, l := range lab {
		if l != 0 {
			comps[l-1] = append(comps[l-1], idx)
		}
	}
	vv := c.Grid.VoxelVolume()
	kept := comps[:0]
	for _, cp := range comps {
		if float64(len(cp))*vv >= minMM3 {
			kept = append(kept, cp)
		}
	}
	return score.CaseComponents(in, kept)
}

// CaseInput is InputOf with the case's vessel and choroid plexus /
// pituitary zones under rule (from the phantom's partial-volume maps), so
// the score splits out the false positives on them.
func CaseInput(c *phantom.Case, pred []bool, secs float64, rule score.VesselRule) (score.Input, error) {
	in := InputOf(c, pred, secs)
	vm, err := c.VesselMask(rule.MinFraction)
	if err != nil {
		return score.Input{}, fmt.Errorf("evaluate: case %s: %w", c.ID, err)
	}
	gm, err := c.GlandMask(rule.MinFraction)
	if err != nil {
		return score.Input{}, fmt.Errorf("evaluate: case %s: %w", c.ID, err)
	}
	sp := c.Grid.Spacing()
	if in.VesselZone, err = score.Zone(vm, c.Grid.Dims, sp, rule.ReachMM); err != nil {
		return score.Input{}, err
	}
	if in.GlandZone, err = score.Zone(gm, c.Grid.Dims, sp, rule.ReachMM); err != nil {
		return score.Input{}, err
	}
	return in, nil
}

// InputOf builds a scoring input from a phantom case and a predicted mask.
func InputOf(c *phantom.Case, pred []bool, secs float64) score.Input {
	in := score.Input{ID: c.ID, Dims: c.Grid.Dims, Truth: c.Labels, Pred: pred, Seconds: secs}
	for _, l := range c.Lesions {
		in.Lesions = append(in.Lesions, score.TruthLesion{ID: l.ID, DiameterMM: l.LongestDiameterMM})
	}
	return in
}
