// Command realcheck runs the detection model on a real brain with an
// enhancing tumour (a BraTS 2023 case), the way the appliance would, and
// reports whether the study is flagged, whether the tumour is found and what
// else is flagged. See README.md.
//
//	go run ./tools/realcheck -model models/metnet/metnet-fp32.manifest.json -trust models/trust -out /tmp/realcheck
//
// With -negatives it runs the model on every real brain of the shared data
// with nothing inserted (VISIBLE-like and bright-only) and writes the real
// negatives scoreboard (negatives.md, negatives.json):
//
//	go run ./tools/realcheck -negatives -model models/metnet/metnet-fp32.manifest.json -trust models/trust -out /tmp/negatives
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"metsentry/tools/evaluate/score"
	"metsentry/tools/realcheck/realcheck"
)

func main() {
	modelPath := flag.String("model", "", "model manifest (.json), signed")
	trustDir := flag.String("trust", "", "folder of trusted *.pub keys the manifest must be signed with")
	ortLib := flag.String("ort", "", "ONNX Runtime shared library (default: runtime/ort's default path)")
	data := flag.String("data", "../shared/data/anatomy/brats-gli-00001", "BraTS case folder (*-t1c, *-t1n, *-t2f .nii.gz)")
	out := flag.String("out", ".", "folder for report.md, report.json and the NIfTI images (negatives.md and negatives.json with -negatives)")
	negatives := flag.Bool("negatives", false, "real negatives: every real brain of -shared with nothing inserted, VISIBLE-like and bright-only")
	shared := flag.String("shared", "../shared/data", "shared data folder (anatomy/ and dicom/), for -negatives")
	brains := flag.String("brains", strings.Join(realcheck.BackgroundNames, ","), "comma-separated brains for -negatives")
	levels := flag.String("levels", "", "with -negatives: other levels of each study's operating map (stage accept levels, or network thresholds), comma-separated, to count the false positives at too")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	if *negatives {
		var ls []float64
		if ls, err = parseLevels(*levels); err == nil {
			err = runNegatives(ctx, *modelPath, *trustDir, *ortLib, *shared, strings.Split(*brains, ","), ls, *out, os.Stdout, os.Stderr)
		}
	} else {
		err = run(ctx, *modelPath, *trustDir, *ortLib, *data, *out, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run checks the model at modelPath on the case in data, writes the report
// into out and prints it to stdout.
func run(ctx context.Context, modelPath, trustDir, ortLib, data, out string, stdout io.Writer) error {
	if modelPath == "" {
		return fmt.Errorf("realcheck: -model is required (a signed model manifest)")
	}
	s, err := realcheck.LoadStudy(data)
	if err != nil {
		return err
	}
	o, closeModel, err := openModel(ctx, modelPath, trustDir, ortLib)
	if err != nil {
		return err
	}
	defer closeModel()
	o.ManifestPath = modelPath
	res, err := realcheck.Check(ctx, s, o)
	if err != nil {
		return err
	}
	if err := res.WriteReport(out); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, res.Markdown())
	return err
}

// runNegatives loads the brains named from shared, runs the model at
// modelPath on each with nothing inserted, writes the scoreboard into out
// and prints it to stdout (progress to progress).
// parseLevels reads -levels.
func parseLevels(s string) ([]float64, error) {
	ls, err := score.ParseLevels(s)
	if err != nil {
		return nil, fmt.Errorf("realcheck: -levels: %w", err)
	}
	return ls, nil
}

func runNegatives(ctx context.Context, modelPath, trustDir, ortLib, shared string, names []string, levels []float64, out string, stdout, progress io.Writer) error {
	if modelPath == "" {
		return fmt.Errorf("realcheck: -model is required (a signed model manifest)")
	}
	var bgs []*realcheck.Background
	for _, n := range names {
		b, err := realcheck.LoadBackground(shared, strings.TrimSpace(n))
		if err != nil {
			return err
		}
		bgs = append(bgs, b)
	}
	o, closeModel, err := openModel(ctx, modelPath, trustDir, ortLib)
	if err != nil {
		return err
	}
	defer closeModel()
	o.ManifestPath, o.Levels = modelPath, levels
	rep, err := realcheck.RunNegatives(ctx, bgs, o, realcheck.DefaultNegParams, progress)
	if err != nil {
		return err
	}
	if err := rep.WriteNegatives(out); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, rep.Markdown())
	return err
}
