package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"metsentry/firmware/bundle/bundletest"
	"metsentry/firmware/config"
	"metsentry/firmware/update"
)

// TestStartSlot starts the daemon's start-up step over install roots in
// each state metctl model install (or a power cut during it) can leave:
// the packaged binary runs on with its own models, or hands over to the
// current slot's binary with the slot's models, after Recover undid an
// interrupted install.
func TestStartSlot(t *testing.T) {
	v := bundletest.NewVendor(t, "updates")
	model := v.Model(t)
	pass := func(context.Context, update.Slot) error { return nil }
	install := func(t *testing.T, root string, versions ...string) *update.Slots {
		s := &update.Slots{Root: root, Store: v.Store, SelfTest: pass, Log: slog.New(slog.DiscardHandler)}
		for _, ver := range versions {
			if _, err := s.Install(context.Background(), v.Build(t, ver, []byte("#!/bin/sh\necho "+ver+"\n"), model)); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		env   string // METSENTRY_SLOT
		// wantSlot is the slot whose binary runs ("" for the packaged one).
		wantSlot, wantVersion string
		wantLog               []string
	}{
		{name: "no slots folder", setup: func(*testing.T, string) {}},
		{name: "empty slots folder", setup: func(t *testing.T, root string) {
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
		}, wantLog: []string{"no slot is current"}},
		{name: "one install", setup: func(t *testing.T, root string) { install(t, root, "1.0.0") },
			wantSlot: "a", wantVersion: "1.0.0", wantLog: []string{"running the current slot", "handing over"}},
		{name: "two installs", setup: func(t *testing.T, root string) { install(t, root, "1.0.0", "1.1.0") },
			wantSlot: "b", wantVersion: "1.1.0", wantLog: []string{"slot=b", "version=1.1.0"}},
		{name: "power cut during the second install's self-test", setup: func(t *testing.T, root string) {
			install(t, root, "1.0.0", "1.1.0")
			// As Install leaves it between the switch and the self-test's end.
			if err := os.WriteFile(filepath.Join(root, update.TrialFile), []byte("b\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantSlot: "a", wantVersion: "1.0.0", wantLog: []string{"interrupted before its self-test passed; rolled back", "rolled_back=true"}},
		{name: "power cut during a first install's self-test", setup: func(t *testing.T, root string) {
			install(t, root, "1.0.0")
			if err := os.WriteFile(filepath.Join(root, update.TrialFile), []byte("a\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantLog: []string{"interrupted before its self-test passed", "no slot is current"}},
		{name: "already started from a slot", env: "a", setup: func(t *testing.T, root string) { install(t, root, "1.0.0") },
			wantLog: []string{"started from a slot"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(slotEnv, tc.env)
			board := &config.Board{Storage: config.Storage{DataDir: t.TempDir()}}
			root := slotsRoot(board)
			tc.setup(t, root)
			fs := flag.NewFlagSet("metsentryd", flag.ContinueOnError)
			fs.String("board", "", "")
			fs.String("site", "", "")
			var models stringList
			fs.Var(&models, "model", "")
			if err := fs.Parse([]string{"--board", "sim", "--site", "/etc/metsentry/site.yaml", "--model", "packaged.json"}); err != nil {
				t.Fatal(err)
			}
			var gotBin string
			var gotArgs, gotEnv []string
			saved := execve
			t.Cleanup(func() { execve = saved })
			execve = func(bin string, argv, env []string) error {
				gotBin, gotArgs, gotEnv = bin, argv, env
				return errors.New("exec refused by the test")
			}
			var logs bytes.Buffer
			got := startSlot(context.Background(), board, fs, models, slog.New(slog.NewTextHandler(&logs, nil)))
			// Whatever happens to the exec, the packaged release runs on
			// with its own models when it fails.
			if diff := cmp.Diff([]string{"packaged.json"}, got); diff != "" {
				t.Errorf("models (-want +got):\n%s", diff)
			}
			for _, w := range tc.wantLog {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log does not say %q:\n%s", w, logs.String())
				}
			}
			if tc.wantSlot == "" {
				if gotBin != "" {
					t.Fatalf("handed over to %s, want the packaged binary to run on", gotBin)
				}
				return
			}
			slotDir := filepath.Join(root, tc.wantSlot)
			if want := filepath.Join(slotDir, "bin", "metsentryd"); gotBin != want {
				t.Fatalf("handed over to %q, want %q", gotBin, want)
			}
			if b, err := os.ReadFile(gotBin); err != nil || !strings.Contains(string(b), tc.wantVersion) {
				t.Fatalf("the slot's binary is %q (%v), want release %s's", b, err, tc.wantVersion)
			}
			wantArgs := []string{gotBin, "--board=sim", "--site=/etc/metsentry/site.yaml", "--model=" + filepath.Join(slotDir, "models", "unet_tiny-fp32.manifest.json")}
			if diff := cmp.Diff(wantArgs, gotArgs); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
			if !slices.Contains(gotEnv, slotEnv+"="+tc.wantSlot) {
				t.Errorf("environment lacks %s=%s", slotEnv, tc.wantSlot)
			}
			if !strings.Contains(logs.String(), "did not start: running the packaged release") {
				t.Errorf("a failed exec is not logged:\n%s", logs.String())
			}
		})
	}
}

// TestPlanHandoverSelf: a daemon that is already the current slot's binary
// (reached through the current link) runs on, with the slot's models.
func TestPlanHandoverSelf(t *testing.T) {
	v := bundletest.NewVendor(t, "updates")
	root := filepath.Join(t.TempDir(), "slots")
	s := &update.Slots{Root: root, Store: v.Store, Log: slog.New(slog.DiscardHandler),
		SelfTest: func(context.Context, update.Slot) error { return nil }}
	if _, err := s.Install(context.Background(), v.Build(t, "2.0.0", []byte("firmware"), v.Model(t))); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status()
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("metsentryd", flag.ContinueOnError)
	for _, tc := range []struct {
		name, self, wantBin string
	}{
		{"through the current link", filepath.Join(root, update.CurrentLink, "bin", "metsentryd"), ""},
		{"the packaged binary", "/usr/bin/metsentryd", filepath.Join(root, "a", "bin", "metsentryd")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := planHandover(st.Current, tc.self, fs, []string{"packaged.json"})
			if h.bin != tc.wantBin {
				t.Errorf("bin %q, want %q", h.bin, tc.wantBin)
			}
			if diff := cmp.Diff([]string{filepath.Join(root, "a", "models", "unet_tiny-fp32.manifest.json")}, h.models); diff != "" {
				t.Errorf("models (-want +got):\n%s", diff)
			}
		})
	}
}
