package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"metsentry/firmware/testenv"
)

// simBox is a metsentryd binary with a sim board file and a site file of its
// own in a test's temporary folder, for tests that run the whole daemon.
type simBox struct {
	bin, board, site, data, dir string
	port                        int
	log                         *os.File
}

var built struct {
	once sync.Once
	bin  string
	err  error
}

// daemonBinary builds metsentryd once per test binary.
func daemonBinary(t *testing.T) string {
	t.Helper()
	root := testenv.RepoRoot(t)
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "metsentryd-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "metsentryd")
		cmd := exec.Command("go", "build", "-o", built.bin, "./firmware/cmd/metsentryd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build metsentryd: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// ortLibrary is the ONNX Runtime library ./build.sh deps fetched:
// $METSENTRY_ORT_LIB, else the repository's .cache.
func ortLibrary(t *testing.T) string {
	t.Helper()
	lib := os.Getenv("METSENTRY_ORT_LIB")
	if lib == "" {
		lib = filepath.Join(testenv.RepoRoot(t), ".cache", "ort", "1.24.1", "linux-x64", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("ONNX Runtime library %s is missing (run ./build.sh deps, or set METSENTRY_ORT_LIB): %v", lib, err)
	}
	return lib
}

// newSimBox writes boards/sim.yaml with the test's data folder, lib as the
// ONNX Runtime library and panel as the panel device (empty: a path where
// no panel is plugged in, which the daemon keeps trying), and a
// site file: site's text with %d for the DICOM port.
func newSimBox(t *testing.T, lib, panel, site string) *simBox {
	t.Helper()
	root := testenv.RepoRoot(t)
	dir := t.TempDir()
	b := &simBox{bin: daemonBinary(t), dir: dir, data: filepath.Join(dir, "data"), port: testenv.FreePort(t)}
	if panel == "" {
		panel = filepath.Join(dir, "no-panel")
	}
	board, err := os.ReadFile(filepath.Join(root, "boards", "sim.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(board)
	for _, r := range [][2]string{
		{"data_dir: /var/lib/metsentry-sim", "data_dir: " + b.data},
		{"library: .cache/ort/1.24.1/linux-x64/libonnxruntime.so.1", "library: " + lib},
		{"panel:   {device: /run/metsentry-sim/panel, baud: 115200}", "panel:   {device: " + panel + ", baud: 115200}"},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("boards/sim.yaml changed: no %q to replace", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	b.board = filepath.Join(dir, "board.yaml")
	b.site = filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(b.board, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.site, []byte(fmt.Sprintf(site, b.port)), 0o600); err != nil {
		t.Fatal(err)
	}
	if b.log, err = os.Create(filepath.Join(dir, "daemon.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.log.Close() })
	return b
}

// start runs the daemon with extra flags.
func (b *simBox) start(t *testing.T, extra ...string) *daemonProc {
	t.Helper()
	return startDaemon(t, b.bin, b.board, b.site, b.log, extra...)
}

// logText is what the daemon has logged so far.
func (b *simBox) logText(t *testing.T) string {
	t.Helper()
	out, err := os.ReadFile(b.log.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
