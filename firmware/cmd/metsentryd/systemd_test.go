package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/google/go-cmp/cmp"

	"metsentry/boards"
	"metsentry/firmware/config"
	"metsentry/firmware/testenv"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func builtinBoard(t *testing.T, name string) *config.Board {
	t.Helper()
	data, file, ok := boards.File(name)
	if !ok {
		t.Fatalf("no built-in board %s", name)
	}
	b, err := config.ParseBoard(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSetMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	tests := []struct {
		name      string
		board     string
		memoryMB  int // overrides limits.memory_mb when not -1
		budgetMB  int // overrides inference.memory_budget_mb when not 0
		env       string
		want      int64
		wantLimit int64 // Go's limit afterwards
	}{
		{name: "jetson-orin-nano: 6000 MB less 3000 MB for ONNX Runtime", board: "jetson-orin-nano", memoryMB: -1, want: 3000 << 20, wantLimit: 3000 << 20},
		{name: "jetson-agx-orin", board: "jetson-agx-orin", memoryMB: -1, want: 8000 << 20, wantLimit: 8000 << 20},
		{name: "x86-devkit", board: "x86-devkit", memoryMB: -1, want: 4000 << 20, wantLimit: 4000 << 20},
		{name: "budget takes all: the Go floor", board: "sim", memoryMB: 3000, budgetMB: 3000, want: minGoMemoryMB << 20, wantLimit: minGoMemoryMB << 20},
		{name: "no limit on the board", board: "sim", memoryMB: 0, want: 0, wantLimit: 12345 << 20},
		{name: "GOMEMLIMIT wins", board: "jetson-orin-nano", memoryMB: -1, env: "1GiB", want: 12345 << 20, wantLimit: 12345 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := builtinBoard(t, tc.board)
			if tc.memoryMB >= 0 {
				b.Limits.MemoryMB = tc.memoryMB
			}
			if tc.budgetMB != 0 {
				b.Inference.MemoryBudgetMB = tc.budgetMB
			}
			// The runtime read GOMEMLIMIT at start-up; here a known limit
			// stands for what it applied, and must be left alone.
			debug.SetMemoryLimit(12345 << 20)
			t.Setenv("GOMEMLIMIT", tc.env)
			if tc.env == "" {
				os.Unsetenv("GOMEMLIMIT")
			}
			if got := setMemoryLimit(b, quietLog()); got != tc.want {
				t.Errorf("setMemoryLimit = %d MiB, want %d MiB", got>>20, tc.want>>20)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
				t.Errorf("Go memory limit = %d MiB, want %d MiB", got>>20, tc.wantLimit>>20)
			}
		})
	}
}

// fakeSystemd listens where NOTIFY_SOCKET points, as systemd does.
func fakeSystemd(t *testing.T) *net.UnixConn {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	return c
}

// received reads datagrams until STOPPING=1, the notifier's last word. The
// deadline only guards against a hang: every datagram was sent before the
// notifier returned.
func received(t *testing.T, c *net.UnixConn) []string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var got []string
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, string(buf[:n]))
		if string(buf[:n]) == "STOPPING=1" {
			return got
		}
	}
}

// TestNotifierSendsReadyAndWatchdog drives the notifier's clock by hand and
// checks what a fake systemd receives on NOTIFY_SOCKET.
func TestNotifierSendsReadyAndWatchdog(t *testing.T) {
	tests := []struct {
		name   string
		polls  []bool // SCP listening at each readiness poll
		pings  []bool // SCP listening at each watchdog tick
		cancel bool   // context ended instead of the function being called
		want   []string
	}{
		{
			name:  "ready once listening, pings while listening",
			polls: []bool{false, false, true},
			pings: []bool{true, false, true},
			want:  []string{"READY=1\nSTATUS=test", "WATCHDOG=1", "WATCHDOG=1", "STOPPING=1"},
		},
		{
			name:  "never listening: never ready, no pings",
			polls: []bool{false, false},
			want:  []string{"STOPPING=1"},
		},
		{
			name:   "stopped by the context",
			polls:  []bool{true},
			pings:  []bool{true},
			cancel: true,
			want:   []string{"READY=1\nSTATUS=test", "WATCHDOG=1", "STOPPING=1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := fakeSystemd(t)
			answers := make(chan bool)
			poll, wd := make(chan time.Time), make(chan time.Time)
			n := &notifier{
				send:      func(s string) error { _, err := sd.SdNotify(false, s); return err },
				listening: func() (bool, error) { return <-answers, nil },
				poll:      poll,
				watchdog:  wd,
				status:    "test",
				log:       quietLog(),
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); n.run(ctx) }()
			// Each tick is taken only once the previous one is handled:
			// the channels are unbuffered, so no sleep is needed.
			for _, l := range tc.polls {
				poll <- time.Time{}
				answers <- l
			}
			for _, l := range tc.pings {
				wd <- time.Time{}
				answers <- l
			}
			cancel()
			<-done
			if d := cmp.Diff(tc.want, received(t, conn)); d != "" {
				t.Errorf("datagrams (-want +got):\n%s", d)
			}
		})
	}
}

