//go:build !race

// The self-test runs the shipped model on the phantom (seconds for fp32,
// nearly a minute for int8 on two shared cores; several times that under
// the race detector): build.sh runs it without -race.

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metsentry/boards"
	"metsentry/firmware/testenv"
)

// simBoard writes the sim board with its library pointed at the test's
// ONNX Runtime and returns its path.
func simBoard(t *testing.T) string {
	t.Helper()
	root := testenv.RepoRoot(t)
	lib := filepath.Join(root, ".cache", "ort", "1.24.1", "linux-x64", "libonnxruntime.so.1")
	if p := os.Getenv("METSENTRY_ORT_LIB"); p != "" {
		lib = p
	}
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("ONNX Runtime library %s is missing (run ./build.sh deps): %v", lib, err)
	}
	board, _, _ := boards.File("sim")
	b := strings.Replace(string(board), "library: .cache/ort/1.24.1/linux-x64/libonnxruntime.so.1", "library: "+lib, 1)
	if !strings.Contains(b, lib) {
		t.Fatal("boards/sim.yaml changed: cannot point its library at the test's")
	}
	p := filepath.Join(t.TempDir(), "board.yaml")
	if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// shippedCopy copies models/metnet's manifests, signatures, models and
// reference files into a fresh folder, with one byte of damage (flipped at
// the middle of the named file, if any).
func shippedCopy(t *testing.T, damaged string) string {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(t), "models", "metnet")
	dir := t.TempDir()
	for _, f := range []string{"metnet-fp32.manifest.json", "metnet-fp32.manifest.json.sig", "metnet-fp32.onnx", "ref-fp32.f32",
		"metnet-int8.manifest.json", "metnet-int8.manifest.json.sig", "metnet-int8.onnx", "ref-int8.f32", "ref-input.f32"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == damaged {
			b[len(b)/2] ^= 0x10
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSelfTestShippedModel(t *testing.T) {
	board := simBoard(t)
	trustDir := filepath.Join(testenv.RepoRoot(t), "models", "trust")
	good := shippedCopy(t, "")
	broken := shippedCopy(t, "metnet-fp32.onnx")
	brokenInt8 := shippedCopy(t, "metnet-int8.onnx")
	tests := []struct {
		name   string
		models []string
		slow   bool
		code   int
		says   []string
	}{
		{"shipped fp32 model", []string{filepath.Join(good, "metnet-fp32.manifest.json")}, false, 0,
			[]string{shippedModel(t, "fp32"), "right frontal", "left parietal", "left temporal", "found, centre", "PASS"}},
		{"shipped int8 model, as the daemon prefers it", []string{filepath.Join(good, "metnet-int8.manifest.json"), filepath.Join(good, "metnet-fp32.manifest.json")}, true, 0,
			[]string{shippedModel(t, "int8"), "PASS"}},
		{"model file corrupted", []string{filepath.Join(broken, "metnet-fp32.manifest.json")}, false, 1,
			[]string{"FAIL: the model could not be opened", "metnet-fp32.onnx hashes to", "the file was changed or damaged"}},
		{"int8 corrupted, fp32 fine: the fallback is reported", []string{filepath.Join(brokenInt8, "metnet-int8.manifest.json"), filepath.Join(brokenInt8, "metnet-fp32.manifest.json")}, false, 1,
			[]string{"FAIL: the model could not be opened", "model refused: metnet-int8.manifest.json", "metnet-int8.onnx hashes to", "fall back to metnet-fp32.onnx"}},
		{"no model", nil, false, 2, []string{"--selftest needs the model"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.slow && testing.Short() {
				t.Skip("slow: the int8 model takes about a minute on two cores")
			}
			args := []string{"--selftest", "--board", board, "--trust", trustDir, "--log-level", "error"}
			for _, m := range tc.models {
				args = append(args, "--model", m)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, w := range tc.says {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("report does not say %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}
