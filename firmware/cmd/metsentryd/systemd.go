package main

// How metsentryd runs under systemd (the unit is tools/mkdeb/debian/metsentry.service):
//
//   - Type=notify: READY=1 is sent once the DICOM SCP accepts associations,
//     so `systemctl start` returns when the box can really receive a study.
//   - WatchdogSec: WATCHDOG=1 is sent every half WatchdogSec while the SCP is
//     still listening; when it stops, the pings stop and systemd restarts the
//     service (Restart=on-failure covers the watchdog kill).
//   - Go's memory limit comes from the board file.
//
// Outside systemd (NOTIFY_SOCKET unset) nothing is sent and nothing polls.

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"metsentry/firmware/config"
)

// readyPoll is how often start-up checks whether the SCP listens yet.
const readyPoll = 100 * time.Millisecond

// setMemoryLimit sets Go's soft memory limit from the board unless GOMEMLIMIT
// is set in the environment (the Go runtime has then applied it already). The
// board's limits.memory_mb bounds the whole daemon; ONNX Runtime's memory
// (inference.memory_budget_mb, checked by the board file to fit inside it) is
// C memory the Go collector neither sees nor frees, so Go gets the rest. It
// returns the limit in bytes, 0 when none is set.
func setMemoryLimit(b *config.Board, log *slog.Logger) int64 {
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok && v != "" {
		log.Info("Go memory limit from the environment", "GOMEMLIMIT", v)
		return debug.SetMemoryLimit(-1)
	}
	limit := goMemoryLimit(b)
	if limit == 0 {
		log.Info("no Go memory limit: the board sets no limits.memory_mb")
		return 0
	}
	debug.SetMemoryLimit(limit)
	log.Info("Go memory limit from the board", "limit_mb", limit>>20,
		"limits.memory_mb", b.Limits.MemoryMB, "inference.memory_budget_mb", b.Inference.MemoryBudgetMB)
	return limit
}

// minGoMemoryMB is the least the Go heap is given when the inference budget
// takes (almost) all of limits.memory_mb: a lower limit would make the
// collector run without pause.
const minGoMemoryMB = 256

// goMemoryLimit is limits.memory_mb less the inference budget, in bytes; 0
// when the board sets no limit.
func goMemoryLimit(b *config.Board) int64 {
	if b.Limits.MemoryMB <= 0 {
		return 0
	}
	mb := max(b.Limits.MemoryMB-b.Inference.MemoryBudgetMB, minGoMemoryMB)
	return int64(mb) << 20
}

// notifySystemd tells systemd when the daemon is ready and keeps its watchdog
// fed, in a goroutine that ends with ctx or when the returned function is
// called (after daemon.Run returns, error or not); that function sends
// STOPPING=1 and waits for the goroutine. When the process was not started by systemd with
// Type=notify it does nothing.
//
// firmware/daemon has no "services are up" hook, so readiness is observed
// from outside it: the daemon is ready when this process holds a TCP socket
// listening on the site's port, read from /proc/self/net/tcp{,6} (no test
// connection, which the SCP would log as a refused peer). The same check
// gates each watchdog ping, so a daemon whose SCP has died is restarted.
func notifySystemd(ctx context.Context, site *config.Site, log *slog.Logger, faults *faultBoard) (wait func()) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return func() {}
	}
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog settings unreadable; no watchdog pings", "err", err)
		interval = 0
	}
	poll := time.NewTicker(readyPoll)
	n := &notifier{
		send:      func(state string) error { _, err := sd.SdNotify(false, state); return err },
		listening: func() (bool, error) { return listeningOn(site.Port) },
		poll:      poll.C,
		status:    fmt.Sprintf("receiving DICOM on port %d as %s", site.Port, site.AETitle),
		log:       log,
	}
	if faults != nil {
		n.faults, n.changed = faults.Faults, faults.changed
	}
	var wd *time.Ticker
	if interval > 0 {
		wd = time.NewTicker(interval / 2)
		n.watchdog = wd.C
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.run(ctx)
	}()
	return func() {
		cancel()
		<-done
		poll.Stop()
		if wd != nil {
			wd.Stop()
		}
	}
}

