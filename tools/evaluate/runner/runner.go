package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"metsentry/firmware/detect"
	"metsentry/firmware/volume"
	"metsentry/tools/evaluate/score"
	"metsentry/tools/phantom/phantom"
)

// Detector produces a lesion probability map for a VISIBLE pair, one value
// in [0, 1] per voxel of bright's grid.
type Detector interface {
	Name() string
	Prob(ctx context.Context, black, bright *volume.Volume) ([]float32, error)
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
	g := o.Generator
	if g == nil {
		var err error
		if g, err = phantom.NewGenerator(o.AnatomyDir, o.Phantom); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
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
		Data:      "synthetic VISIBLE studies (tools/phantom on Colin27 anatomy); not patient data",
		Split:     string(o.Split),
		Generator: phantom.Version,
		Seeds:     o.Seeds,
		Detector:  o.Detector.Name(),
		Threshold: o.Params.Threshold,
		Mode:      "in-process: DICOM -> firmware/volume -> detector -> firmware/detect",
	}
	ths := append([]float64(nil), o.FROCThresholds...)
	sort.Float64s(ths)
	froc := make([][]score.CaseResult, len(ths))
	start := time.Now()
	for n, seed := range o.Seeds {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		c, err := g.Generate(seed, o.Split)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		dir := filepath.Join(scratch, c.ID)
		if err := phantom.WriteDICOM(dir, c); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		res, prob, err := runCase(ctx, o, c, dir)
		if err != nil {
			return nil, err
		}
		rep.Cases = append(rep.Cases, res)
		for i, t := range ths {
			r, err := frocCase(c, prob, t, o.Params.MinComponentMM3)
			if err != nil {
				return nil, err
			}
			froc[i] = append(froc[i], r)
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
	for i, t := range ths {
		s := score.Summarize(froc[i])
		rep.FROC = append(rep.FROC, score.FROCPoint{Threshold: t, Sensitivity: s.Sensitivity, FPPerCase: s.FPPerCase})
	}
	return rep, nil
}

// runCase reads the case's DICOM series back like the appliance does and
// scores the detector's lesions.
func runCase(ctx context.Context, o Options, c *phantom.Case, dir string) (score.CaseResult, []float32, error) {
	t0 := time.Now()
	var vols [2]*volume.Volume
	for i, s := range phantom.SeriesOf() {
		files, err := filepath.Glob(filepath.Join(dir, fmt.Sprintf("s%d", s.Number), "*.dcm"))
		if err != nil {
			return score.CaseResult{}, nil, fmt.Errorf("evaluate: %w", err)
		}
		v, err := volume.Assemble(files, volume.Options{})
		if err != nil {
			return score.CaseResult{}, nil, fmt.Errorf("evaluate: case %s series %d: %w", c.ID, s.Number, err)
		}
		vols[i] = v
	}
	black, bright := vols[0], vols[1]
	if err := sameGrid(c, bright); err != nil {
		return score.CaseResult{}, nil, err
	}
	prob, err := o.Detector.Prob(ctx, black, bright)
	if err != nil {
		return score.CaseResult{}, nil, fmt.Errorf("evaluate: case %s: detector %s: %w", c.ID, o.Detector.Name(), err)
	}
	res, err := scoreLesions(c, prob, o.Params, 0)
	if err != nil {
		return score.CaseResult{}, nil, err
	}
	res.Seconds = time.Since(t0).Seconds()
	return res, prob, nil
}

// sameGrid checks that the assembled volume lies on the phantom's grid, so
// the truth labels apply voxel for voxel.
func sameGrid(c *phantom.Case, v *volume.Volume) error {
	if v.Grid.Dims != c.Grid.Dims {
		return fmt.Errorf("evaluate: case %s: assembled volume is %v, the phantom grid %v", c.ID, v.Grid.Dims, c.Grid.Dims)
	}
	for r := 0; r < 3; r++ {
		for col := 0; col < 4; col++ {
			if math.Abs(v.Grid.Affine[r][col]-c.Grid.Affine[r][col]) > 1e-3 {
				return fmt.Errorf("evaluate: case %s: assembled affine %v differs from the phantom's %v", c.ID, v.Grid.Affine, c.Grid.Affine)
			}
		}
	}
	return nil
}

// scoreLesions runs firmware/detect on prob and scores its lesions.
func scoreLesions(c *phantom.Case, prob []float32, p detect.Params, secs float64) (score.CaseResult, error) {
	lesions, err := detect.Find(prob, c.Grid, p, detect.Reference{})
	if err != nil {
		return score.CaseResult{}, fmt.Errorf("evaluate: case %s: %w", c.ID, err)
	}
	comps := make([][]int, len(lesions))
	for i, l := range lesions {
		comps[i] = l.Voxels
	}
	return score.CaseComponents(InputOf(c, nil, secs), comps)
}

// frocCase scores one FROC point: the same rule as detect.Find (voxels at
// or above t, 26-connected components, those under minMM3 dropped) without
// measuring each component, which the sweep does not need.
func frocCase(c *phantom.Case, prob []float32, t, minMM3 float64) (score.CaseResult, error) {
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
	return score.CaseComponents(InputOf(c, nil, 0), kept)
}

// InputOf builds a scoring input from a phantom case and a predicted mask.
func InputOf(c *phantom.Case, pred []bool, secs float64) score.Input {
	in := score.Input{ID: c.ID, Dims: c.Grid.Dims, Truth: c.Labels, Pred: pred, Seconds: secs}
	for _, l := range c.Lesions {
		in.Lesions = append(in.Lesions, score.TruthLesion{ID: l.ID, DiameterMM: l.LongestDiameterMM})
	}
	return in
}
