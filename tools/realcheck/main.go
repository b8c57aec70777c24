// Command realcheck runs the detection model on a real brain with an
// enhancing tumour (a BraTS 2023 case), the way the appliance would, and
// reports whether the study is flagged, whether the tumour is found and what
// else is flagged. See README.md.
//
//	go run ./tools/realcheck -model models/metnet/metnet-fp32.manifest.json -trust models/trust -out /tmp/realcheck
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"metsentry/tools/realcheck/realcheck"
)

func main() {
	modelPath := flag.String("model", "", "model manifest (.json), signed")
	trustDir := flag.String("trust", "", "folder of trusted *.pub keys the manifest must be signed with")
	ortLib := flag.String("ort", "", "ONNX Runtime shared library (default: runtime/ort's default path)")
	data := flag.String("data", "../shared/data/anatomy/brats-gli-00001", "BraTS case folder (*-t1c, *-t1n, *-t2f .nii.gz)")
	out := flag.String("out", ".", "folder for report.md, report.json and the NIfTI images")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *modelPath, *trustDir, *ortLib, *data, *out, os.Stdout); err != nil {
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
