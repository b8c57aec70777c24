//go:build cgo

package runner

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"metsentry/firmware/analyze"
	"os"
	"path/filepath"
	"testing"

	"metsentry/firmware/detect"
	"metsentry/firmware/testenv"
	"metsentry/runtime/model"
	"metsentry/runtime/ort"
	"metsentry/runtime/trust"
	"metsentry/tools/phantom/phantom"
)

// TestModelThroughRuntime runs a real ONNX model (runtime/testdata's tiny
// U-Net, untrained: the numbers mean nothing) through runtime/model exactly
// as the evaluate command opens one, on a phantom case read back from DICOM.
func TestModelThroughRuntime(t *testing.T) {
	if err := ort.Init(ort.DefaultLibraryPath()); err != nil {
		t.Fatalf("ONNX Runtime is needed (run ./build.sh deps): %v", err)
	}
	src := filepath.Join(testenv.RepoRoot(t), "runtime", "testdata")
	dir := t.TempDir()
	for _, f := range []string{"unet_tiny-fp32.manifest.json", "unet_tiny-fp32.onnx", "unet_tiny-ref-in.f32", "unet_tiny-ref-out.f32"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mpath := filepath.Join(dir, "unet_tiny-fp32.manifest.json")
	if err := trust.Sign(mpath, priv); err != nil {
		t.Fatal(err)
	}
	md, err := model.Open(context.Background(), model.Options{Candidates: []string{mpath}, Store: trust.NewStore(pub)})
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	d := &ModelDetector{Model: analyze.Model{Manifest: md.Manifest(), Engine: md, Plan: md.Plan(1<<30, 300)}}
	rep, err := Run(context.Background(), Options{
		Generator: generator(t), Split: phantom.Val, Seeds: []uint64{4},
		Detector: d, Params: detect.Params{Threshold: md.Manifest().Output.Threshold},
		FROCThresholds: []float64{0.5}, ScratchDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Detector != "model unet_tiny 0.0.0-test (fp32)" || len(rep.Cases) != 1 || len(rep.FROC) != 1 {
		t.Errorf("report: detector %q, %d cases, %d FROC points", rep.Detector, len(rep.Cases), len(rep.FROC))
	}
	if rep.Cases[0].Seconds <= 0 {
		t.Error("no time measured")
	}
}
