//go:build cgo

package main

import (
	"context"
	"fmt"
	"metsentry/firmware/analyze"

	"metsentry/runtime/bench"
	"metsentry/runtime/model"
	"metsentry/runtime/ort"
	"metsentry/tools/evaluate/runner"
)

// openModel verifies, loads and self-tests a model exactly as the daemon
// does (runtime/model.OpenTool) and wraps it as a detector; the budget turns
// into whole-volume passes or tiles, as on a board.
func openModel(ctx context.Context, manifestPath, trustDir, lib string, budgetMB int) (*runner.ModelDetector, func(), error) {
	md, plan, err := model.OpenTool(ctx, manifestPath, trustDir, lib, int64(budgetMB)<<20)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: %w", err)
	}
	d := &runner.ModelDetector{Model: analyze.Model{Manifest: md.Manifest(), Engine: md, Plan: plan}}
	return d, func() { md.Close() }, nil
}

// openReference opens the speed reference timed after every study: one fp32
// pass of the ONNX model at path over runtime/bench's input of size dims
// (DxHxW), with ONNX Runtime's default threads, as the model under test gets.
func openReference(ctx context.Context, path, dims, lib string) (runner.SpeedReference, func(), error) {
	d, err := bench.ParseDims(dims)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: -speed-ref-dims: %w", err)
	}
	if lib == "" {
		lib = ort.DefaultLibraryPath()
	}
	if err := ort.Init(lib); err != nil {
		return nil, nil, fmt.Errorf("evaluate: %w", err)
	}
	p, err := bench.NewPass(ctx, path, d, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: -speed-ref: %w", err)
	}
	return p, func() { p.Close() }, nil
}
