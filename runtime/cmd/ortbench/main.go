// Command ortbench times one study's inference: the bench U-Net in fp32 and
// INT8 through ONNX Runtime, with and without the AMX guard, and in PyTorch,
// and prints seconds per study, peak RSS and the ratios. Run it from the
// repository root on an idle machine, e.g.
//
//	go run ./runtime/cmd/ortbench -threads 2 -dims 160x192x160
//
// See runtime/bench.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"metsentry/runtime/bench"
)

func main() {
	bench.MaybeChild()
	get := bench.Flags(flag.CommandLine)
	flag.Parse()
	c, err := get()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c.Progress = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := bench.Run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
