package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/detect"
	"metsentry/firmware/nifti"
	"metsentry/tools/evaluate/score"
	"metsentry/tools/phantom/phantom"
)

// CLI holds the evaluate command's flags.
type CLI struct {
	AnatomyDir      string
	Split           string
	FirstSeed       uint64
	Count           int
	Threshold       float64
	MinComponentMM3 float64
	OutDir          string
	Files           bool
	CasesDir        string
	PredDir         string
	E2E             string
	E2EResultsDir   string
	E2EResultsPort  int
	E2ECallingAE    string
	E2ECalledAE     string
	E2EResultsAE    string
	E2ETimeout      time.Duration
	Quiet           bool
	// BrightOnly withholds the black-blood series from the detector (in
	// process only): the ablation against VISIBLE.
	BrightOnly bool
	// Backgrounds, when set, draws the in-process cases from the phantom's
	// many-backgrounds generator: "all" (every real brain of Split) or
	// brain names separated by commas, each of Split (splits are by brain,
	// phantom.DefaultBrainSplits). Shared is the shared data folder the
	// brains are read from.
	Backgrounds string
	Shared      string
	// LesionFree draws every in-process study without lesions (the
	// phantom's Config.LesionFree at 1): the same brains, orientations,
	// noise, vessels and mimics, nothing to find. A set of these measures
	// study flag specificity, which the few lesion-free studies of an
	// ordinary set (about one in five) cannot show.
	LesionFree bool
	// CompareBrightOnly runs every in-process study twice, VISIBLE and
	// bright-only (Options.CompareBrightOnly); BrightOnlyThreshold is the
	// bright-only run's threshold (0: Threshold).
	CompareBrightOnly   bool
	BrightOnlyThreshold float64
	// FROC are the thresholds the FROC curve sweeps (empty: DefaultFROC).
	FROC []float64
	// VesselRule overrides score.DefaultVesselRule; the zero value means
	// the default.
	VesselRule score.VesselRule
	// Detector runs the in-process pipeline's model step; nil means
	// BaselineDetector.
	Detector Detector
	// Reference is timed after every study in process (nil: none).
	Reference SpeedReference
}

// DefaultFROC are the thresholds the FROC curve sweeps. It reaches 0.999:
// a network sure of what it marks (MetNet 0.6.0 alone puts the choroid
// plexus near 1) is told apart only up there.
var DefaultFROC = []float64{0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999}

func (c CLI) frocThresholds() []float64 {
	if len(c.FROC) > 0 {
		return c.FROC
	}
	return DefaultFROC
}

