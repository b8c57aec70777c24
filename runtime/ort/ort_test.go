package ort

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func initForTest(t *testing.T) {
	t.Helper()
	lib := DefaultLibraryPath()
	if err := Init(lib); err != nil {
		t.Fatalf("ONNX Runtime %s is needed at %s (run ./build.sh deps or set %s): %v", Version, lib, EnvLibrary, err)
	}
}

// conv3dSigmoid recomputes testdata/conv3d_sigmoid.onnx from the closed-form
// weights in make_conv3d.py, independently of ONNX Runtime.
func conv3dSigmoid(in []float32, d, h, w int) []float32 {
	const O, I, K = 3, 2, 3
	out := make([]float32, O*d*h*w)
	for o := 0; o < O; o++ {
		for z := 0; z < d; z++ {
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					acc := float64(o-1) / 10
					for i := 0; i < I; i++ {
						for kz := 0; kz < K; kz++ {
							for ky := 0; ky < K; ky++ {
								for kx := 0; kx < K; kx++ {
									zz, yy, xx := z+kz-1, y+ky-1, x+kx-1
									if zz < 0 || yy < 0 || xx < 0 || zz >= d || yy >= h || xx >= w {
										continue
									}
									wt := float64((o*7+i*5+kz*3+ky*2+kx)%11-5) / 20
									acc += wt * float64(in[((i*d+zz)*h+yy)*w+xx])
								}
							}
						}
					}
					out[((o*d+z)*h+y)*w+x] = float32(1 / (1 + math.Exp(-acc)))
				}
			}
		}
	}
	return out
}

func TestConv3DModelMatchesReference(t *testing.T) {
	initForTest(t)
	s, err := NewSession(filepath.Join("testdata", "conv3d_sigmoid.onnx"), SessionOptions{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		name    string
		d, h, w int
	}{
		{"cube", 5, 5, 5},
		{"anisotropic", 3, 7, 6},
		{"single slice", 1, 4, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 2 * tc.d * tc.h * tc.w
			in := make([]float32, n)
			for i := range in {
				in[i] = float32(math.Sin(float64(i)*0.37)) * 2
			}
			got, shape, err := s.Run(in, []int64{1, 2, int64(tc.d), int64(tc.h), int64(tc.w)})
			if err != nil {
				t.Fatal(err)
			}
			want := []int64{1, 3, int64(tc.d), int64(tc.h), int64(tc.w)}
			if len(shape) != len(want) {
				t.Fatalf("output shape %v, want %v", shape, want)
			}
			for i := range want {
				if shape[i] != want[i] {
					t.Fatalf("output shape %v, want %v", shape, want)
				}
			}
			ref := conv3dSigmoid(in, tc.d, tc.h, tc.w)
			var worst float64
			for i := range ref {
				worst = math.Max(worst, math.Abs(float64(got[i]-ref[i])))
			}
			if worst > 1e-5 {
				t.Fatalf("max |ort - reference| = %g, want <= 1e-5", worst)
			}
		})
	}
}

func TestInitMissingLibraryNamesPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere", "libonnxruntime.so.1")
	// A second Init with another path after a successful one is refused too;
	// either way the message must name the path asked for.
	err := Init(missing)
	if err == nil {
		t.Fatal("Init of a missing library succeeded")
	}
	if !strings.Contains(err.Error(), missing) {
		t.Fatalf("error %q does not name %s", err, missing)
	}
	if _, statErr := os.Stat(DefaultLibraryPath()); statErr != nil && !errors.Is(err, ErrLibraryMissing) {
		t.Fatalf("error %q is not ErrLibraryMissing", err)
	}
}

func TestNewSessionRejectsGarbage(t *testing.T) {
	initForTest(t)
	p := filepath.Join(t.TempDir(), "bad.onnx")
	if err := os.WriteFile(p, []byte("this is not a protobuf"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSession(p, SessionOptions{}); err == nil {
		t.Fatal("garbage model loaded")
	}
}
