package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"metsentry/boards"
	"metsentry/firmware/config"
	"metsentry/firmware/testenv"
)

// startPACS runs dcmtk storescp as the destination AE PACS, storing into a
// folder pacs under tmp, until ctx ends or the test does; out, when not
// nil, receives its output. It returns the folder and the port.
func startPACS(t *testing.T, ctx context.Context, storescp, tmp string, out io.Writer) (string, int) {
	t.Helper()
	dir := filepath.Join(tmp, "pacs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	scp := exec.CommandContext(ctx, storescp, "-aet", "PACS", "-od", dir, fmt.Sprint(port))
	if out != nil {
		scp.Stdout, scp.Stderr = out, out
	}
	if err := scp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { scp.Process.Kill(); scp.Wait() })
	// A test may echo it at once (the console's "echo pacs"): wait until
	// storescp listens.
	testenv.WaitListening(t, port, 30*time.Second)
	return dir, port
}

// testSite is the site the daemon's end-to-end tests run: the AE
// METSENTRY on port, callingAE allowed from loopback, the destinations
// given as YAML list items, and a quiet period (5 min) no test reaches, so
// the release and the slice positions decide. extra is appended as it is.
func testSite(t *testing.T, port int, callingAE, destinations, extra string) *config.Site {
	t.Helper()
	site, err := config.ParseSite("site.yaml", []byte(fmt.Sprintf(`ae_title: METSENTRY
port: %d
bind: 127.0.0.1
allowed_peers:
  - {ae_title: %s, address: 127.0.0.1}
destinations:
%s
completeness:
  quiet_period: 5m
retention:
  min_free_mb: 64
%s`, port, callingAE, destinations, extra)))
	if err != nil {
		t.Fatal(err)
	}
	return site
}

// pacsDestination is testSite's destination list for one PACS on port
// receiving the given result kinds.
func pacsDestination(port int, send string) string {
	return fmt.Sprintf("  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: %d, send: [%s]}", port, send)
}

// simBoard is the simulator board with its data folder in dataDir.
func simBoard(t *testing.T, dataDir string) *config.Board {
	t.Helper()
	data, file, _ := boards.File("sim")
	board, err := config.ParseBoard(file, data)
	if err != nil {
		t.Fatal(err)
	}
	board.Storage.DataDir = dataDir
	return board
}
