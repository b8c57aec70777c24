// Package testenv finds what tests need outside the package folder: the
// repository root, the real scanner data in ../shared/data, and the external
// programs (dcmtk, Orthanc, dicom3tools) that `./build.sh deps` installs,
// and free TCP ports for the peers a test starts.
//
// A test that needs one of them and cannot find it fails with a message naming
// the path or program, never skips silently: a green run must mean the check ran.
package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
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
// it is not installed, or when it is not in Programs (so that no test can
// come to need a program that build.sh does not install).
func Program(t testing.TB, name string) string {
	t.Helper()
	pkg, ok := Programs[name]
	if !ok {
		t.Fatalf("testenv: program %s is not in testenv.Programs: add it there with the Debian package that provides it, and that package to build.sh's APT_PACKAGES", name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("testenv: program %s (Debian package %s) is not installed (run ./build.sh deps): %v", name, pkg, err)
	}
	return p
}

// File returns path, a file a test reads from the system, and fails the test
// when it is missing or not in Files.
func File(t testing.TB, path string) string {
	t.Helper()
	pkg, ok := Files[path]
	if !ok {
		t.Fatalf("testenv: %s is not in testenv.Files: add it there with the Debian package that provides it, and that package to build.sh's APT_PACKAGES", path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("testenv: %s (Debian package %s) is missing (run ./build.sh deps): %v", path, pkg, err)
	}
	return path
}

var ports struct {
	sync.Mutex
	given map[int]bool
}

// WaitListening waits until something accepts TCP connections on
// 127.0.0.1:port (a peer program just started), failing the test after
// timeout.
func WaitListening(t testing.TB, port int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: nothing listens on port %d after %v: %v", port, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on when it
// was asked for and that no earlier call in this test binary returned.
//
// The port is released before it is returned, so the kernel may hand it out
// again to the next caller asking for an ephemeral port. That matters when a
// test keeps a port unbound on purpose (a PACS that is down) while it starts
// other peers: without the memory of ports already given, Orthanc's HTTP
// port once landed on the "down" PACS port and our SCU met an HTTP answer.
func FreePort(t testing.TB) int {
	t.Helper()
	ports.Lock()
	defer ports.Unlock()
	if ports.given == nil {
		ports.given = map[int]bool{}
	}
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: free port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !ports.given[port] {
			ports.given[port] = true
			return port
		}
	}
	t.Fatalf("testenv: no port that was not already given in 100 tries")
	return 0
}
