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
	"metsentry/runtime/model"
	"metsentry/runtime/ort"
	"metsentry/runtime/trust"
)

// warmUp is the pass run once at start (D, H, W): a whole adult head at the
// model's 1 mm grid, rounded up to a multiple of 32, so the first study does
// not pay ONNX Runtime's first-pass cost (measured: the first phantom study
// took 11 s from last image to flag, the next 2.5 s).
var warmUp = [3]int{160, 192, 160}

// openModel verifies, loads, self-tests and warms up the first usable
// manifest with the board's inference settings.
func openModel(ctx context.Context, b *config.Board, manifests []string, trustDir string, log *slog.Logger) (*model.Model, error) {
	store, err := trust.LoadStore(trustDir)
	if err != nil {
		return nil, fmt.Errorf("metsentryd: --trust %s: %w", trustDir, err)
	}
	return model.Open(ctx, model.Options{
		Candidates: manifests, Store: store, Logger: log,
		Session: ort.SessionOptions{IntraOpThreads: b.Inference.Threads, Providers: b.Inference.Providers, EngineCache: b.Inference.EngineCache},
		WarmUp:  warmUp,
	})
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
