package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/panel"
	"metsentry/firmware/testenv"
	"metsentry/tools/panelsim/sim"
)

// TestStartFaults starts the real daemon, its front panel simulated by
// tools/panelsim on a pty, with an inference runtime or model that cannot
// start: the ONNX Runtime library missing, of another version, built for
// another machine (linux-arm64 on this x86-64 box: a wrong install), and a
// model file corrupted after signing. Each must show its fault code on the
// panel, in the log (with the reason) and in the status it gives systemd,
// while the box still answers C-ECHO and stores what the console sends:
// every instance answered Success is in the cache after a clean stop.
func TestStartFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds metsentryd and starts it four times")
	}
	storescu := testenv.Program(t, "storescu")
	echoscu := testenv.Program(t, "echoscu")
	root := testenv.RepoRoot(t)
	lib := ortLibrary(t)
	arm := filepath.Join(filepath.Dir(filepath.Dir(lib)), "linux-arm64", filepath.Base(lib))
	if _, err := os.Stat(arm); err != nil {
		t.Fatalf("the linux-arm64 ONNX Runtime library (./build.sh deps fetches both) is missing: %v", err)
	}
	files := listFiles(t, testenv.SharedData(t, "dicom", "ge-mprage-ax-oblique"))[:6]

	corruptModel := func(t *testing.T, dir string) []string {
		src := filepath.Join(root, "models", "metnet")
		for _, f := range []string{"metnet-int8.manifest.json", "metnet-int8.manifest.json.sig", "metnet-int8.onnx"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(f, ".onnx") {
				b[len(b)/2] ^= 0xFF // one flipped byte in the weights
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return []string{"--model", filepath.Join(dir, "metnet-int8.manifest.json"), "--trust", filepath.Join(root, "models", "trust")}
	}
	// otherVersion is the library as another ONNX Runtime release would
	// report itself: its version string (the one GetVersionString returns,
	// not the ELF symbol version VERS_1.24.1) reads 1.19.0.
	otherVersion := func(dir string) string {
		b, err := os.ReadFile(lib)
		if err != nil {
			t.Fatal(err)
		}
		old := []byte("narrowing_error\x001.24.1\x00")
		if bytes.Count(b, old) != 1 {
			t.Fatalf("%s: its version string is not where this test expects it", lib)
		}
		out := filepath.Join(dir, "libonnxruntime.so.1")
		if err := os.WriteFile(out, bytes.Replace(b, old, []byte("narrowing_error\x001.19.0\x00"), 1), 0o755); err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name  string
		lib   func(dir string) string
		flags func(t *testing.T, dir string) []string
		code  uint16
		why   string // in the log's error
	}{
		{"runtime library missing", func(dir string) string { return filepath.Join(dir, "libonnxruntime.so.1") }, nil, panel.FaultRuntime, "ONNX Runtime library not found"},
		{"runtime library of another version", otherVersion, nil, panel.FaultRuntime, "is ONNX Runtime 1.19.0, expected 1.24.1"},
		{"runtime library for another machine", func(string) string { return arm }, nil, panel.FaultRuntime, "cannot initialise ONNX Runtime"},
		{"model file corrupted", func(string) string { return lib }, corruptModel, panel.FaultModel, "model file does not match its manifest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			link := filepath.Join(tmp, "panel")
			ps := sim.New(sim.Config{Link: link, Display: true})
			if _, err := ps.Plug(); err != nil {
				t.Fatal(err)
			}
			defer ps.Close()
			go ps.Run(ctx) //nolint:errcheck // ends with ctx
			box := newSimBox(t, tc.lib(tmp), link, `ae_title: METSENTRY
port: %d
bind: 127.0.0.1
allowed_peers:
  - {ae_title: STORESCU, address: 127.0.0.1}
destinations:
  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: 104, send: [seg]}
retention:
  min_free_mb: 64
`)
			var flags []string
			if tc.flags != nil {
				flags = tc.flags(t, tmp)
			}
			systemd := fakeSystemd(t)
			d := box.start(t, flags...)
			d.waitListening(t, box.port)

			shown, err := ps.WaitFor(ctx, func(s sim.Shown) bool { return s.State.Show == panel.Fault && s.State.Code == tc.code })
			if err != nil {
				t.Fatalf("panel: %v\n%s", err, tail([]byte(box.logText(t))))
			}
			t.Logf("panel shows %+v %q", shown.State, shown.Text)
			if want := fmt.Sprintf("fault=E%04X", tc.code); !strings.Contains(box.logText(t), want) {
				t.Errorf("the log has no line with %s", want)
			}
			if !strings.Contains(box.logText(t), tc.why) {
				t.Errorf("the log does not say why (%q)", tc.why)
			}
			status := waitStatus(t, systemd, func(s string) bool { return strings.Contains(s, panel.FaultText(tc.code)) })
			t.Logf("systemd status: %s", status)

			echo := exec.CommandContext(ctx, echoscu, "-aet", "STORESCU", "-aec", "METSENTRY", "127.0.0.1", itoa(box.port))
			if out, err := echo.CombinedOutput(); err != nil {
				t.Errorf("C-ECHO with the fault on: %v\n%s", err, out)
			}
			out, err := runStorescu(storescu, box.port, files, 0, nil)
			if err != nil {
				t.Fatalf("storescu with the fault on: %v\n%s", err, tail(out))
			}
			acked := map[string]bool{}
			recordAcks(out, acked)
			if len(acked) != len(files) {
				t.Errorf("%d of %d instances answered Success", len(acked), len(files))
			}
			d.term(t)

			s, err := cache.Open(box.data, cache.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			n := 0
			s.View(func(tx *cache.Tx) error { return tx.AllInstances(func(cache.Instance) error { n++; return nil }) })
			if n != len(files) {
				t.Errorf("%d instances in the cache, %d answered Success", n, len(acked))
			}
		})
	}
}

// TestCacheLocked starts the real daemon while another process (this test)
// holds the cache database. The panel and systemd's status must show
// FaultStorage and the log say why; the box answers C-ECHO, and refuses C-STORE with A700 rather than
// acknowledge what it cannot keep. Once the lock is released the fault
// clears, the daemon receives again, and everything answered Success is in
// the cache after a clean stop.
func TestCacheLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds metsentryd and waits out a lock")
	}
	storescu := testenv.Program(t, "storescu")
	echoscu := testenv.Program(t, "echoscu")
	files := listFiles(t, testenv.SharedData(t, "dicom", "ge-mprage-ax-oblique"))[:6]
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	link := filepath.Join(tmp, "panel")
	ps := sim.New(sim.Config{Link: link, Display: true})
	if _, err := ps.Plug(); err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	go ps.Run(ctx) //nolint:errcheck // ends with ctx
	box := newSimBox(t, ortLibrary(t), link, `ae_title: METSENTRY
port: %d
bind: 127.0.0.1
allowed_peers:
  - {ae_title: STORESCU, address: 127.0.0.1}
retention:
  min_free_mb: 64
`)
	holder, err := cache.Open(box.data, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	systemd := fakeSystemd(t)
	d := box.start(t)
	d.waitListening(t, box.port)
	if _, err := ps.WaitFor(ctx, func(s sim.Shown) bool { return s.State.Show == panel.Fault && s.State.Code == panel.FaultStorage }); err != nil {
		holder.Close()
		t.Fatalf("panel: %v\n%s", err, tail([]byte(box.logText(t))))
	}
	if want := fmt.Sprintf("fault=E%04X", panel.FaultStorage); !strings.Contains(box.logText(t), want) {
		t.Errorf("the log has no line with %s", want)
	}
	waitStatus(t, systemd, func(s string) bool { return strings.Contains(s, panel.FaultText(panel.FaultStorage)) })
	echo := exec.CommandContext(ctx, echoscu, "-aet", "STORESCU", "-aec", "METSENTRY", "127.0.0.1", itoa(box.port))
	if out, err := echo.CombinedOutput(); err != nil {
		t.Errorf("C-ECHO while the cache is locked: %v\n%s", err, out)
	}
	out, _ := runStorescu(storescu, box.port, files[:1], 0, nil)
	if !strings.Contains(string(out), "Refused: OutOfResources") {
		t.Errorf("C-STORE while the cache is locked: want A700 (Out of Resources), storescu said:\n%s", tail(out))
	}
	acked := map[string]bool{}
	recordAcks(out, acked)
	if len(acked) != 0 {
		t.Fatalf("%d instances answered Success while the cache was locked", len(acked))
	}

	holder.Close()
	if _, err := ps.WaitFor(ctx, func(s sim.Shown) bool { return s.State.Show != panel.Fault }); err != nil {
		t.Fatalf("panel after the lock was released: %v", err)
	}
	waitStatus(t, systemd, func(s string) bool { return !strings.Contains(s, "FAULT") })
	for !strings.Contains(box.logText(t), "DICOM SCP listening") {
		if ctx.Err() != nil {
			t.Fatalf("the daemon did not receive again after the lock was released\n%s", tail([]byte(box.logText(t))))
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err = runStorescu(storescu, box.port, files, 0, nil)
	if err != nil {
		t.Fatalf("storescu after the lock was released: %v\n%s", err, tail(out))
	}
	recordAcks(out, acked)
	if len(acked) != len(files) {
		t.Errorf("%d of %d instances answered Success after the lock was released", len(acked), len(files))
	}
	d.term(t)
	s, err := cache.Open(box.data, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	s.View(func(tx *cache.Tx) error { return tx.AllInstances(func(cache.Instance) error { n++; return nil }) })
	if n != len(files) {
		t.Errorf("%d instances in the cache, %d answered Success", n, len(acked))
	}
}