// Main runs the command.
func Main(ctx context.Context, c CLI, progress io.Writer) error {
	if c.Quiet {
		progress = nil
	}
	var rep *score.Report
	var err error
	if c.Reference != nil && (c.E2E != "" || c.Files) {
		return errors.New("evaluate: a speed reference is timed beside in-process studies only: with -e2e the daemon's time includes the network, with -files nothing is timed")
	}
	if c.BrightOnly && (c.E2E != "" || c.Files) {
		return errors.New("evaluate: -bright-only runs in process only: with -e2e the daemon gets both series, with -files the predictions are already made")
	}
	if c.CompareBrightOnly && (c.E2E != "" || c.Files) {
		return errors.New("evaluate: -compare-bright-only runs in process only: with -e2e the daemon gets both series, with -files the predictions are already made")
	}
	if c.LesionFree && (c.E2E != "" || c.Files) {
		return errors.New("evaluate: -lesion-free runs in process only (-e2e and -files use the classic phantom's ordinary cases)")
	}
	if c.Backgrounds != "" && (c.E2E != "" || c.Files) {
		return errors.New("evaluate: -backgrounds runs in process only (-e2e and -files use the classic Colin27 phantom's cases)")
	}
	if c.E2E != "" {
		if c.E2EResultsDir == "" {
			return errors.New("evaluate: -e2e needs -results-dir: the folder where the daemon's SEG and SR arrive (with -results-port, evaluate runs storescp there itself)")
		}
		split, perr := phantom.ParseSplit(c.Split)
		if perr != nil {
			return perr
		}
		if c.Count < 1 {
			return fmt.Errorf("evaluate: -n %d (want at least 1)", c.Count)
		}
		g, gerr := phantom.NewGenerator(c.AnatomyDir, phantom.Config{})
		if gerr != nil {
			return gerr
		}
		seeds := make([]uint64, c.Count)
		for i := range seeds {
			seeds[i] = c.FirstSeed + uint64(i)
		}
		rep, err = RunE2E(ctx, E2EOptions{
			Generator: g, Split: split, Seeds: seeds, Daemon: c.E2E,
			CallingAE: c.E2ECallingAE, CalledAE: c.E2ECalledAE, ResultsAE: c.E2EResultsAE,
			ResultsDir: c.E2EResultsDir, ResultsPort: c.E2EResultsPort, Timeout: c.E2ETimeout, Progress: progress,
		})
	} else if c.Files {
		thr := c.Threshold
		if thr == 0 {
			thr = 0.5
		}
		rep, err = ScoreFiles(c.CasesDir, c.PredDir, thr, DefaultFROC)
	} else {
		split, perr := phantom.ParseSplit(c.Split)
		if perr != nil {
			return perr
		}
		if c.Count < 1 {
			return fmt.Errorf("evaluate: -n %d (want at least 1)", c.Count)
		}
		seeds := make([]uint64, c.Count)
		for i := range seeds {
			seeds[i] = c.FirstSeed + uint64(i)
		}
		rule, rerr := c.vesselRule()
		if rerr != nil {
			return rerr
		}
		det := c.Detector
		if det == nil {
			det = BaselineDetector{}
		}
		thr := c.Threshold
		if thr == 0 {
			thr = 0.5
		}
		boThr := c.BrightOnlyThreshold
		if boThr == 0 {
			boThr = thr
		}
		var cfg phantom.Config
		if c.LesionFree {
			cfg.LesionFree = 1
		}
		var multi *phantom.MultiGenerator
		if c.Backgrounds != "" {
			names, berr := phantom.BrainsOf(c.Backgrounds, split)
			if berr != nil {
				return berr
			}
			if multi, err = phantom.NewMultiGenerator(c.Shared, names, nil, cfg); err != nil {
				return fmt.Errorf("evaluate: %w", err)
			}
		}
		rep, err = Run(ctx, Options{
			AnatomyDir: c.AnatomyDir, Split: split, Seeds: seeds,
			Phantom:           cfg,
			Multi:             multi,
			CompareBrightOnly: c.CompareBrightOnly,
			BrightOnlyParams:  detect.Params{Threshold: boThr, MinComponentMM3: c.MinComponentMM3},
			Detector:          det,
			BrightOnly:        c.BrightOnly,
			VesselRule:        rule,
			Params:            detect.Params{Threshold: thr, MinComponentMM3: c.MinComponentMM3},
			FROCThresholds:    c.frocThresholds(),
			Reference:         c.Reference,
			Progress:          progress,
		})
	}
	if err != nil {
		return err
	}
	return WriteReport(c.OutDir, rep)
}

// vesselRule is c.VesselRule, or the default for the zero value, checked.
func (c CLI) vesselRule() (score.VesselRule, error) {
	r := c.VesselRule
	if r == (score.VesselRule{}) {
		r = score.DefaultVesselRule
	}
	if !(r.MinFraction > 0 && r.MinFraction <= 1) || !(r.ReachMM >= 0 && r.ReachMM <= 10) {
		return r, fmt.Errorf("evaluate: vessel rule: -vessel-fraction %g and -vessel-reach-mm %g (want a fraction in (0, 1] and a reach of 0 to 10 mm)", r.MinFraction, r.ReachMM)
	}
	return r, nil
}

// WriteReport writes report.md, report.json and (with FROC points) froc.png
// into dir.
func WriteReport(dir string, rep *score.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	var md, js bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		return err
	}
	if err := rep.WriteJSON(&js); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), md.Bytes(), 0o644); err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), js.Bytes(), 0o644); err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	if len(rep.FROC) > 0 {
		var png bytes.Buffer
		if err := rep.PlotFROC(&png); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "froc.png"), png.Bytes(), 0o644); err != nil {
			return fmt.Errorf("evaluate: %w", err)
		}
	}
	return nil
}