// notifier is the sd_notify loop, with its clock and its checks injected.
type notifier struct {
	send      func(state string) error
	listening func() (bool, error)
	poll      <-chan time.Time // readiness checks until READY=1
	watchdog  <-chan time.Time // nil: the unit has no WatchdogSec
	status    string           // STATUS= sent with READY=1
	log       *slog.Logger
	// faults, when set, are the active faults ("" when none), appended to
	// status; changed says when they change, and STATUS= is sent again.
	faults  func() string
	changed <-chan struct{}
}

// statusLine is status with the active faults.
func (n *notifier) statusLine() string {
	if n.faults != nil {
		if f := n.faults(); f != "" {
			return n.status + "; " + f
		}
	}
	return n.status
}

// run waits for the SCP, sends READY=1, then feeds the watchdog until ctx
// ends, and sends STOPPING=1.
func (n *notifier) run(ctx context.Context) {
	defer func() {
		if err := n.send("STOPPING=1"); err != nil {
			n.log.Warn("sd_notify STOPPING=1 failed", "err", err)
		}
	}()
	for ready := false; !ready; {
		select {
		case <-ctx.Done():
			return
		case <-n.poll:
			ok, err := n.listening()
			if err != nil {
				n.log.Warn("cannot tell whether the DICOM port listens; READY=1 not sent yet", "err", err)
			}
			ready = ok
		}
	}
	if err := n.send("READY=1\nSTATUS=" + n.statusLine()); err != nil {
		n.log.Warn("sd_notify READY=1 failed", "err", err)
	} else {
		n.log.Info("told systemd the daemon is ready")
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.changed:
			if err := n.send("STATUS=" + n.statusLine()); err != nil {
				n.log.Warn("sd_notify STATUS= failed", "err", err)
			}
		case <-n.watchdog:
			ok, err := n.listening()
			if !ok {
				n.log.Error("DICOM port no longer listening: watchdog ping withheld, systemd will restart the service", "err", err)
				continue
			}
			if err := n.send("WATCHDOG=1"); err != nil {
				n.log.Warn("sd_notify WATCHDOG=1 failed", "err", err)
			}
		}
	}
}

// procRoot is where listeningOn reads the process's sockets; tests point it
// at a fixture.
var procRoot = "/proc/self"

// tcpListen is the LISTEN state in /proc/net/tcp.
const tcpListen = "0A"

// listeningOn reports whether this process holds a TCP socket (IPv4 or IPv6)
// listening on port.
func listeningOn(port int) (bool, error) {
	inodes, err := socketInodes()
	if err != nil {
		return false, err
	}
	for _, f := range []string{"net/tcp", "net/tcp6"} {
		ok, err := listenerIn(filepath.Join(procRoot, f), port, inodes)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// socketInodes returns the inodes of the sockets among this process's open
// files, so a listener of another process on the same port does not count.
func socketInodes() (map[string]bool, error) {
	dir := filepath.Join(procRoot, "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("metsentryd: open files: %w", err)
	}
	inodes := map[string]bool{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed since ReadDir
		}
		if s, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(s, "]")] = true
		}
	}
	return inodes, nil
}

// listenerIn scans one /proc/net/tcp-format table for a listening socket on
// port whose inode is in inodes. A missing table (no IPv6) is not an error.
func listenerIn(path string, port int, inodes map[string]bool) (bool, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("metsentryd: sockets: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[3] != tcpListen || !inodes[fs[9]] {
			continue
		}
		_, hexPort, ok := strings.Cut(fs[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("metsentryd: sockets: %s: %w", path, err)
	}
	return false, nil
}
