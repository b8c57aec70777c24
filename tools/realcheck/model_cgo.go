//go:build cgo

package main

import (
	"context"
	"fmt"

	"metsentry/runtime/model"
	"metsentry/tools/realcheck/realcheck"
)

// openModel verifies, loads and self-tests a model exactly as the daemon
// does (runtime/model.OpenTool), with the 4 GiB budget tools/evaluate uses by
// default: one whole-volume pass for a 1 mm brain.
func openModel(ctx context.Context, manifestPath, trustDir, lib string) (realcheck.Options, func(), error) {
	md, plan, err := model.OpenTool(ctx, manifestPath, trustDir, lib, 4<<30)
	if err != nil {
		return realcheck.Options{}, nil, fmt.Errorf("realcheck: %w", err)
	}
	return realcheck.Options{Manifest: md.Manifest(), Engine: md, Plan: plan}, func() { md.Close() }, nil
}
