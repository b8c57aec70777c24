package infer

import "context"

// Engine runs one model on one tensor. Implementations need not be safe for
// concurrent use; a Runner calls Run from one goroutine at a time.
type Engine interface {
	// Run runs the model on input, shaped [1, C, D, H, W], and returns its
	// output, shaped [1, C', D, H, W] (the same spatial size).
	Run(ctx context.Context, input []float32, shape [5]int64) ([]float32, error)
	// Provider names the execution provider in use (tensorrt, cuda or cpu),
	// for status and the SR's algorithm details.
	Provider() string
	// Close releases the engine.
	Close() error
}
