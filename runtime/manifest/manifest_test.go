package manifest

import (
	"errors"
	"strings"
	"testing"
)

const good = `{
 "schema": 1, "name": "metnet", "version": "1.0.0", "file": "metnet-fp32.onnx",
 "sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
 "opset": 13, "precision": "fp32", "channels": ["black", "bright"], "bright_only": true,
 "spacing_mm": [1, 1, 1], "normalisation": {"method": "zscore-mask"},
 "layout": {"mode": "whole", "multiple": 8, "receptive_field_mm": 93},
 "output": {"meaning": "lesion-probability", "channel": 0, "threshold": 0.5, "min_component_mm3": 3},
 "reference": {"shape": [1, 2, 16, 16, 16], "input": "ref-in.f32", "output": "ref-out.f32", "tolerance": 0.001}
}`

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(string) string
		wantErr string
	}{
		{"good", func(s string) string { return s }, ""},
		{"unknown field", func(s string) string { return strings.Replace(s, `"opset"`, `"opsett"`, 1) }, "unknown field"},
		{"bad sha", func(s string) string { return strings.Replace(s, `"0123456789abcdef0123`, `"XYZ`, 1) }, "sha256"},
		{"unknown channel", func(s string) string { return strings.Replace(s, `"black"`, `"flair"`, 1) }, "unknown channel"},
		{"threshold out of range", func(s string) string { return strings.Replace(s, `"threshold": 0.5`, `"threshold": 1.5`, 1) }, "threshold"},
		{"wrong schema", func(s string) string { return strings.Replace(s, `"schema": 1`, `"schema": 9`, 1) }, "schema 9"},
		{"tiles without patch", func(s string) string { return strings.Replace(s, `"mode": "whole"`, `"mode": "tiles"`, 1) }, "layout.patch"},
		{"reference shape", func(s string) string { return strings.Replace(s, `[1, 2, 16, 16, 16]`, `[1, 3, 16, 16, 16]`, 1) }, "reference.shape"},
		{"trailing data", func(s string) string { return s + "{}" }, "trailing"},
		{"peak bytes per voxel", withPeak("200"), ""},
		{"peak bytes per voxel too small", withPeak("2"), "peak_bytes_per_voxel 2"},
		{"peak bytes per voxel negative", withPeak("-200"), "peak_bytes_per_voxel -200"},
		{"rescore", withRescore(`"candidate": 0.1, "accept": 0.5, "features": ["a", "b"], "mean": [0, 1], "scale": [1, 2], "weights": [0.5, -1], "bias": 0.1`), ""},
		{"rescore lengths", withRescore(`"candidate": 0.1, "accept": 0.5, "features": ["a", "b"], "mean": [0], "scale": [1, 2], "weights": [0.5, -1]`), "2 features, 1 means"},
		{"rescore scale", withRescore(`"candidate": 0.1, "accept": 0.5, "features": ["a"], "mean": [0], "scale": [0], "weights": [0.5]`), "scale that is not positive"},
		{"rescore accept", withRescore(`"candidate": 0.1, "accept": 1, "features": ["a"], "mean": [0], "scale": [1], "weights": [0.5]`), "accept 1"},
		{"bright-only stage", withStage("rescore_bright_only", `"candidate": 0.1, "accept": 0.5, "features": ["a"], "mean": [0], "scale": [1], "weights": [0.5]`), ""},
		{"mass rule", withStage("rescore_bright_only", `"candidate": 0.1, "accept": 0.5, "features": ["a"], "mean": [0], "scale": [1], "weights": [0.5], "mass_voxels": 4000, "mass_prob": 0.999`), ""},
		{"mass rule under accept", withStage("rescore_bright_only", `"candidate": 0.1, "accept": 0.5, "features": ["a"], "mean": [0], "scale": [1], "weights": [0.5], "mass_voxels": 4000, "mass_prob": 0.4`), "mass_voxels 4000 and mass_prob 0.4"},
		{"mass probability alone", withStage("rescore", `"candidate": 0.1, "accept": 0.5, "features": ["a"], "mean": [0], "scale": [1], "weights": [0.5], "mass_prob": 0.999`), "output.rescore.mass_voxels 0"},
		{"hidden layer", withRescore(`"candidate": 0.1, "accept": 0.5, "features": ["a", "b"], "mean": [0, 1], "scale": [1, 2], "hidden": {"weights": [[1, 0], [0.5, -1], [0, 2]], "bias": [0, 0.1, -0.2]}, "weights": [0.5, -1, 2], "bias": 0.1`), ""},
		{"hidden layer, a weight a feature", withRescore(`"candidate": 0.1, "accept": 0.5, "features": ["a", "b"], "mean": [0, 1], "scale": [1, 2], "hidden": {"weights": [[1, 0], [0.5, -1], [0, 2]], "bias": [0, 0.1, -0.2]}, "weights": [0.5, -1], "bias": 0.1`), "2 weights for 3 hidden units"},
		{"hidden unit short", withRescore(`"candidate": 0.1, "accept": 0.5, "features": ["a", "b"], "mean": [0, 1], "scale": [1, 2], "hidden": {"weights": [[1, 0], [0.5]], "bias": [0, 0.1]}, "weights": [0.5, -1], "bias": 0.1`), "hidden unit 1 has 1 weights for 2 features"},
		{"hidden rows and biases", withRescore(`"candidate": 0.1, "accept": 0.5, "features": ["a"], "mean": [0], "scale": [1], "hidden": {"weights": [[1], [2]], "bias": [0]}, "weights": [0.5], "bias": 0.1`), "2 weight rows and 1 biases"},
		{"hidden layer empty", withRescore(`"candidate": 0.1, "accept": 0.5, "features": ["a"], "mean": [0], "scale": [1], "hidden": {"weights": [], "bias": []}, "weights": [], "bias": 0.1`), "0 weight rows and 0 biases"},
		{"bright-only stage scale", withStage("rescore_bright_only", `"candidate": 0.1, "accept": 0.5, "features": ["a"], "mean": [0], "scale": [-1], "weights": [0.5]`), "output.rescore_bright_only holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.edit(good)))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if m.Output.Threshold != 0.5 || m.Channels[1] != ChannelBright {
					t.Fatalf("decoded %+v", m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// withPeak sets peak_bytes_per_voxel.
func withPeak(v string) func(string) string {
	return func(s string) string {
		return strings.Replace(s, `"opset": 13,`, `"opset": 13, "peak_bytes_per_voxel": `+v+`,`, 1)
	}
}

// withRescore adds an output.rescore object with the given fields.
func withRescore(fields string) func(string) string { return withStage("rescore", fields) }

// withStage adds an output object named key with the given fields.
func withStage(key, fields string) func(string) string {
	return func(s string) string {
		return strings.Replace(s, `"min_component_mm3": 3}`, `"min_component_mm3": 3, "`+key+`": {`+fields+`}}`, 1)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err == nil && m.Validate() != nil {
			t.Fatal("Parse accepted a manifest Validate rejects")
		}
	})
}
