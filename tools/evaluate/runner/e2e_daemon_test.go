//go:build !race

// The daemon runs as its own (non-race) binary; the race detector would
// only slow this test's phantom rendering and scoring.

package runner

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metsentry/firmware/testenv"
	"metsentry/tools/phantom/phantom"
)

// TestRunE2EWithDaemon is evaluate -e2e against the real metsentryd with
// the shipped model: two phantom test studies (test-0010, five lesions;
// test-0001, none) sent with storescu, the results received by storescp on
// loopback, the SEG that comes back scored against the truth. The study
// with lesions must come back flagged with most of them found, the other
// with no SEG and no false positive.
func TestRunE2EWithDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds metsentryd and runs the shipped model on two whole studies")
	}
	testenv.Program(t, "storescu")
	testenv.Program(t, "storescp")
	root := testenv.RepoRoot(t)
	lib := filepath.Join(root, ".cache", "ort", "1.24.1", "linux-x64", "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("ONNX Runtime library %s is missing (run ./build.sh deps): %v", lib, err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "metsentryd")
	build := exec.Command("go", "build", "-o", bin, "./firmware/cmd/metsentryd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build metsentryd: %v\n%s", err, out)
	}
	board, err := os.ReadFile(filepath.Join(root, "boards", "sim.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b := strings.Replace(string(board), "data_dir: /var/lib/metsentry-sim", "data_dir: "+filepath.Join(tmp, "data"), 1)
	b = strings.Replace(b, "library: .cache/ort/1.24.1/linux-x64/libonnxruntime.so.1", "library: "+lib, 1)
	b = strings.Replace(b, "device: /run/metsentry-sim/panel", "device: "+filepath.Join(tmp, "no-panel"), 1)
	if !strings.Contains(b, lib) {
		t.Fatal("boards/sim.yaml changed: cannot point its library at the test's")
	}
	boardFile, siteFile := filepath.Join(tmp, "board.yaml"), filepath.Join(tmp, "site.yaml")
	port, resultsPort := testenv.FreePort(t), testenv.FreePort(t)
	os.WriteFile(boardFile, []byte(b), 0o600)
	os.WriteFile(siteFile, []byte(fmt.Sprintf(`ae_title: METSENTRY
port: %d
bind: 127.0.0.1
allowed_peers:
  - {ae_title: EVALUATE, address: 127.0.0.1}
destinations:
  - {name: evaluate, ae_title: EVALRESULTS, host: 127.0.0.1, port: %d, send: [seg, sr]}
completeness:
  quiet_period: 5m  # never reached: the release and the count complete each series
retention:
  min_free_mb: 64
`, port, resultsPort)), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	logFile := filepath.Join(tmp, "daemon.log")
	lf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	d := exec.CommandContext(ctx, bin, "--board", boardFile, "--site", siteFile,
		"--model", filepath.Join(root, "models", "metnet", "metnet-fp32.manifest.json"), "--trust", filepath.Join(root, "models", "trust"))
	d.Stdout, d.Stderr = lf, lf
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { d.Process.Kill(); d.Wait() }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for try := 0; ; try++ { // the model's self-test and warm-up come first
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if try == 1200 {
			out, _ := os.ReadFile(logFile)
			t.Fatalf("metsentryd did not listen within 2 minutes:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	g, err := phantom.NewGenerator(testenv.SharedData(t, "anatomy", "colin27"), phantom.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunE2E(ctx, E2EOptions{
		Generator: g, Split: phantom.Test, Seeds: []uint64{10, 1},
		Daemon: addr, ResultsDir: filepath.Join(tmp, "results"), ResultsPort: resultsPort,
		Timeout: 3 * time.Minute, ScratchDir: filepath.Join(tmp, "scratch"),
	})
	if err != nil {
		out, _ := os.ReadFile(logFile)
		t.Fatalf("%v\ndaemon log:\n%s", err, out)
	}
	for _, c := range rep.Cases {
		t.Logf("%s: %d lesions, %d found, %d false positives, lesion Dice %.2f, %.1f s from the last image to the SR", c.ID, len(c.Lesions), c.Hits, c.FP, c.LesionDice, c.Seconds)
	}
	pos, neg := rep.Cases[0], rep.Cases[1]
	if !pos.Positive || !pos.Flagged || 2*pos.Hits < len(pos.Lesions) {
		t.Errorf("%s: %d of %d lesions found (flagged %v); want it flagged with most found", pos.ID, pos.Hits, len(pos.Lesions), pos.Flagged)
	}
	if neg.Positive || neg.Flagged || neg.FP != 0 {
		t.Errorf("%s: flagged %v with %d false positives; want a negative study", neg.ID, neg.Flagged, neg.FP)
	}
}
