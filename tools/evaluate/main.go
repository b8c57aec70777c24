// Command evaluate scores the detector on synthetic VISIBLE studies and
// writes report.md, report.json and froc.png.
//
//	evaluate -split test -n 20 -out /tmp/eval               # in process, baseline detector
//	evaluate -files -cases /tmp/test -pred /tmp/pred -out . # score NIfTI predictions
//	evaluate -model m.manifest.json -trust keys -bright-only -out /tmp/b  # black-blood withheld
//	evaluate -backgrounds all -split val -model m.manifest.json -trust keys -compare-bright-only -out /tmp/v  # real brains, VISIBLE and bright-only
//	evaluate -model m.manifest.json -trust keys -speed-ref /tmp/variants/metnet-layout.onnx -out /tmp/s  # seconds in passes of the speed target's reference
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"metsentry/firmware/detect"
	"metsentry/tools/evaluate/runner"
	"metsentry/tools/evaluate/score"
)

func main() {
	var c runner.CLI
	flag.StringVar(&c.AnatomyDir, "anatomy", "../shared/data/anatomy/colin27", "Colin27 folder for the phantom")
	flag.StringVar(&c.Split, "split", "test", "phantom split: train, val or test")
	flag.Uint64Var(&c.FirstSeed, "seed", 0, "first seed")
	flag.IntVar(&c.Count, "n", 20, "number of cases")
	flag.Float64Var(&c.Threshold, "threshold", 0, "probability threshold of the operating point (default: the manifest's, or 0.5 for the baseline)")
	flag.Float64Var(&c.MinComponentMM3, "min-mm3", 0, "smallest component kept, mm³")
	flag.StringVar(&c.OutDir, "out", ".", "folder for report.md, report.json and froc.png")
	flag.BoolVar(&c.Files, "files", false, "score predictions from NIfTI files instead of running the pipeline")
	flag.StringVar(&c.CasesDir, "cases", "", "with -files: phantom output folder (one subfolder per case with truth.json and labels.nii.gz)")
	flag.StringVar(&c.PredDir, "pred", "", "with -files: folder with <case>/prob.nii.gz (probabilities), <case>/seg.dcm (DICOM SEG) or <case>/pred.nii.gz (labels)")
	flag.StringVar(&c.E2E, "e2e", "", "host:port of a running metsentryd: send the studies over DIMSE and score the SEG it sends back")
	flag.StringVar(&c.E2EResultsDir, "results-dir", "", "with -e2e: folder where the daemon's results arrive")
	flag.IntVar(&c.E2EResultsPort, "results-port", 0, "with -e2e: run dcmtk's storescp on this port writing into -results-dir (0: a receiver of your own)")
	flag.StringVar(&c.E2ECallingAE, "aet", "EVALUATE", "with -e2e: our AE title")
	flag.StringVar(&c.E2ECalledAE, "daemon-aet", "METSENTRY", "with -e2e: the daemon's AE title")
	flag.StringVar(&c.E2EResultsAE, "results-aet", "EVALRESULTS", "with -e2e: the results receiver's AE title")
	flag.DurationVar(&c.E2ETimeout, "timeout", 5*time.Minute, "with -e2e: longest wait for one study's results")
	flag.BoolVar(&c.Quiet, "q", false, "no progress line")
	flag.Float64Var(&c.VesselRule.MinFraction, "vessel-fraction", score.DefaultVesselRule.MinFraction, "a voxel is a vessel voxel when the phantom drew at least this fraction of it as blood vessel")
	flag.Float64Var(&c.VesselRule.ReachMM, "vessel-reach-mm", score.DefaultVesselRule.ReachMM, "a false positive is on a vessel when one of its voxels lies within this distance (mm, centre to centre) of a vessel voxel (0: the component must overlap one)")
	flag.BoolVar(&c.BrightOnly, "bright-only", false, "in process: withhold the black-blood series, so the detector sees a bright-only post-contrast 3D T1 (the ablation against VISIBLE); the model must allow bright-only studies")
	flag.StringVar(&c.Backgrounds, "backgrounds", "", "in process: draw the cases from the phantom's many real backgrounds: all (every brain of -split) or brain names separated by commas, each of -split (splits are by brain); the report gets a row per brain")
	flag.BoolVar(&c.LesionFree, "lesion-free", false, "in process: draw every study without lesions (the same brains, orientations, noise, vessels and mimics): a set for study flag specificity")
	flag.StringVar(&c.Shared, "shared", "../shared/data", "with -backgrounds: the shared data folder the brains are read from")
	flag.BoolVar(&c.CompareBrightOnly, "compare-bright-only", false, "in process: run every study twice, VISIBLE and with the black-blood series withheld (as -bright-only), and report both, with both curves in froc.png; the model must allow bright-only studies")
	flag.Float64Var(&c.BrightOnlyThreshold, "bright-only-threshold", 0, "with -compare-bright-only: the bright-only run's threshold (default: the manifest's for a bright-only study, else -threshold)")
	modelPath := flag.String("model", "", "model manifest (.json) to evaluate; default: the baseline black-blood threshold (not a model)")
	trustDir := flag.String("trust", "", "with -model: folder of trusted *.pub keys the manifest must be signed with")
	ortLib := flag.String("ort", "", "with -model: ONNX Runtime shared library (default: runtime/ort's default path)")
	noRescore := flag.Bool("no-rescore", false, "with -model: score the network's probabilities, without the manifest's rescore stage")
	speedRef := flag.String("speed-ref", "", "in process: an ONNX model (2 input channels) whose fp32 pass is timed after every study, so the seconds can be read as a ratio to it (the speed target's reference is metnet-layout.onnx from models/recipe/speed_variants.py)")
	speedRefDims := flag.String("speed-ref-dims", "160x192x160", "with -speed-ref: its input size DxHxW")
	budgetMB := flag.Int("budget-mb", 4096, "with -model: memory one inference pass may use, MB (a board's inference.memory_budget_mb); larger volumes run in tiles")
	froc := flag.String("froc", "", "thresholds the FROC curve sweeps, comma-separated (default: runner.DefaultFROC)")
	flag.Parse()
	var err error
	if c.FROC, err = score.ParseLevels(*froc); err != nil {
		fmt.Fprintf(os.Stderr, "evaluate: -froc: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *modelPath != "" {
		d, closeModel, err := openModel(ctx, *modelPath, *trustDir, *ortLib, *budgetMB)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer closeModel()
		d.NoRescore = *noRescore
		c.Detector = d
		if c.Threshold == 0 {
			// The stage's accept level when its score map is what the
			// detector returns (VISIBLE studies), else the network's.
			c.Threshold = detect.OperatingPoint(d.Output(), !c.BrightOnly).Threshold
			if c.BrightOnlyThreshold == 0 {
				c.BrightOnlyThreshold = detect.OperatingPoint(d.Output(), false).Threshold
			}
		}
	}
	if *speedRef != "" {
		ref, closeRef, err := openReference(ctx, *speedRef, *speedRefDims, *ortLib)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer closeRef()
		c.Reference = ref
	}
	if err := runner.Main(ctx, c, os.Stderr); err != nil {
		slog.Error("evaluate failed", "err", err)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
