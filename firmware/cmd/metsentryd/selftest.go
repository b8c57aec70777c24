package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"metsentry/firmware/analyze"
	"metsentry/firmware/config"
	"metsentry/firmware/selftest"
	"metsentry/runtime/model"
	"metsentry/runtime/ort"
	"metsentry/runtime/trust"
)

// selftestOpener opens the models from their files as the daemon does at
// start (signature, SHA-256, reference check, the board's session settings;
// no warm-up) for firmware/selftest. A candidate refused on the way fails
// the test even when a later one opens: the daemon would run, but on a
// fallback, and a damaged model file must not go unnoticed.
func selftestOpener(b *config.Board, models []string, trustDir string, log *slog.Logger) selftest.Opener {
	return func(ctx context.Context) (*analyze.Model, error) {
		if len(models) == 0 {
			return nil, fmt.Errorf("metsentryd: no --model given")
		}
		if _, err := startORT(b); err != nil {
			return nil, err
		}
		store, err := trust.LoadStore(trustDir)
		if err != nil {
			return nil, fmt.Errorf("metsentryd: --trust %s: %w", trustDir, err)
		}
		md, err := model.Open(ctx, model.Options{
			Candidates: models, Store: store, Logger: log,
			Session: ort.SessionOptions{IntraOpThreads: b.Inference.Threads, Providers: b.Inference.Providers, EngineCache: b.Inference.EngineCache},
		})
		if err != nil {
			return nil, err
		}
		if r := md.Refused(); len(r) > 0 {
			md.Close()
			return nil, fmt.Errorf("metsentryd: model refused: %s (the daemon would fall back to %s)", strings.Join(r, "; "), md.Manifest().File)
		}
		return &analyze.Model{
			Manifest: md.Manifest(), Engine: md,
			Plan: md.Plan(int64(b.Inference.MemoryBudgetMB)<<20, model.BytesPerVoxel(md.Manifest())),
		}, nil
	}
}

// runSelfTest is --selftest: the built-in phantom through the given models
// on this board; the report on stdout, exit status 0 when it passes, 1 when
// it fails (firmware/update runs a new slot's binary this way).
func runSelfTest(ctx context.Context, b *config.Board, models []string, trustDir string, stdout io.Writer, log *slog.Logger) int {
	if len(models) == 0 {
		fmt.Fprintln(stdout, "metsentryd: --selftest needs the model to test (--model, repeatable)")
		return 2
	}
	r := selftest.Open(ctx, selftestOpener(b, models, trustDir, log))
	fmt.Fprint(stdout, r.String())
	if !r.Passed {
		return 1
	}
	return 0
}
