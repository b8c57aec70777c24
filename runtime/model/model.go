package model

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync"

	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
	"metsentry/runtime/ort"
	"metsentry/runtime/trust"
)

// Errors Open returns, wrapped with the candidate and the reason.
var (
	// ErrNoUsableModel: no candidate passed verification, loading, the
	// shape check and the self-test. The daemon shows a panel fault.
	ErrNoUsableModel = errors.New("model: no usable model")
	// ErrShape: the model's input or output does not match its manifest.
	ErrShape = errors.New("model: model does not match its manifest")
	// ErrSelfTest: the reference input did not give the reference output.
	ErrSelfTest = errors.New("model: self-test failed")
)

// Options say how to open a model.
type Options struct {
	// Candidates are manifest paths, preferred first (int8, then fp32).
	Candidates []string
	// Store holds the trusted public keys.
	Store *trust.Store
	// Session carries the board's inference settings: Providers from
	// inference.providers, IntraOpThreads from inference.threads, EngineCache
	// from inference.engine_cache (the daemon copies them; this package does
	// not read config so it stays independent of it).
	Session ort.SessionOptions
	// WarmUp is a spatial size (D, H, W) to run once after the self-test so
	// the first study pays no start cost; zero skips it.
	WarmUp [3]int
	// Logger receives one line per refused candidate; nil uses slog.Default().
	Logger *slog.Logger
}

// Model is a verified, self-tested model in a live session. It implements
// infer.Engine; Run calls are serialised.
type Model struct {
	mu       sync.Mutex
	sess     *ort.Session
	manifest *manifest.Manifest
	keyID    string
	refused  []string
	selfTest float64
}

var _ infer.Engine = (*Model)(nil)

// Open verifies, loads and self-tests the candidates in order and returns the
// first that passes.
func Open(ctx context.Context, o Options) (*Model, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if len(o.Candidates) == 0 {
		return nil, fmt.Errorf("%w: no model manifests given", ErrNoUsableModel)
	}
	var reasons []error
	var refused []string
	for _, path := range o.Candidates {
		m, err := open(ctx, path, o)
		if err == nil {
			m.refused = refused
			return m, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("model: open cancelled: %w", ctx.Err())
		}
		log.Warn("model: candidate refused", "manifest", filepath.Base(path), "reason", err.Error())
		reasons = append(reasons, fmt.Errorf("%s: %w", filepath.Base(path), err))
		refused = append(refused, filepath.Base(path)+": "+err.Error())
	}
	return nil, fmt.Errorf("%w: %w", ErrNoUsableModel, errors.Join(reasons...))
}

func open(ctx context.Context, path string, o Options) (*Model, error) {
	v, err := trust.Verify(path, o.Store)
	if err != nil {
		return nil, err
	}
	m := v.Manifest
	if m.Reference == nil {
		return nil, fmt.Errorf("%w: the manifest has no reference input and output, so the model cannot be checked at start-up", ErrSelfTest)
	}
	so := o.Session
	so.ModelSHA256 = m.SHA256
	so.INT8 = m.Precision == "int8"
	sess, err := ort.NewSessionFromData(v.Model, m.File, so)
	if err != nil {
		return nil, err
	}
	md := &Model{sess: sess, manifest: m, keyID: v.KeyID}
	ok := false
	defer func() {
		if !ok {
			sess.Close()
		}
	}()
	if err := checkShapes(sess.InputShape(), sess.OutputShape(), m); err != nil {
		return nil, err
	}
	if md.selfTest, err = md.runSelfTest(ctx, v.Files); err != nil {
		return nil, err
	}
	if o.WarmUp != [3]int{} {
		w := o.WarmUp
		c := int64(len(m.Channels))
		shape := [5]int64{1, c, int64(w[0]), int64(w[1]), int64(w[2])}
		if _, err := md.Run(ctx, make([]float32, int(c)*w[0]*w[1]*w[2]), shape); err != nil {
			return nil, fmt.Errorf("model: warm-up pass %v: %w", w, err)
		}
	}
	ok = true
	return md, nil
}

