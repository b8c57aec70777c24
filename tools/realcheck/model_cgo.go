//go:build cgo

package main

import (
	"context"
	"fmt"

	"metsentry/runtime/model"
	"metsentry/runtime/ort"
	"metsentry/runtime/trust"
	"metsentry/tools/realcheck/realcheck"
)

// openModel verifies, loads and self-tests a model exactly as the daemon
// does (runtime/model.Open), as tools/evaluate does.
func openModel(ctx context.Context, manifestPath, trustDir, lib string) (realcheck.Options, func(), error) {
	if trustDir == "" {
		return realcheck.Options{}, nil, fmt.Errorf("realcheck: -model needs -trust (the folder of public keys the model is signed with)")
	}
	if lib == "" {
		lib = ort.DefaultLibraryPath()
	}
	if err := ort.Init(lib); err != nil {
		return realcheck.Options{}, nil, fmt.Errorf("realcheck: %w", err)
	}
	store, err := trust.LoadStore(trustDir)
	if err != nil {
		return realcheck.Options{}, nil, fmt.Errorf("realcheck: %w", err)
	}
	md, err := model.Open(ctx, model.Options{Candidates: []string{manifestPath}, Store: store})
	if err != nil {
		return realcheck.Options{}, nil, fmt.Errorf("realcheck: %w", err)
	}
	// The budget tools/evaluate uses: a whole-volume pass for a 1 mm head.
	o := realcheck.Options{Manifest: md.Manifest(), Engine: md, Plan: md.Plan(4<<30, 300)}
	return o, func() { md.Close() }, nil
}
