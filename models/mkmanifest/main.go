// Command mkmanifest writes and signs the manifests of the MetNet model files
// in a folder (metnet-fp32.onnx, metnet-int8.onnx, their reference outputs,
// export.json and train.json from models/recipe):
//
//	go run ./models/mkmanifest -dir models/metnet -threshold 0.5 -min-mm3 4 \
//	    -rescore models/metnet/rescore.json -accept 0.5 \
//	    -rescore-bright-only models/metnet/rescore-bright-only.json -accept-bright-only 0.5 \
//	    -metrics models/metnet/metrics.json -peak-bytes-fp32 200 -peak-bytes-int8 1060 \
//	    -key ~/keys/metsentry-models.key
//
// The preprocessing fields come from models.Preprocessing, the same function
// models/trainset trained with. Without -key the manifests are written
// unsigned (runtime/trust then refuses them, as it must).
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"metsentry/firmware/detect"
	"metsentry/models"
	"metsentry/runtime/manifest"
	"metsentry/runtime/trust"
)

func main() {
	dir := flag.String("dir", "models/metnet", "folder with the model files")
	version := flag.String("version", "0.1.0", "model version")
	threshold := flag.Float64("threshold", 0.5, "operating threshold, chosen on the val split")
	minMM3 := flag.Float64("min-mm3", 4, "smallest lesion kept, mm³, chosen on the val split")
	metrics := flag.String("metrics", "", "JSON file with the measured metrics to record (optional)")
	key := flag.String("key", "", "private key file to sign with (optional)")
	rescore := flag.String("rescore", "", "the fitted rescore stage (models/rescore's output) to put in output.rescore (optional)")
	accept := flag.Float64("accept", 0, "with -rescore: the stage's accept level, chosen on the val split (default: the file's)")
	rescoreBright := flag.String("rescore-bright-only", "", "the fitted bright-only stage (models/rescore -bright-only) to put in output.rescore_bright_only (optional)")
	acceptBright := flag.Float64("accept-bright-only", 0, "with -rescore-bright-only: its accept level, chosen on the val split (default: the file's)")
	peakFP32 := flag.Float64("peak-bytes-fp32", 0, "the fp32 file's measured peak working memory per input voxel of one pass (runtime/cmd/ortbench; 0: the runtime's default for fp32)")
	peakINT8 := flag.Float64("peak-bytes-int8", 0, "the same for the INT8 file")
	flag.Parse()
	stages := []stageFile{{*rescore, *accept, false}, {*rescoreBright, *acceptBright, true}}
	peaks := map[string]float64{"fp32": *peakFP32, "int8": *peakINT8}
	if err := run(*dir, *version, *threshold, *minMM3, *metrics, *key, stages, peaks); err != nil {
		fmt.Fprintln(os.Stderr, "mkmanifest:", err)
		os.Exit(1)
	}
}

// stageFile is a fitted second stage to put in the manifests: for VISIBLE
// studies, or for bright-only ones.
type stageFile struct {
	path       string // models/rescore's output; "" for none
	accept     float64
	brightOnly bool
}

// load reads the stage, with its accept level when one is given.
func (f stageFile) load() (*manifest.Rescore, error) {
	if f.path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, err
	}
	r := new(manifest.Rescore)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	if f.accept != 0 {
		r.Accept = f.accept
	}
	return r, nil
}

func run(dir, version string, threshold, minMM3 float64, metricsPath, key string, stages []stageFile, peaks map[string]float64) error {
	training, err := os.ReadFile(filepath.Join(dir, "train.json"))
	if err != nil {
		return err
	}
	var exp struct {
		RefShape []int64 `json:"ref_shape"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "export.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		return fmt.Errorf("export.json: %w", err)
	}
	var metrics json.RawMessage
	if metricsPath != "" {
		if metrics, err = os.ReadFile(metricsPath); err != nil {
			return err
		}
		if !json.Valid(metrics) {
			return fmt.Errorf("%s is not JSON", metricsPath)
		}
	}
	var visible, brightOnly *manifest.Rescore
	for _, f := range stages {
		r, err := f.load()
		if err != nil {
			return err
		}
		if f.brightOnly {
			brightOnly = r
		} else {
			visible = r
		}
	}
	// The firmware refuses a bright-only stage weighing a black-blood
	// measurement; so does this, before anything is signed.
	if brightOnly != nil {
		if err := detect.CheckBrightOnly(brightOnly.Features); err != nil {
			return err
		}
	}
	for _, prec := range []string{"int8", "fp32"} {
		m := models.Preprocessing()
		m.Name, m.Version, m.Opset, m.Precision = "metnet", version, 13, prec
		m.File = "metnet-" + prec + ".onnx"
		sum, err := fileSHA256(filepath.Join(dir, m.File))
		if err != nil {
			return err
		}
		m.SHA256 = sum
		m.PeakBytesPerVoxel = peaks[prec]
		m.Output.Threshold, m.Output.MinComponentMM3 = threshold, minMM3
		m.Output.Rescore, m.Output.RescoreBrightOnly = visible, brightOnly
		tol := 1e-4
		if prec == "int8" {
			// The reference is PyTorch simulating the Q/DQ graph; integer
			// kernels may round a requantisation step differently.
			tol = 0.02
		}
		m.Reference = &manifest.Reference{Shape: exp.RefShape, Input: "ref-input.f32", Output: "ref-" + prec + ".f32", Tolerance: tol}
		m.Training = json.RawMessage(training)
		m.Metrics = metrics
		if err := m.Validate(); err != nil {
			return err
		}
		out, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return err
		}
		path := filepath.Join(dir, "metnet-"+prec+".manifest.json")
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			return err
		}
		if key != "" {
			if err := trust.SignWithKeyFile(path, key); err != nil {
				return err
			}
		}
		fmt.Println("wrote", path)
	}
	return nil
}

func fileSHA256(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}
