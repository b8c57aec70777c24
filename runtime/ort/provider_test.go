package ort

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProviderFallbackToCPU asks the CPU-only library for TensorRT and CUDA:
// the session must come up on cpu, with one log line naming both providers
// and why they failed, and no second line for the next session.
func TestProviderFallbackToCPU(t *testing.T) {
	initForTest(t)
	logged.Clear()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	model := filepath.Join("testdata", "conv3d_sigmoid.onnx")
	for i := range 2 {
		s, err := NewSession(model, SessionOptions{
			Providers: []string{ProviderTensorRT, ProviderCUDA, ProviderCPU}, EngineCache: t.TempDir(), INT8: true, Logger: log,
		})
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if s.Provider() != ProviderCPU || len(s.Skipped()) != 2 {
			t.Fatalf("session %d: provider %s, skipped %q", i, s.Provider(), s.Skipped())
		}
		s.Close()
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one log line for two sessions, got %d:\n%s", len(lines), buf.String())
	}
	for _, want := range []string{"level=WARN", "using=cpu", "tensorrt:", "cuda:", "libonnxruntime_providers_shared.so"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line lacks %q:\n%s", want, lines[0])
		}
	}
	t.Logf("fallback line: %s", lines[0])
}

func TestProviderOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want string
	}{
		{"empty", nil, "cpu"},
		{"board order", []string{"tensorrt", "cuda", "cpu"}, "tensorrt,cuda,cpu"},
		{"cpu ends the list", []string{"cpu", "cuda"}, "cpu"},
		{"cpu added when missing", []string{"cuda"}, "cuda,cpu"},
		{"repeats and unknown", []string{"CUDA", "cuda", "openvino", " tensorrt "}, "cuda,tensorrt,cpu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(providerOrder(tc.in), ","); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestRunContextTerminates times a whole run of the bench U-Net, then
// cancels the same run a tenth of the way in: ONNX Runtime must give up with
// the context's error well before the run would have finished (it checks the
// terminate flag between nodes, so "well before" allows for the node in
// flight).
func TestRunContextTerminates(t *testing.T) {
	initForTest(t)
	s, err := NewSession(filepath.Join("..", "testdata", "unet-fp32.onnx"), SessionOptions{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	shape := []int64{1, 2, 48, 64, 64}
	in := make([]float32, 2*48*64*64)
	for i := range in {
		in[i] = float32(i%7) * 0.1
	}
	start := time.Now()
	if _, _, err := s.Run(in, shape); err != nil {
		t.Fatal(err)
	}
	full := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), full/10)
	defer cancel()
	start = time.Now()
	_, _, err = s.RunContext(ctx, in, shape)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v after %v (full run %v), want DeadlineExceeded", err, took, full)
	}
	if took > full*8/10 {
		t.Fatalf("cancelled run took %v, a full run %v", took, full)
	}
	t.Logf("full run %v; cancelled at %v, returned after %v", full, full/10, took)
	// The session stays usable.
	if _, _, err := s.Run(in[:2*8*8*8], []int64{1, 2, 8, 8, 8}); err != nil {
		t.Fatal(err)
	}
}

func TestEngineCacheDir(t *testing.T) {
	dir := t.TempDir()
	gpu := filepath.Join(dir, "gpus", "0000:01:00.0")
	lib := filepath.Join(dir, "lib")
	for _, d := range []string{gpu, lib} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(gpu, "information"), []byte("Model: \t\t NVIDIA H100 80GB HBM3\nIRQ: 1\n"), 0o600)
	os.WriteFile(filepath.Join(lib, "libnvinfer.so.10"), nil, 0o600)
	os.WriteFile(filepath.Join(lib, "libnvinfer.so.10.3.0"), nil, 0o600)
	oldG, oldD, oldN := gpuInfoGlob, deviceTreeFile, nvinferGlobs
	defer func() { gpuInfoGlob, deviceTreeFile, nvinferGlobs = oldG, oldD, oldN }()
	gpuInfoGlob = filepath.Join(dir, "gpus", "*", "information")
	deviceTreeFile = filepath.Join(dir, "none")
	nvinferGlobs = []string{filepath.Join(lib, "libnvinfer.so.*")}
	sha := strings.Repeat("ab", 32)
	got := EngineCacheDir("/var/cache/trt", sha)
	want := "/var/cache/trt/abababababababab-trt10.3.0-NVIDIA_H100_80GB_HBM3"
	if got != want {
		t.Fatalf("EngineCacheDir = %s, want %s", got, want)
	}
	gpuInfoGlob = filepath.Join(dir, "nothing", "*")
	os.WriteFile(deviceTreeFile, []byte("NVIDIA Jetson Orin Nano Developer Kit\x00"), 0o600)
	nvinferGlobs = nil
	if got := EngineCacheDir("/c", sha); got != "/c/abababababababab-trtnone-NVIDIA_Jetson_Orin_Nano_Developer_Kit" {
		t.Fatalf("Jetson: %s", got)
	}
}
