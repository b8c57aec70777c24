package ort

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"
)

// Execution provider names, as board files spell them (config.Provider*).
const (
	ProviderTensorRT = "tensorrt"
	ProviderCUDA     = "cuda"
	ProviderCPU      = "cpu"
)

// Session is one loaded model with a single float32 input and a single float32
// output, reused across runs. It is not safe for concurrent Run calls.
type Session struct {
	s        *onnx.DynamicAdvancedSession
	input    string
	output   string
	inShape  []int64 // as declared by the model; -1 for dynamic axes
	outShape []int64
	provider string
	skipped  []string
}

// SessionOptions tune a session.
type SessionOptions struct {
	// IntraOpThreads is the number of threads one operator may use; 0 leaves
	// ONNX Runtime's default (one per core).
	IntraOpThreads int

	// Providers lists execution providers to try, best first (tensorrt, cuda,
	// cpu). Empty means cpu only. Each is tried on fresh session options; one
	// that cannot be set up is skipped and the next is tried; the skipped ones
	// and their reasons are logged in one line, once per process. The list
	// ends at cpu, which is added when not listed.
	Providers []string

	// EngineCache is the TensorRT engine cache root. The engines for one
	// model live in a folder keyed by the model's sha256, the TensorRT version
	// and the GPU (see EngineCacheDir); empty disables the cache.
	EngineCache string
	// ModelSHA256 keys the engine cache; NewSessionFromData fills it.
	ModelSHA256 string
	// INT8 enables TensorRT's int8 mode (for QDQ models) besides fp16.
	INT8 bool

	// MemPattern turns on ONNX Runtime's memory pattern planning. It is off by
	// default: with varying tile and volume sizes it keeps one plan per shape,
	// and turning it off halved peak RSS for about 2% more time.
	MemPattern bool
	// NoCPUArena turns off the CPU memory arena, so freed tensors go back to
	// the system at once (smaller RSS between studies, slower allocation).
	NoCPUArena bool

	// NoOptimization turns off every graph optimisation: QDQ graphs then run
	// as written, in float. Tests use it to get a reference for fused int8
	// kernels.
	NoOptimization bool

	// Logger receives the provider fallback lines; nil uses slog.Default().
	Logger *slog.Logger
}

// NewSession loads the model file at path. Init must have been called.
func NewSession(path string, o SessionOptions) (*Session, error) {
	model, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ort: cannot read model: %w", err)
	}
	return NewSessionFromData(model, path, o)
}

// NewSessionFromData loads a model from memory; name is used in errors only.
// Loading the bytes that were verified (rather than reopening the file) leaves
// no window for the file to change between verification and use.
func NewSessionFromData(model []byte, name string, o SessionOptions) (*Session, error) {
	if LibraryVersion() == "" {
		return nil, fmt.Errorf("ort: %s: ONNX Runtime is not initialised (call ort.Init first)", name)
	}
	ins, outs, err := onnx.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, fmt.Errorf("ort: %s is not a readable ONNX model: %w", name, err)
	}
	if len(ins) != 1 || len(outs) != 1 {
		return nil, fmt.Errorf("ort: %s has %d inputs and %d outputs, expected 1 and 1", name, len(ins), len(outs))
	}
	for _, io := range []onnx.InputOutputInfo{ins[0], outs[0]} {
		if io.OrtValueType != onnx.ONNXTypeTensor || io.DataType != onnx.TensorElementDataTypeFloat {
			return nil, fmt.Errorf("ort: %s: %q is %v of %v, expected a float32 tensor", name, io.Name, io.OrtValueType, io.DataType)
		}
	}
	if o.ModelSHA256 == "" {
		o.ModelSHA256 = sha256Hex(model)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var skipped []string // "provider: reason" of each provider not available
	order := providerOrder(o.Providers)
	for i, p := range order {
		opts, err := newOptions(p, o, order[i+1:])
		if err != nil {
			skipped = append(skipped, p+": "+err.Error())
			continue
		}
		s, err := onnx.NewDynamicAdvancedSessionWithONNXData(model, []string{ins[0].Name}, []string{outs[0].Name}, opts)
		opts.Destroy()
		if err != nil {
			if p == ProviderCPU {
				return nil, fmt.Errorf("ort: cannot load %s: %w", name, err)
			}
			skipped = append(skipped, p+": "+err.Error())
			continue
		}
		if len(skipped) > 0 {
			logFallback(logger, p, skipped)
		}
		return &Session{
			s: s, input: ins[0].Name, output: outs[0].Name, provider: p, skipped: skipped,
			inShape: []int64(ins[0].Dimensions.Clone()), outShape: []int64(outs[0].Dimensions.Clone()),
		}, nil
	}
	return nil, fmt.Errorf("ort: no execution provider could load %s: %s", name, strings.Join(skipped, "; "))
}