// checkShapes compares the model's declared input and output with the
// manifest: [1, channels, d, h, w] in, [1, >channel, d, h, w] out.
func checkShapes(in, out []int64, m *manifest.Manifest) error {
	dim := func(s []int64, i int) string {
		if s[i] < 0 {
			return "dynamic"
		}
		return fmt.Sprint(s[i])
	}
	if len(in) != 5 {
		return fmt.Errorf("%w: input has rank %d (%v), expected 5: [1, %d, d, h, w]", ErrShape, len(in), in, len(m.Channels))
	}
	if len(out) != 5 {
		return fmt.Errorf("%w: output has rank %d (%v), expected 5: [1, c, d, h, w]", ErrShape, len(out), out)
	}
	if in[0] > 1 || out[0] > 1 {
		return fmt.Errorf("%w: batch size %s in, %s out, expected 1", ErrShape, dim(in, 0), dim(out, 0))
	}
	if in[1] >= 0 && in[1] != int64(len(m.Channels)) {
		return fmt.Errorf("%w: input has %d channels, the manifest lists %d (%s)", ErrShape, in[1], len(m.Channels), strings.Join(m.Channels, ", "))
	}
	if out[1] >= 0 && out[1] <= int64(m.Output.Channel) {
		return fmt.Errorf("%w: output has %d channels, the manifest reads channel %d", ErrShape, out[1], m.Output.Channel)
	}
	return nil
}