// ScoreFiles scores predictions stored as NIfTI against phantom output:
// casesDir/<case>/{truth.json,labels.nii.gz} and predDir/<case>/prob.nii.gz
// (probabilities, thresholded at threshold and swept for the FROC) or
// predDir/<case>/seg.dcm (a BINARY DICOM SEG on the case's bright-blood
// series, as the daemon sends back; needs the case's DICOM) or
// predDir/<case>/pred.nii.gz (a mask or label map: non-zero is lesion).
func ScoreFiles(casesDir, predDir string, threshold float64, froc []float64) (*score.Report, error) {
	if casesDir == "" || predDir == "" {
		return nil, errors.New("evaluate: -files needs -cases and -pred")
	}
	truths, err := filepath.Glob(filepath.Join(casesDir, "*", "truth.json"))
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	if len(truths) == 0 {
		return nil, fmt.Errorf("evaluate: no */truth.json under %s (expected phantom output)", casesDir)
	}
	sort.Strings(truths)
	rep := &score.Report{
		Data:      "synthetic VISIBLE studies (tools/phantom on Colin27 anatomy); not patient data",
		Threshold: threshold,
		Detector:  "predictions from " + predDir,
		Mode:      "files",
	}
	ths := append([]float64(nil), froc...)
	sort.Float64s(ths)
	perThr := make([][]score.CaseResult, len(ths))
	probs := 0
	for _, tp := range truths {
		var tr phantom.Truth
		b, err := os.ReadFile(tp)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		if err := json.Unmarshal(b, &tr); err != nil {
			return nil, fmt.Errorf("evaluate: %s: %w", tp, err)
		}
		if rep.Split == "" {
			rep.Split, rep.Generator = string(tr.Split), tr.Generator
		} else if rep.Split != string(tr.Split) || rep.Generator != tr.Generator {
			return nil, fmt.Errorf("evaluate: %s is split %s of %s, others are %s of %s: score one split of one generator at a time", tr.Case, tr.Split, tr.Generator, rep.Split, rep.Generator)
		}
		rep.Seeds = append(rep.Seeds, tr.Seed)
		lab, err := nifti.Read(filepath.Join(filepath.Dir(tp), "labels.nii.gz"))
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		in := score.Input{ID: tr.Case, Dims: lab.Grid.Dims, Truth: make([]uint16, len(lab.Data))}
		for i, v := range lab.Data {
			in.Truth[i] = uint16(v)
		}
		for _, l := range tr.Lesions {
			in.Lesions = append(in.Lesions, score.TruthLesion{ID: l.ID, DiameterMM: l.LongestDiameterMM})
		}
		pdir := filepath.Join(predDir, tr.Case)
		if p, err := nifti.Read(filepath.Join(pdir, "prob.nii.gz")); err == nil {
			if p.Grid.Dims != lab.Grid.Dims {
				return nil, fmt.Errorf("evaluate: %s: prediction %v, truth %v", tr.Case, p.Grid.Dims, lab.Grid.Dims)
			}
			probs++
			in.Pred = score.Threshold(p.Data, threshold)
			for i, t := range ths {
				pi := in
				pi.Pred = score.Threshold(p.Data, t)
				r, err := score.Case(pi)
				if err != nil {
					return nil, err
				}
				perThr[i] = append(perThr[i], r)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("evaluate: %w", err)
		} else if segPath := filepath.Join(pdir, "seg.dcm"); fileExists(segPath) {
			sliceOf, err := slicesOf(filepath.Join(filepath.Dir(tp), "dicom", "s702"))
			if err != nil {
				return nil, err
			}
			lab, err := ReadSEG(segPath, in.Dims, sliceOf)
			if err != nil {
				return nil, err
			}
			in.Pred = make([]bool, len(lab))
			for i, v := range lab {
				in.Pred[i] = v != 0
			}
		} else {
			p, err := nifti.Read(filepath.Join(pdir, "pred.nii.gz"))
			if err != nil {
				return nil, fmt.Errorf("evaluate: %s: no prob.nii.gz, seg.dcm or pred.nii.gz: %w", tr.Case, err)
			}
			if p.Grid.Dims != lab.Grid.Dims {
				return nil, fmt.Errorf("evaluate: %s: prediction %v, truth %v", tr.Case, p.Grid.Dims, lab.Grid.Dims)
			}
			in.Pred = make([]bool, len(p.Data))
			for i, v := range p.Data {
				in.Pred[i] = v != 0
			}
		}
		r, err := score.Case(in)
		if err != nil {
			return nil, err
		}
		rep.Cases = append(rep.Cases, r)
	}
	rep.Summary = score.Summarize(rep.Cases)
	if probs == len(truths) {
		for i, t := range ths {
			rep.FROC = append(rep.FROC, score.PointOf(t, score.Summarize(perThr[i])))
		}
	}
	return rep, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// slicesOf maps the SOPInstanceUID of each image of a phantom series folder
// to its slice index (InstanceNumber - 1, as the phantom writes them).
func slicesOf(dir string) (map[string]int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("evaluate: scoring a SEG needs the case's bright-blood series in %s (write the phantom with -format dicom)", dir)
	}
	out := make(map[string]int, len(files))
	for _, f := range files {
		ds, err := dicom.ParseFile(f, nil, dicom.SkipPixelData())
		if err != nil {
			return nil, fmt.Errorf("evaluate: %s: %w", f, err)
		}
		var sop string
		n := 0
		if e, err := ds.FindElementByTag(tag.SOPInstanceUID); err == nil {
			if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
				sop = v[0]
			}
		}
		if e, err := ds.FindElementByTag(tag.InstanceNumber); err == nil {
			if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
				n, _ = strconv.Atoi(strings.TrimSpace(v[0]))
			}
		}
		if sop == "" || n < 1 {
			return nil, fmt.Errorf("evaluate: %s: no SOPInstanceUID or InstanceNumber", f)
		}
		out[sop] = n - 1
	}
	return out, nil
}
