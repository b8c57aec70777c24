//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"metsentry/firmware/panel/console"
	"metsentry/tools/panelsim/sim"
)

// TestConsoleOnTheSimBoard: metsentryd on the sim board serves the service
// console on the board's serial.console port, the cable tools/panelsim
// -console makes, with its own facts: the board, the runtime it started
// (no model given), the site's AE title, the sim board's lack of thermal
// zones, and a reboot refused when systemd does not run it.
func TestConsoleOnTheSimBoard(t *testing.T) {
	tmp := t.TempDir()
	dev, term := filepath.Join(tmp, "console"), filepath.Join(tmp, "console-term")
	bridge, err := sim.NewBridge(dev, term)
	if err != nil {
		t.Fatal(err)
	}
	defer bridge.Close()
	box := newSimBox(t, ortLibrary(t), "", `ae_title: METSENTRY
port: %d
bind: 127.0.0.1
allowed_peers:
  - {ae_title: STORESCU, address: 127.0.0.1}
destinations:
  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242, send: [sr]}
retention:
  min_free_mb: 64
`)
	board, err := os.ReadFile(box.board)
	if err != nil {
		t.Fatal(err)
	}
	const simConsole = "console: {device: /run/metsentry-sim/console,"
	if !bytes.Contains(board, []byte(simConsole)) {
		t.Fatalf("boards/sim.yaml changed: no %q to replace", simConsole)
	}
	board = bytes.Replace(board, []byte(simConsole), []byte("console: {device: "+dev+","), 1)
	if err := os.WriteFile(box.board, board, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(term, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := box.start(t)
	d.waitListening(t, box.port)

	var out []byte
	until := func(from int, want string) int {
		t.Helper()
		buf := make([]byte, 4096)
		deadline := time.Now().Add(20 * time.Second)
		for {
			if i := bytes.Index(out[from:], []byte(want)); i >= 0 {
				return from + i + len(want)
			}
			_ = f.SetReadDeadline(deadline)
			n, err := f.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				t.Fatalf("console: waiting for %q: %v; got:\n%s\ndaemon log:\n%s", want, err, out[from:], d.logTail())
			}
		}
	}
	run := func(cmd string) string {
		t.Helper()
		from := len(out)
		if _, err := f.Write([]byte(cmd + "\r")); err != nil {
			t.Fatal(err)
		}
		start := until(from, cmd+"\r\n")
		end := until(start, console.Prompt)
		return strings.ReplaceAll(string(out[start:end-len(console.Prompt)]), "\r\n", "\n")
	}
	until(0, console.Prompt) // the banner
	for _, c := range []struct{ cmd, want string }{
		{"version", "board:    sim"},
		{"version", "model:    none"},
		{"version", "ONNX Runtime 1.24.1"},
		{"ae", "local: METSENTRY on port " + strconv.Itoa(box.port)},
		{"status", "state:      "},
		{"temp", "no thermal zones on this board"},
		{"reboot confirm", "error: reboot: refused: metsentryd is not run by systemd"},
	} {
		if c.cmd == "reboot confirm" && os.Getenv("NOTIFY_SOCKET") != "" {
			continue // the daemon inherits it, and would restart
		}
		if got := run(c.cmd); !strings.Contains(got, c.want) {
			t.Errorf("%s: no %q in:\n%s", c.cmd, c.want, got)
		}
	}
	d.term(t)
}