// runSelfTest runs the reference input and returns the largest difference
// from the reference output. files holds the verified reference files.
func (md *Model) runSelfTest(ctx context.Context, files map[string][]byte) (float64, error) {
	r := md.manifest.Reference
	n := int64(1)
	for _, d := range r.Shape {
		n *= d
	}
	in, err := decodeF32(r.Input, files[r.Input])
	if err != nil {
		return 0, err
	}
	want, err := decodeF32(r.Output, files[r.Output])
	if err != nil {
		return 0, err
	}
	if int64(len(in)) != n {
		return 0, fmt.Errorf("%w: reference input holds %d values, shape %v needs %d", ErrSelfTest, len(in), r.Shape, n)
	}
	got, err := md.Run(ctx, in, [5]int64(r.Shape))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrSelfTest, err)
	}
	if len(got) != len(want) {
		return 0, fmt.Errorf("%w: the model returned %d values, the reference output holds %d", ErrSelfTest, len(got), len(want))
	}
	var worst float64
	for i := range got {
		d := math.Abs(float64(got[i] - want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		worst = math.Max(worst, d)
	}
	if worst > r.Tolerance {
		return worst, fmt.Errorf("%w: output differs from the reference by up to %.3g, tolerance %.3g (%s model on %s; AMX guard %s)",
			ErrSelfTest, worst, r.Tolerance, md.manifest.Precision, md.sess.Provider(), ort.AMXGuard())
	}
	return worst, nil
}

func decodeF32(name string, b []byte) ([]float32, error) {
	if len(b)%4 != 0 || len(b) == 0 {
		return nil, fmt.Errorf("%w: %s is %d bytes, not a whole number of float32 values", ErrSelfTest, name, len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// Run runs the model on one tensor. Calls are serialised; ctx cancels a run
// in progress.
func (md *Model) Run(ctx context.Context, input []float32, shape [5]int64) ([]float32, error) {
	md.mu.Lock()
	defer md.mu.Unlock()
	if md.sess == nil {
		return nil, errors.New("model: run on a closed model")
	}
	out, oshape, err := md.sess.RunContext(ctx, input, shape[:])
	if err != nil {
		return nil, err
	}
	if len(oshape) != 5 || oshape[2] != shape[2] || oshape[3] != shape[3] || oshape[4] != shape[4] {
		return nil, fmt.Errorf("%w: output shape %v for input %v (expected the same spatial size)", ErrShape, oshape, shape)
	}
	return out, nil
}

// Provider returns the execution provider in use.
func (md *Model) Provider() string { return md.sess.Provider() }

// Manifest returns the manifest of the model in use.
func (md *Model) Manifest() *manifest.Manifest { return md.manifest }

// Refused lists the candidates tried before this one and why they failed
// (e.g. an INT8 model that failed its self-test).
func (md *Model) Refused() []string { return append([]string(nil), md.refused...) }

// Details describes the algorithm for status and the SR's algorithm
// details: name, version, precision, provider, signer, AMX guard, runtime.
func (md *Model) Details() string {
	m := md.manifest
	s := fmt.Sprintf("%s %s (%s) on ONNX Runtime %s %s, signed by %s, AMX guard %s, self-test max diff %.2g",
		m.Name, m.Version, m.Precision, ort.LibraryVersion(), md.sess.Provider(), md.keyID, ort.AMXGuard(), md.selfTest)
	if len(md.refused) > 0 {
		s += fmt.Sprintf(", after refusing %d candidate(s)", len(md.refused))
	}
	return s
}

// BytesPerVoxel returns the peak working memory per voxel of one pass that
// the planner assumes for m on ONNX Runtime's CPU provider: the manifest's
// measured figure when it has one, else the figure for its precision measured
// with runtime/cmd/ortbench on MetNet 0.2.0 (8-16-32-64, the plain graph)
// over a phantom head grid (2×192×232×200, 8.9 M voxels): fp32 peaked at
// 3210 MB, INT8 at 9230 MB, about 40 MB of which is the process itself (on a
// 4.9 M-voxel grid fp32 needed only 270 per voxel: the allocator's chunks
// grow with the volume, so the larger figure is the safe one). INT8 needs
// three times as much because ONNX Runtime runs 3D QLinearConv through a full
// im2col buffer. MetNet 0.6.1's fp32 graph (the split decoder) needs about
// half of that and says so in its manifest.
func BytesPerVoxel(m *manifest.Manifest) float64 {
	if m.PeakBytesPerVoxel > 0 {
		return m.PeakBytesPerVoxel
	}
	if m.Precision == "int8" {
		return 1060
	}
	return 360
}

// Plan returns the tiling plan the manifest asks for, with the board's
// memory budget. The manifest's patch and overlap are in (x, y, z) order like
// its spacing; the plan's are in tensor (D, H, W) order. Margin is half the
// receptive field in voxels (at least half the overlap when unknown).
func (md *Model) Plan(budgetBytes int64, bytesPerVoxel float64) infer.Plan {
	l := md.manifest.Layout
	p := infer.Plan{
		Multiple:      l.Multiple,
		BudgetBytes:   budgetBytes,
		BytesPerVoxel: bytesPerVoxel,
		Blend:         true,
		SkipEmpty:     true,
		OutChannels:   md.manifest.Output.Channel + 1,
	}
	for a := range 3 {
		x := 2 - a // tensor axis a is manifest axis 2-a
		half := 0
		if l.ReceptiveFieldMM > 0 {
			half = int(math.Ceil(l.ReceptiveFieldMM / 2 / md.manifest.SpacingMM[x]))
		}
		p.Patch[a] = l.Patch[x]
		p.Overlap[a] = l.Overlap[x]
		if l.Mode == manifest.LayoutWhole {
			// Tiles only when the budget forces them: overlap by the
			// receptive field so they still match a whole pass.
			p.Overlap[a] = (2*half + l.Multiple - 1) / l.Multiple * l.Multiple
		}
		p.Margin[a] = min(half, p.Overlap[a]/2)
		if half == 0 {
			p.Margin[a] = p.Overlap[a] / 4
		}
	}
	if l.Mode == manifest.LayoutWhole {
		p.Patch = [3]int{}
	}
	return p
}

// Close releases the session.
func (md *Model) Close() error {
	md.mu.Lock()
	defer md.mu.Unlock()
	if md.sess == nil {
		return nil
	}
	err := md.sess.Close()
	md.sess = nil
	return err
}

// OpenTool is Open for the tools that score a model outside the daemon
// (tools/evaluate, tools/realcheck): it loads ONNX Runtime from lib (its
// default path when empty) and the public keys in trustDir, opens the one
// manifest as the daemon would (signature, SHA-256, self-test), and returns
// the plan for a pass under budgetBytes with the model's BytesPerVoxel. The
// caller closes the model.
func OpenTool(ctx context.Context, manifestPath, trustDir, lib string, budgetBytes int64) (*Model, infer.Plan, error) {
	if trustDir == "" {
		return nil, infer.Plan{}, fmt.Errorf("model: %s needs a folder of trusted public keys (-trust) to verify its signature", manifestPath)
	}
	if lib == "" {
		lib = ort.DefaultLibraryPath()
	}
	if err := ort.Init(lib); err != nil {
		return nil, infer.Plan{}, fmt.Errorf("model: %w", err)
	}
	store, err := trust.LoadStore(trustDir)
	if err != nil {
		return nil, infer.Plan{}, fmt.Errorf("model: %w", err)
	}
	md, err := Open(ctx, Options{Candidates: []string{manifestPath}, Store: store})
	if err != nil {
		return nil, infer.Plan{}, err
	}
	return md, md.Plan(budgetBytes, BytesPerVoxel(md.Manifest())), nil
}
