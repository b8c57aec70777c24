// Command ortcompare times whole-volume passes of several ONNX models against
// the first, taking turns in one process (runtime/bench.Compare), so the
// ratios hold on a machine whose speed drifts:
//
//	go run ./runtime/cmd/ortcompare -dims 176x216x192 models/metnet/metnet-fp32.onnx /tmp/variants/*.onnx
//
// models/recipe/speed_variants.py writes lighter variants of MetNet with
// random weights to compare (speed only).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"metsentry/runtime/bench"
	"metsentry/runtime/ort"
)

func main() {
	lib := flag.String("lib", ort.DefaultLibraryPath(), "ONNX Runtime shared library")
	d := flag.String("dims", "176x216x192", "input size DxHxW (the model's layout multiple applies)")
	threads := flag.Int("threads", 2, "intra-op threads")
	rounds := flag.Int("rounds", 3, "timed rounds, each running every model once")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: ortcompare [flags] first.onnx other.onnx...")
		flag.PrintDefaults()
	}
	flag.Parse()
	dims, err := bench.ParseDims(*d)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ortcompare:", err)
		os.Exit(2)
	}
	if flag.NArg() < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := ort.Init(*lib); err != nil {
		fmt.Fprintln(os.Stderr, "ortcompare:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rows, err := bench.Compare(ctx, flag.Args(), dims, *threads, *rounds, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ortcompare:", err)
		os.Exit(1)
	}
	bench.PrintCompared(os.Stdout, dims, *threads, rows)
}
