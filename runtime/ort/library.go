package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"

	"metsentry/runtime/amx"
)

// Version is the ONNX Runtime release whose C API onnxruntime_go v1.27.0 expects.
const Version = "1.24.1"

// EnvLibrary names the environment variable that overrides the library path in
// tests and tools.
const EnvLibrary = "METSENTRY_ORT_LIB"

// ErrLibraryMissing is returned by Init when the shared library file does not exist.
var ErrLibraryMissing = errors.New("ort: ONNX Runtime library not found")

var (
	initMu   sync.Mutex
	initPath string
	guard    = amx.StateOff
)

// InitOption changes how Init loads the library.
type InitOption func(*initConfig)

type initConfig struct{ noGuard bool }

// WithoutAMXGuard loads ONNX Runtime without blocking AMX first. Only the
// bench and the tests that show the AMX fault use it.
func WithoutAMXGuard() InitOption { return func(c *initConfig) { c.noGuard = true } }

// Init loads the ONNX Runtime shared library at path and creates the process-wide
// environment. Before loading it blocks AMX for the whole process (see
// runtime/amx) unless WithoutAMXGuard is given; a guard that cannot be
// installed on an AMX machine is an error, because int8 results would then be
// untrustworthy. It may be called again with the same path; a different path
// after a successful Init is an error, because ONNX Runtime cannot be loaded
// twice in one process.
func Init(path string, opts ...InitOption) error {
	var cfg initConfig
	for _, o := range opts {
		o(&cfg)
	}
	initMu.Lock()
	defer initMu.Unlock()
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("ort: library path %q: %w", path, err)
	}
	if initPath != "" {
		if initPath != abs {
			return fmt.Errorf("ort: already initialised with %s, cannot switch to %s in one process", initPath, abs)
		}
		return nil
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("%w at %s (run ./build.sh deps, or set inference.library in the board file): %v", ErrLibraryMissing, abs, err)
	}
	if !cfg.noGuard {
		st, err := amx.Block()
		if err != nil {
			return fmt.Errorf("ort: AMX guard: %w", err)
		}
		guard = st
	}
	onnx.SetSharedLibraryPath(abs)
	if err := onnx.InitializeEnvironment(onnx.WithLogLevelError()); err != nil {
		return fmt.Errorf("ort: cannot initialise ONNX Runtime from %s: %w", abs, err)
	}
	if v := onnx.GetVersion(); v != Version {
		_ = onnx.DestroyEnvironment()
		return fmt.Errorf("ort: %s is ONNX Runtime %s, expected %s", abs, v, Version)
	}
	initPath = abs
	return nil
}

// AMXGuard says whether the AMX guard is in force in this process: one of
// amx.StateBlocked, StateNoAMX, StateNotSupported, or StateOff.
func AMXGuard() amx.State {
	initMu.Lock()
	defer initMu.Unlock()
	return guard
}

// LibraryVersion returns the version string of the loaded library, or "" before Init.
func LibraryVersion() string {
	initMu.Lock()
	defer initMu.Unlock()
	if initPath == "" {
		return ""
	}
	return onnx.GetVersion()
}

// DefaultLibraryPath returns the library tests and tools use when no board file
// names one: $METSENTRY_ORT_LIB if set, else the copy `./build.sh deps` keeps in
// the repository's .cache folder (found by walking up from the working directory
// to go.mod).
func DefaultLibraryPath() string {
	if p := os.Getenv(EnvLibrary); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join(".cache", "ort", Version, "linux-"+archDir(), "libonnxruntime.so.1")
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			dir = d
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return filepath.Join(dir, ".cache", "ort", Version, "linux-"+archDir(), "libonnxruntime.so.1")
}
