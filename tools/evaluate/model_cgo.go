//go:build cgo

package main

import (
	"context"
	"fmt"

	"metsentry/runtime/model"
	"metsentry/runtime/ort"
	"metsentry/runtime/trust"
	"metsentry/tools/evaluate/runner"
)

// openModel verifies, loads and self-tests a model exactly as the daemon
// does (runtime/model.Open) and wraps it as a detector.
func openModel(ctx context.Context, manifestPath, trustDir, lib string, budgetMB int) (*runner.ModelDetector, func(), error) {
	if trustDir == "" {
		return nil, nil, fmt.Errorf("evaluate: -model needs -trust (the folder of public keys the model is signed with)")
	}
	if lib == "" {
		lib = ort.DefaultLibraryPath()
	}
	if err := ort.Init(lib); err != nil {
		return nil, nil, fmt.Errorf("evaluate: %w", err)
	}
	store, err := trust.LoadStore(trustDir)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: %w", err)
	}
	md, err := model.Open(ctx, model.Options{Candidates: []string{manifestPath}, Store: store})
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: %w", err)
	}
	// The planner's measured peak per voxel for this precision turns the
	// budget into whole-volume passes or tiles, as on a board.
	m := md.Manifest()
	d := &runner.ModelDetector{Manifest: m, Engine: md, Plan: md.Plan(int64(budgetMB)<<20, model.BytesPerVoxel(m.Precision))}
	return d, func() { md.Close() }, nil
}
