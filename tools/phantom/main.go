// Command phantom writes synthetic VISIBLE studies (black-blood and
// bright-blood series of one acquisition) built on real brain anatomy, with
// their truth: a label volume and a lesion list.
//
//	phantom -split test -n 20 -out /tmp/test            # DICOM + truth
//	phantom -split train -n 500 -format nifti -out ...   # raw volumes for training
//	phantom -split test -seed 3 -preview preview.png     # a picture of one case
//	phantom -backgrounds all -split train -n 500 -format nifti -out ...  # many real brains, split by brain
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"

	"metsentry/tools/phantom/phantom"
)

func main() {
	var o phantom.RunOptions
	flag.StringVar(&o.AnatomyDir, "anatomy", "../shared/data/anatomy/colin27", "folder with Colin27 ch2, ch2bet and aal NIfTI files")
	split := flag.String("split", "test", "split: train, val or test")
	flag.Uint64Var(&o.FirstSeed, "seed", 0, "first seed")
	flag.IntVar(&o.Count, "n", 1, "number of cases")
	flag.StringVar(&o.OutDir, "out", "", "output folder (one subfolder per case)")
	flag.StringVar(&o.Format, "format", "dicom", "what to write per case: dicom (DICOM study + truth), nifti (black, bright, labels .nii.gz + truth) or both")
	flag.StringVar(&o.Preview, "preview", "", "write a PNG picture of the first case to this path")
	flag.BoolVar(&o.Quiet, "q", false, "no progress bar")
	backgrounds := flag.String("backgrounds", "", "draw every case from these real brains (comma-separated, or all), each in its own split (phantom.DefaultBrainSplits); new generator version "+phantom.VersionMulti)
	flag.StringVar(&o.Shared, "shared", "../shared/data", "shared data folder, for -backgrounds")
	flag.Parse()
	if *backgrounds != "" {
		o.Backgrounds = strings.Split(*backgrounds, ",")
	}
	s, err := phantom.ParseSplit(*split)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	o.Split = s
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := phantom.Run(ctx, o, os.Stderr); err != nil {
		slog.Error("phantom failed", "err", err)
		os.Exit(1)
	}
}