// TestNotifySystemdEnvironment: without NOTIFY_SOCKET nothing is sent; with
// it and WatchdogSec=4s the daemon, once its port listens, says READY=1.
func TestNotifySystemdEnvironment(t *testing.T) {
	t.Run("not under systemd", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		wait := notifySystemd(context.Background(), &config.Site{Port: 1}, quietLog(), nil)
		wait() // returns at once: no goroutine was started
	})
	t.Run("under systemd", func(t *testing.T) {
		conn := fakeSystemd(t)
		t.Setenv("WATCHDOG_USEC", "4000000")
		t.Setenv("WATCHDOG_PID", "")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		wait := notifySystemd(context.Background(), &config.Site{Port: port, AETitle: "METSENTRY"}, quietLog(), nil)
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		want := "READY=1\nSTATUS=receiving DICOM on port " + strconv.Itoa(port) + " as METSENTRY"
		if got := string(buf[:n]); got != want {
			t.Errorf("first datagram %q, want %q", got, want)
		}
		wait()
	})
}

func TestListeningOn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	port6 := ln6.Addr().(*net.TCPAddr).Port
	// A connected (not listening) socket on a port of its own.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	connPort := conn.LocalAddr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name string
		port int
		want bool
	}{
		{"IPv4 listener", port, true},
		{"IPv6 listener", port6, true},
		{"a connected socket is not a listener", connPort, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := listeningOn(tc.port)
			if err != nil || got != tc.want {
				t.Errorf("listeningOn(%d) = %v, %v; want %v", tc.port, got, err, tc.want)
			}
		})
	}
	ln.Close()
	ln6.Close()
	for _, p := range []int{port, port6} {
		if got, err := listeningOn(p); err != nil || got {
			t.Errorf("after Close: listeningOn(%d) = %v, %v; want false", p, got, err)
		}
	}
}

// TestListenerIn reads a /proc/net/tcp table: only a LISTEN socket of this
// process on the port counts.
func TestListenerIn(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:2B68 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0068 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0
   2: 0100007F:2B69 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 100 0 0 10 0
`
	path := filepath.Join(t.TempDir(), "tcp")
	if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	ours := map[string]bool{"1001": true, "1003": true}
	for _, tc := range []struct {
		name string
		path string
		port int
		want bool
	}{
		{"ours, listening on 11112", path, 11112, true},
		{"port 104 listens, but in another process", path, 104, false},
		{"ours on 11113, but established", path, 11113, false},
		{"no such port", path, 4242, false},
		{"no table (no IPv6)", filepath.Join(t.TempDir(), "tcp6"), 11112, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := listenerIn(tc.path, tc.port, ours)
			if err != nil || got != tc.want {
				t.Errorf("listenerIn(%d) = %v, %v; want %v", tc.port, got, err, tc.want)
			}
		})
	}
}

// TestSystemdNotifyRealDaemon runs the real metsentryd as systemd would
// (NOTIFY_SOCKET, WATCHDOG_USEC): READY=1 must come only once the DICOM port
// accepts connections, then watchdog pings, and STOPPING=1 after SIGTERM.
func TestSystemdNotifyRealDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds metsentryd")
	}
	root := testenv.RepoRoot(t)
	lib := filepath.Join(root, ".cache", "ort", "1.24.1", "linux-x64", "libonnxruntime.so.1")
	if p := os.Getenv("METSENTRY_ORT_LIB"); p != "" {
		lib = p
	}
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("ONNX Runtime library %s is missing (run ./build.sh deps): %v", lib, err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "metsentryd")
	build := exec.Command(testenv.Program(t, "go"), "build", "-o", bin, "./firmware/cmd/metsentryd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build metsentryd: %v\n%s", err, out)
	}
	board, _, _ := boards.File("sim")
	b := strings.Replace(string(board), "data_dir: /var/lib/metsentry-sim", "data_dir: "+filepath.Join(tmp, "data"), 1)
	b = strings.Replace(b, "library: .cache/ort/1.24.1/linux-x64/libonnxruntime.so.1", "library: "+lib, 1)
	if !strings.Contains(b, tmp) || !strings.Contains(b, lib) {
		t.Fatal("boards/sim.yaml changed: cannot point its data_dir and library at the test's")
	}
	boardFile, siteFile := filepath.Join(tmp, "board.yaml"), filepath.Join(tmp, "site.yaml")
	port := testenv.FreePort(t)
	site := fmt.Sprintf("ae_title: METSENTRY\nport: %d\nbind: 127.0.0.1\nallowed_peers:\n  - {ae_title: SCU, address: 127.0.0.1}\n"+
		"destinations:\n  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: 104, send: [seg]}\n", port)
	for f, data := range map[string]string{boardFile: b, siteFile: site} {
		if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	conn := fakeSystemd(t)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--board", boardFile, "--site", siteFile)
	cmd.Env = append(os.Environ(), "WATCHDOG_USEC=200000", "GOMEMLIMIT=")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if err := conn.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	next := func() string {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no datagram from metsentryd: %v\n%s", err, stderr.String())
		}
		return string(buf[:n])
	}
	if got := next(); !strings.HasPrefix(got, "READY=1\n") {
		t.Fatalf("first datagram %q, want READY=1", got)
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("READY=1 sent, but the DICOM port refuses: %v", err)
	}
	c.Close()
	if got := next(); got != "WATCHDOG=1" {
		t.Fatalf("second datagram %q, want WATCHDOG=1", got)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for got := next(); got != "STOPPING=1"; got = next() {
		if got != "WATCHDOG=1" {
			t.Fatalf("datagram %q before STOPPING=1", got)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("metsentryd after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "Go memory limit from the board") || !strings.Contains(stderr.String(), "limit_mb=3000") {
		t.Errorf("no memory limit line in the log:\n%s", stderr.String())
	}
}
