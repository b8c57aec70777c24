//go:build !race

// The daemon opens and warms up the shipped model and the self-test runs it
// on the phantom: seconds here, minutes under the race detector, so build.sh
// runs this file without -race (as selftest_test.go).

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"metsentry/firmware/bundle/bundletest"
	"metsentry/firmware/control"
	"metsentry/firmware/testenv"
)

// lineWatch is the daemon's stderr: it keeps the text and closes ready when
// a line holds want.
type lineWatch struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  string
	ready chan struct{}
	once  sync.Once
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

func (w *lineWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// startCtlDaemon runs metsentryd in process on the sim board (data in a temp
// folder) with the given models, until the test ends; it returns the
// control socket's path once the socket listens.
func startCtlDaemon(t *testing.T, models ...string) string {
	t.Helper()
	b, err := os.ReadFile(simBoard(t))
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	b = bytes.Replace(b, []byte("data_dir: /var/lib/metsentry-sim"), []byte("data_dir: "+data), 1)
	if !bytes.Contains(b, []byte(data)) {
		t.Fatal("boards/sim.yaml changed: cannot point its data folder at the test's")
	}
	board := filepath.Join(t.TempDir(), "board.yaml")
	site := filepath.Join(t.TempDir(), "site.yaml")
	os.WriteFile(board, b, 0o600)
	os.WriteFile(site, fmt.Appendf(nil, "ae_title: METSENTRY\nport: %d\nbind: 127.0.0.1\nstatus: {listen: \"\"}\n", testenv.FreePort(t)), 0o600)
	args := []string{"--board", board, "--site", site, "--trust", filepath.Join(testenv.RepoRoot(t), "models", "trust")}
	for _, m := range models {
		args = append(args, "--model", m)
	}
	stderr := &lineWatch{want: "control socket listening", ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &bytes.Buffer{}, stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("metsentryd exit %d:\n%s", code, stderr.String())
		}
	})
	select {
	case <-stderr.ready:
	case code := <-done:
		done <- code
		t.Fatalf("metsentryd exit %d before its control socket listened:\n%s", code, stderr.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("no control socket after 3 minutes:\n%s", stderr.String())
	}
	return filepath.Join(data, "run", "control.sock")
}

// metctl selftest (the control socket's selftest) passes on the shipped
// model as installed, and fails, naming the file, once the model file on
// disk is corrupted under the running daemon.
func TestControlSelftest(t *testing.T) {
	models := shippedCopy(t, "")
	socket := startCtlDaemon(t, filepath.Join(models, "metnet-fp32.manifest.json"))
	for _, tc := range []struct {
		name    string
		corrupt bool
		pass    bool
		says    []string
	}{
		{"fresh install", false, true, []string{shippedModel(t, "fp32"), "PASS"}},
		{"model file corrupted", true, false, []string{"FAIL: the model could not be opened", "metnet-fp32.onnx hashes to"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.corrupt {
				p := filepath.Join(models, "metnet-fp32.onnx")
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)/2] ^= 0x10
				os.WriteFile(p, b, 0o644)
			}
			var r control.Selftest
			if err := control.Call(t.Context(), socket, control.Request{Cmd: control.CmdSelftest}, nil, &r); err != nil {
				t.Fatal(err)
			}
			if r.Passed != tc.pass {
				t.Errorf("passed %v; want %v:\n%s", r.Passed, tc.pass, r.Report)
			}
			for _, w := range tc.says {
				if !strings.Contains(r.Report, w) {
					t.Errorf("report does not say %q:\n%s", w, r.Report)
				}
			}
		})
	}
}

// metctl model install refuses a bundle signed by a key the box does not
// trust before touching a slot (firmware/bundle and firmware/update test
// the other refusals and the rollback); a missing file is an error that
// names it.
func TestControlInstallRefused(t *testing.T) {
	socket := startCtlDaemon(t)
	stranger := bundletest.NewVendor(t, "stranger")
	untrusted := stranger.Build(t, "9.9.9", []byte("#!/bin/sh\nexit 0\n"), stranger.Model(t))
	for _, tc := range []struct {
		name, path string
		says       []string
	}{
		{"untrusted key", untrusted, []string{"bundle", "not trusted"}},
		{"missing file", filepath.Join(t.TempDir(), "nope.bundle"), []string{"nope.bundle"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := control.Call(t.Context(), socket, control.Request{Cmd: control.CmdModelInstall, Args: []string{tc.path}}, nil, nil)
			if err == nil {
				t.Fatal("installed; want refused")
			}
			for _, w := range tc.says {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
