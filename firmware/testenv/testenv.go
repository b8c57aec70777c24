// Package testenv finds what tests need outside the package folder: the
// repository root, the real scanner data in ../shared/data, and the external
// programs (dcmtk, Orthanc, dicom3tools) that `./build.sh deps` installs.
//
// A test that needs one of them and cannot find it fails with a message naming
// the path or program, never skips silently: a green run must mean the check ran.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// EnvSharedData overrides the location of the shared data folder.
const EnvSharedData = "METSENTRY_SHARED_DATA"

// RepoRoot returns the folder holding go.mod, found by walking up from the
// working directory (a package folder under `go test`).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: working directory: %v", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("testenv: no go.mod above %s", dir)
		}
	}
}

// SharedData returns the absolute path of ../shared/data/<rel...> next to the
// repository (or under $METSENTRY_SHARED_DATA), and fails the test when it is
// missing.
func SharedData(t testing.TB, rel ...string) string {
	t.Helper()
	base := os.Getenv(EnvSharedData)
	if base == "" {
		base = filepath.Join(RepoRoot(t), "..", "shared", "data")
	}
	p := filepath.Join(append([]string{base}, rel...)...)
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatalf("testenv: %s: %v", p, err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("testenv: test data %s is missing (the shared data folder must sit beside the repository, or set %s): %v", abs, EnvSharedData, err)
	}
	return abs
}

// Program returns the full path of an external program and fails the test when
// it is not installed.
func Program(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("testenv: program %s is not installed (run ./build.sh deps): %v", name, err)
	}
	return p
}
