// Command trainset writes training cases for models/recipe: synthetic VISIBLE
// studies from tools/phantom, passed through the appliance's own preprocessing
// (firmware/volume.Prepare), with the lesion labels carried onto the model grid.
//
//	go run ./models/trainset -anatomy ../shared/data/anatomy/colin27 -split train -n 200 -out out/trainset/train
//	go run ./models/trainset -backgrounds all -split train -n 60 -out out/trainset/train   # real brains, split by brain
//	go run ./models/trainset -brains train,val   # the real brains of those splits, one a line
//
// Each case folder holds input.f16 ([2, D, H, W] float16: black, bright),
// label.u8 ([D, H, W], 0 or the lesion's ID) and case.json (dims, lesions with model-grid centres).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"

	"metsentry/models/trainset/internal/export"
	"metsentry/tools/phantom/phantom"
)

func main() {
	anatomy := flag.String("anatomy", "../shared/data/anatomy/colin27", "Colin27 folder (ch2, ch2bet, aal)")
	split := flag.String("split", "train", "phantom split: train, val or test")
	first := flag.Uint64("first", 0, "first seed")
	n := flag.Int("n", 10, "number of cases")
	out := flag.String("out", "", "output folder (one sub-folder per case)")
	workers := flag.Int("j", 0, "cases generated at once (default: cores/2, at least 1)")
	backgrounds := flag.String("backgrounds", "", "draw every case from these real brains (comma-separated, or all), split by brain (phantom.DefaultBrainSplits), instead of Colin27 alone")
	shared := flag.String("shared", "../shared/data", "shared data folder, for -backgrounds")
	brains := flag.String("brains", "", "print the real brains of these splits (comma-separated: train, val, test), one a line, and exit; a kit for another machine carries exactly these")
	flag.Parse()
	if *brains != "" {
		names, err := brainsOf(*brains)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(strings.Join(names, "\n"))
		return
	}
	if *out == "" {
		fmt.Fprintln(os.Stderr, "trainset: -out is required")
		os.Exit(2)
	}
	s, err := phantom.ParseSplit(*split)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o := export.Options{Anatomy: *anatomy, Split: s, First: *first, Count: *n, Out: *out, Workers: *workers, Shared: *shared}
	if *backgrounds != "" {
		o.Backgrounds = strings.Split(*backgrounds, ",")
	}
	err = export.Run(ctx, o, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// brainsOf lists, sorted, the real brains phantom.DefaultBrainSplits puts in
// the splits named (comma-separated).
func brainsOf(splits string) ([]string, error) {
	var names []string
	for _, f := range strings.Split(splits, ",") {
		s, err := phantom.ParseSplit(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		own, err := phantom.BrainsOf("all", s)
		if err != nil {
			return nil, err
		}
		names = append(names, own...)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
