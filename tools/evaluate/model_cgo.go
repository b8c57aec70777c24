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
func openModel(ctx context.Context, manifestPath, trustDir, lib string) (*runner.ModelDetector, func(), error) {
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
	// 4 GiB of activations at ~300 bytes per voxel: whole-volume passes for
	// a 1 mm head on this machine, tiles beyond that.
	d := &runner.ModelDetector{Manifest: md.Manifest(), Engine: md, Plan: md.Plan(4<<30, 300)}
	return d, func() { md.Close() }, nil
}
