//go:build gpucheck

package ort

// The GPU check: built only with -tags gpucheck, run by runtime/gpucheck.sh
// on a machine with an NVIDIA GPU and a GPU build of ONNX Runtime 1.24.1
// (METSENTRY_ORT_LIB naming its libonnxruntime.so.1, with
// libonnxruntime_providers_shared.so, _cuda.so and _tensorrt.so beside it).

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestGPUProviders(t *testing.T) {
	initForTest(t)
	d := [3]int64{64, 96, 96}
	shape := []int64{1, 2, d[0], d[1], d[2]}
	in := make([]float32, 2*d[0]*d[1]*d[2])
	for i := range in {
		in[i] = float32(math.Sin(float64(i)*0.37)*1.5 + math.Cos(float64(i)*0.011))
	}
	for _, prec := range []string{"fp32", "int8"} {
		model := filepath.Join("..", "testdata", "unet-"+prec+".onnx")
		cpu, err := NewSession(model, SessionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := cpu.Run(in, shape)
		cpu.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{ProviderCUDA, ProviderTensorRT} {
			t.Run(prec+"/"+p, func(t *testing.T) {
				cache := t.TempDir()
				start := time.Now()
				s, err := NewSession(model, SessionOptions{Providers: []string{p}, EngineCache: cache, INT8: prec == "int8"})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if s.Provider() != p {
					t.Fatalf("asked for %s, got %s: %q", p, s.Provider(), s.Skipped())
				}
				got, _, err := s.Run(in, shape)
				if err != nil {
					t.Fatal(err)
				}
				first := time.Since(start)
				var worst float64
				for i := range got {
					worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
				}
				tol := 1e-3
				if p == ProviderTensorRT {
					tol = 0.05 // fp16 / int8 kernels
				}
				if prec == "int8" {
					tol = 0.15
				}
				if worst > tol {
					t.Fatalf("max |%s - cpu| = %g, want <= %g", p, worst, tol)
				}
				const runs = 10
				start = time.Now()
				for range runs {
					if _, _, err := s.Run(in, shape); err != nil {
						t.Fatal(err)
					}
				}
				t.Logf("%s %s: load+first run %v, then %.1f ms per 1x2x%dx%dx%d run, max |gpu - cpu| %.3g",
					prec, p, first.Round(time.Millisecond), float64(time.Since(start).Milliseconds())/runs, d[0], d[1], d[2], worst)
				if p == ProviderTensorRT {
					ents, _ := os.ReadDir(EngineCacheDir(cache, sha256File(t, model)))
					if len(ents) == 0 {
						t.Fatalf("no TensorRT engine cached under %s", EngineCacheDir(cache, sha256File(t, model)))
					}
				}
			})
		}
	}
}

func sha256File(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256Hex(b)
}
