package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"metsentry/runtime/ort"
)

// Pass is one ONNX model ready to run whole-volume fp32 passes over the bench
// input (Input) again and again: a workload to time. Compare takes turns
// between several; tools/evaluate times one after every study, as the
// speed reference its study seconds are read against.
type Pass struct {
	model   string
	dims    [3]int
	threads int
	s       *ort.Session
	in      []float32
	shape   []int64
}

// NewPass opens model (2 input channels) with threads intra-op threads (0:
// ONNX Runtime's default, one per core) and runs it once untimed on the
// bench input of size dims (D, H, W), so the first timed pass does not pay
// for the arena's growth. ONNX Runtime must be initialised (ort.Init).
func NewPass(ctx context.Context, model string, dims [3]int, threads int) (*Pass, error) {
	return newPass(ctx, model, dims, threads, Input(dims))
}

// newPass is NewPass on a given bench input of size dims, which passes may
// share (Compare's models all read one).
func newPass(ctx context.Context, model string, dims [3]int, threads int, in []float32) (*Pass, error) {
	s, err := ort.NewSession(model, ort.SessionOptions{IntraOpThreads: threads})
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", model, err)
	}
	p := &Pass{model: model, dims: dims, threads: threads, s: s, in: in,
		shape: []int64{1, 2, int64(dims[0]), int64(dims[1]), int64(dims[2])}}
	if _, _, err := s.RunContext(ctx, p.in, p.shape); err != nil {
		s.Close()
		return nil, fmt.Errorf("bench: %s on a %v input: %w", model, dims, err)
	}
	return p, nil
}

// Time runs one pass and returns its wall-clock seconds.
func (p *Pass) Time(ctx context.Context) (float64, error) {
	t0 := time.Now()
	if _, _, err := p.s.RunContext(ctx, p.in, p.shape); err != nil {
		return 0, fmt.Errorf("bench: %s: %w", p.model, err)
	}
	return time.Since(t0).Seconds(), nil
}

// Name says what is timed: the model file, the input and the threads.
func (p *Pass) Name() string {
	threads := fmt.Sprintf("intra-op threads %d", p.threads)
	if p.threads == 0 {
		threads = fmt.Sprintf("ONNX Runtime's default intra-op threads (one per core; %d cores)", runtime.NumCPU())
	}
	return fmt.Sprintf("one fp32 pass of %s over a 1x2x%dx%dx%d input, ONNX Runtime %s, %s",
		filepath.Base(p.model), p.dims[0], p.dims[1], p.dims[2], p.s.Provider(), threads)
}

// Close releases the session.
func (p *Pass) Close() error { return p.s.Close() }
