package models

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"metsentry/firmware/detect"
	"metsentry/runtime/manifest"
	"metsentry/runtime/trust"
)

// The shipped manifests must verify against the committed trust store, and
// their input contract must be exactly what training used: a drift here would
// feed the model inputs it never saw.
func TestShippedManifests(t *testing.T) {
	store, err := trust.LoadStore("trust")
	if err != nil {
		t.Fatal(err)
	}
	want := Preprocessing()
	for _, prec := range []string{"fp32", "int8"} {
		t.Run(prec, func(t *testing.T) {
			path := filepath.Join("metnet", "metnet-"+prec+".manifest.json")
			v, err := trust.Verify(path, store)
			if err != nil {
				t.Fatalf("shipped manifest does not verify: %v", err)
			}
			m, err := manifest.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if v == nil || m.Precision != prec {
				t.Fatalf("precision %q, want %q", m.Precision, prec)
			}
			if !slices.Equal(m.Channels, want.Channels) || m.BrightOnly != want.BrightOnly || m.SpacingMM != want.SpacingMM ||
				m.Normalisation != want.Normalisation || m.Layout != want.Layout || m.Output.Meaning != want.Output.Meaning {
				t.Fatalf("manifest input contract differs from models.Preprocessing:\n got %+v\nwant %+v", m, want)
			}
			if len(m.Metrics) == 0 {
				t.Fatal("shipped manifest records no metrics")
			}
			// A second stage, where there is one, must weigh only what this
			// firmware measures.
			for _, r := range []*manifest.Rescore{m.Output.Rescore, m.Output.RescoreBrightOnly} {
				if r == nil {
					continue
				}
				if _, err := detect.Score(r, make([]float64, len(detect.RescoreFeatures))); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestTamperedManifestRefused(t *testing.T) {
	store, err := trust.LoadStore("trust")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"metnet-fp32.onnx", "metnet-fp32.manifest.json", "metnet-fp32.manifest.json.sig", "ref-input.f32", "ref-fp32.f32"} {
		b, err := os.ReadFile(filepath.Join("metnet", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "metnet-fp32.onnx" {
			b[len(b)-1] ^= 1
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := trust.Verify(filepath.Join(dir, "metnet-fp32.manifest.json"), store); err == nil {
		t.Fatal("a model file with one bit flipped verified")
	}
}
