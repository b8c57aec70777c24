//go:build !cgo

package main

import (
	"context"
	"errors"

	"metsentry/tools/evaluate/runner"
)

// openModel needs ONNX Runtime, which needs cgo.
func openModel(context.Context, string, string, string, int) (*runner.ModelDetector, func(), error) {
	return nil, nil, errors.New("evaluate: -model needs a build with cgo (ONNX Runtime); this binary was built with CGO_ENABLED=0")
}

// openReference needs ONNX Runtime, which needs cgo.
func openReference(context.Context, string, string, string) (runner.SpeedReference, func(), error) {
	return nil, nil, errors.New("evaluate: -speed-ref needs a build with cgo (ONNX Runtime); this binary was built with CGO_ENABLED=0")
}
