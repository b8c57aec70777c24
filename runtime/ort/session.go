package ort

import (
	"fmt"
	"os"

	onnx "github.com/yalue/onnxruntime_go"
)

// Session is one loaded model with a single float32 input and a single float32
// output, reused across runs. It is not safe for concurrent Run calls.
type Session struct {
	s      *onnx.DynamicAdvancedSession
	input  string
	output string
}

// SessionOptions tune a session.
type SessionOptions struct {
	// IntraOpThreads is the number of threads one operator may use; 0 leaves
	// ONNX Runtime's default.
	IntraOpThreads int
}

// NewSession loads the model file at path. Init must have been called.
func NewSession(path string, o SessionOptions) (*Session, error) {
	model, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ort: cannot read model: %w", err)
	}
	ins, outs, err := onnx.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, fmt.Errorf("ort: %s is not a readable ONNX model: %w", path, err)
	}
	if len(ins) != 1 || len(outs) != 1 {
		return nil, fmt.Errorf("ort: %s has %d inputs and %d outputs, expected 1 and 1", path, len(ins), len(outs))
	}
	opts, err := onnx.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: session options: %w", err)
	}
	defer opts.Destroy()
	if o.IntraOpThreads > 0 {
		if err := opts.SetIntraOpNumThreads(o.IntraOpThreads); err != nil {
			return nil, fmt.Errorf("ort: set threads: %w", err)
		}
	}
	s, err := onnx.NewDynamicAdvancedSessionWithONNXData(model, []string{ins[0].Name}, []string{outs[0].Name}, opts)
	if err != nil {
		return nil, fmt.Errorf("ort: cannot load %s: %w", path, err)
	}
	return &Session{s: s, input: ins[0].Name, output: outs[0].Name}, nil
}

// Run runs the model on one float32 tensor of the given shape and returns the
// output data and shape.
func (s *Session) Run(data []float32, shape []int64) ([]float32, []int64, error) {
	in, err := onnx.NewTensor(onnx.NewShape(shape...), data)
	if err != nil {
		return nil, nil, fmt.Errorf("ort: input tensor %v: %w", shape, err)
	}
	defer in.Destroy()
	outs := []onnx.Value{nil}
	if err := s.s.Run([]onnx.Value{in}, outs); err != nil {
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