// providerOrder returns the providers to try: those asked for, in order,
// known ones only, without repeats, ending at cpu (added when not listed: a
// board that asks for a GPU still runs, slowly, when the GPU is gone).
func providerOrder(asked []string) []string {
	var out []string
	for _, p := range asked {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == ProviderCPU {
			break
		}
		if (p == ProviderTensorRT || p == ProviderCUDA) && !contains(out, p) {
			out = append(out, p)
		}
	}
	return append(out, ProviderCPU)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// newOptions makes fresh session options for one provider. When that
// provider is tensorrt and cuda comes later in the list, cuda is appended
// too, so nodes TensorRT does not take run on the GPU rather than the CPU; a
// failure to append it is not an error here (cuda is tried on its own next).
func newOptions(provider string, o SessionOptions, later []string) (*onnx.SessionOptions, error) {
	opts, err := onnx.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: session options: %w", err)
	}
	fail := func(what string, err error) (*onnx.SessionOptions, error) {
		opts.Destroy()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if o.IntraOpThreads > 0 {
		if err := opts.SetIntraOpNumThreads(o.IntraOpThreads); err != nil {
			return fail("set intra-op threads", err)
		}
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return fail("set inter-op threads", err)
	}
	if err := opts.SetMemPattern(o.MemPattern); err != nil {
		return fail("set memory pattern", err)
	}
	if err := opts.SetCpuMemArena(!o.NoCPUArena); err != nil {
		return fail("set CPU arena", err)
	}
	if o.NoOptimization {
		if err := opts.SetGraphOptimizationLevel(onnx.GraphOptimizationLevelDisableAll); err != nil {
			return fail("set graph optimisation level", err)
		}
	}
	if err := appendProvider(opts, provider, o); err != nil {
		opts.Destroy()
		return nil, err
	}
	if provider == ProviderTensorRT && contains(later, ProviderCUDA) {
		_ = appendProvider(opts, ProviderCUDA, o)
	}
	return opts, nil
}

// appendProvider appends one GPU provider to opts; cpu needs nothing.
func appendProvider(opts *onnx.SessionOptions, provider string, o SessionOptions) error {
	switch provider {
	case ProviderTensorRT:
		trt, err := onnx.NewTensorRTProviderOptions()
		if err != nil {
			return fmt.Errorf("TensorRT provider options: %w", err)
		}
		defer trt.Destroy()
		m := map[string]string{
			"device_id":       "0",
			"trt_fp16_enable": "1",
		}
		if o.INT8 {
			m["trt_int8_enable"] = "1"
		}
		if o.EngineCache != "" {
			dir := EngineCacheDir(o.EngineCache, o.ModelSHA256)
			m["trt_engine_cache_enable"] = "1"
			m["trt_engine_cache_path"] = dir
			m["trt_timing_cache_enable"] = "1"
			m["trt_timing_cache_path"] = dir
		}
		if err := trt.Update(m); err != nil {
			return fmt.Errorf("TensorRT provider options: %w", err)
		}
		if err := opts.AppendExecutionProviderTensorRT(trt); err != nil {
			return fmt.Errorf("append TensorRT provider: %w", err)
		}
	case ProviderCUDA:
		cuda, err := onnx.NewCUDAProviderOptions()
		if err != nil {
			return fmt.Errorf("CUDA provider options: %w", err)
		}
		defer cuda.Destroy()
		if err := cuda.Update(map[string]string{
			"device_id":              "0",
			"arena_extend_strategy":  "kSameAsRequested",
			"cudnn_conv_algo_search": "HEURISTIC",
		}); err != nil {
			return fmt.Errorf("CUDA provider options: %w", err)
		}
		if err := opts.AppendExecutionProviderCUDA(cuda); err != nil {
			return fmt.Errorf("append CUDA provider: %w", err)
		}
	}
	return nil
}

var logged sync.Map // fallback summary -> struct{}

// logFallback logs, once per process for each distinct fallback, which
// providers were not available and why, in one line. Later sessions fall back
// silently: the provider in use shows in status and the SR.
func logFallback(l *slog.Logger, using string, skipped []string) {
	key := using + "|" + strings.Join(skipped, "|")
	if _, dup := logged.LoadOrStore(key, struct{}{}); dup {
		return
	}
	l.Warn("ort: execution provider not available, falling back", "using", using, "unavailable", strings.Join(skipped, "; "))
}

// Skipped lists, as "provider: reason", the providers asked for before the
// one in use that could not be set up.
func (s *Session) Skipped() []string { return append([]string(nil), s.skipped...) }

// Provider returns the execution provider the session runs on: tensorrt,
// cuda or cpu.
func (s *Session) Provider() string { return s.provider }

// InputShape returns the input shape the model declares (-1 for dynamic axes).
func (s *Session) InputShape() []int64 { return append([]int64(nil), s.inShape...) }

// OutputShape returns the output shape the model declares (-1 for dynamic axes).
func (s *Session) OutputShape() []int64 { return append([]int64(nil), s.outShape...) }

// Run runs the model on one float32 tensor of the given shape and returns the
// output data and shape.
func (s *Session) Run(data []float32, shape []int64) ([]float32, []int64, error) {
	return s.RunContext(context.Background(), data, shape)
}

// RunContext is Run that ONNX Runtime abandons when ctx is done: a watcher
// sets the run's terminate flag, and the run fails soon after with ctx's
// error.
func (s *Session) RunContext(ctx context.Context, data []float32, shape []int64) ([]float32, []int64, error) {
	if s.s == nil {
		return nil, nil, errors.New("ort: run on a closed session")
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("ort: run: %w", err)
	}
	in, err := onnx.NewTensor(onnx.NewShape(shape...), data)
	if err != nil {
		return nil, nil, fmt.Errorf("ort: input tensor %v: %w", shape, err)
	}
	defer in.Destroy()
	ro, err := onnx.NewRunOptions()
	if err != nil {
		return nil, nil, fmt.Errorf("ort: run options: %w", err)
	}
	defer ro.Destroy()
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
			_ = ro.Terminate()
		case <-done:
		}
	}()
	outs := []onnx.Value{nil}
	err = s.s.RunWithOptions([]onnx.Value{in}, outs, ro)
	close(done)
	<-watched
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("ort: run terminated: %w", ctx.Err())
		}
		return nil, nil, fmt.Errorf("ort: run: %w", err)
	}
	defer outs[0].Destroy()
	t, ok := outs[0].(*onnx.Tensor[float32])
	if !ok {
		return nil, nil, fmt.Errorf("ort: output %q is %v, expected a float32 tensor", s.output, outs[0].GetONNXType())
	}
	res := append([]float32(nil), t.GetData()...)
	return res, []int64(t.GetShape().Clone()), nil
}

// Close releases the session. The Session must not be used afterwards.
func (s *Session) Close() error {
	if s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	return err
}
