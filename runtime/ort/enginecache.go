package ort

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Swapped by tests.
var (
	gpuInfoGlob    = "/proc/driver/nvidia/gpus/*/information"
	deviceTreeFile = "/proc/device-tree/model"
	nvinferGlobs   = []string{
		"/usr/lib/*-linux-gnu/libnvinfer.so.*",
		"/usr/local/cuda/lib64/libnvinfer.so.*",
		"/usr/local/cuda/targets/*/lib/libnvinfer.so.*",
	}
)

// EngineCacheDir returns the TensorRT engine cache folder for one model under
// root: <root>/<sha256 first 16>-trt<version>-<gpu>. A TensorRT engine is only
// valid for the exact model, TensorRT version and GPU that built it, so a
// change of any of them starts a fresh folder instead of loading a stale engine.
func EngineCacheDir(root, modelSHA256 string) string {
	sha := modelSHA256
	if len(sha) > 16 {
		sha = sha[:16]
	}
	return filepath.Join(root, sha+"-trt"+safeName(TensorRTVersion())+"-"+safeName(GPUName()))
}

// TensorRTVersion returns the version of the libnvinfer found in the usual
// library folders, or "none".
func TensorRTVersion() string {
	re := regexp.MustCompile(`libnvinfer\.so\.(\d+(\.\d+)*)$`)
	var best string
	for _, g := range nvinferGlobs {
		m, _ := filepath.Glob(g)
		sort.Strings(m)
		for _, p := range m {
			if s := re.FindStringSubmatch(p); s != nil && len(s[1]) > len(best) {
				best = s[1]
			}
		}
	}
	if best == "" {
		return "none"
	}
	return best
}

// GPUName returns the NVIDIA GPU model (from the driver's /proc files, or the
// Jetson's device tree), or "nogpu".
func GPUName() string {
	m, _ := filepath.Glob(gpuInfoGlob)
	sort.Strings(m)
	for _, p := range m {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "Model" {
				return strings.TrimSpace(v)
			}
		}
	}
	if b, err := os.ReadFile(deviceTreeFile); err == nil {
		return strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
	}
	return "nogpu"
}

func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_':
			return r
		}
		return '_'
	}, s)
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
