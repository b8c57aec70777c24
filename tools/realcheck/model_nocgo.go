//go:build !cgo

package main

import (
	"context"
	"errors"

	"metsentry/tools/realcheck/realcheck"
)

// openModel needs ONNX Runtime, which needs cgo.
func openModel(context.Context, string, string, string) (realcheck.Options, func(), error) {
	return realcheck.Options{}, nil, errors.New("realcheck: -model needs a build with cgo (ONNX Runtime); this binary was built with CGO_ENABLED=0")
}
