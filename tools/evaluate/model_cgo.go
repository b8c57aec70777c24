//go:build cgo

package main

import (
	"context"
	"fmt"

	"metsentry/runtime/model"
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
	d := &runner.ModelDetector{Manifest: md.Manifest(), Engine: md, Plan: plan}
	return d, func() { md.Close() }, nil
}
