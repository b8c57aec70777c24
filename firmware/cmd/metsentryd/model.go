package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"metsentry/firmware/analyze"
	"metsentry/firmware/config"
	"metsentry/firmware/report"
	"metsentry/runtime/infer"
	"metsentry/runtime/model"
	"metsentry/runtime/ort"
	"metsentry/runtime/trust"
)

// warmUps are the passes tried once at start, largest first (D, H, W); the
// first whose whole pass fits the board's memory budget runs. The first is
// the model grid of a large adult brain (the brain box of about 150 × 190 ×
// 140 mm plus the network's receptive margin, at 1 mm), so that no study's
// grid is larger than what ONNX Runtime's memory arena has already grown to:
// a pass on a grid larger than any before it paid about 3 s of CPU to grow
// the arena (measured on the sim board: 7.4 s CPU for the first pass over
// 184×192×176, 4.5 s for the next). The second is a whole adult head at the
// old warm-up's size (the first phantom study took 11 s from last image to
// flag without any warm-up, the next 2.5 s).
var warmUps = [][3]int{{192, 240, 200}, {160, 192, 160}}

// openModel verifies, loads and self-tests the first usable manifest with
// the board's inference settings, and warms it up (warmUps).
func openModel(ctx context.Context, b *config.Board, manifests []string, trustDir string, log *slog.Logger) (*model.Model, error) {
	store, err := trust.LoadStore(trustDir)
	if err != nil {
		return nil, fmt.Errorf("metsentryd: --trust %s: %w", trustDir, err)
	}
	md, err := model.Open(ctx, model.Options{
		Candidates: manifests, Store: store, Logger: log,
		Session: ort.SessionOptions{IntraOpThreads: b.Inference.Threads, Providers: b.Inference.Providers, EngineCache: b.Inference.EngineCache},
	})
	if err != nil {
		return nil, err
	}
	if err := warmUp(ctx, md, md.Plan(int64(b.Inference.MemoryBudgetMB)<<20, model.BytesPerVoxel(md.Manifest()))); err != nil {
		md.Close()
		return nil, err
	}
	return md, nil
}

// warmUp runs the largest of warmUps whose whole pass fits plan's budget.
func warmUp(ctx context.Context, md *model.Model, plan infer.Plan) error {
	for _, w := range warmUps {
		n := w[0] * w[1] * w[2]
		if plan.BudgetBytes > 0 && float64(n)*plan.BytesPerVoxel > float64(plan.BudgetBytes) {
			continue
		}
		c := len(md.Manifest().Channels)
		if _, err := md.Run(ctx, make([]float32, c*n), [5]int64{1, int64(c), int64(w[0]), int64(w[1]), int64(w[2])}); err != nil {
			return fmt.Errorf("metsentryd: model warm-up pass %v: %w", w, err)
		}
		return nil
	}
	return nil
}

// equipment names this appliance in its results: the board and host make a
// stable device UID, the build's module version the software version.
func equipment(b *config.Board) report.Equipment {
	host, _ := os.Hostname()
	version := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	return report.Equipment{
		Manufacturer: "metsentry", ModelName: "metsentry " + b.Name, SerialNumber: host + "/" + b.Name,
		SoftwareVersion: version, DeviceUID: analyze.DerivedUID("metsentry-device", host, b.Name),
	}
}
