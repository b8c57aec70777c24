package update_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metsentry/firmware/bundle"
	"metsentry/firmware/bundle/bundletest"
	"metsentry/firmware/update"
)

// Firmware stand-ins: shell scripts that answer --selftest as the daemon
// does, with exit status 0 or 1 and its verdict, and log their arguments.
var (
	passing = []byte("#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/../args\"\necho 'self-test PASS'\nexit 0\n")
	failing = []byte("#!/bin/sh\necho 'self-test on selftest-phantom/1' >&2\necho 'FAIL: the right frontal lesion (10 mm, solid) was not found' >&2\nexit 1\n")
)

type fixture struct {
	v     *bundletest.Vendor
	model string
	slots *update.Slots
	steps []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{v: bundletest.NewVendor(t, "vendor")}
	f.model = f.v.Model(t)
	f.slots = &update.Slots{
		Root:     filepath.Join(t.TempDir(), "slots"),
		Store:    f.v.Store,
		SelfTest: update.ExecSelfTest(update.DaemonArgs("sim", f.v.TrustDir), time.Minute),
		Progress: func(s string) { f.steps = append(f.steps, s) },
	}
	return f
}

func (f *fixture) bundle(t *testing.T, version string, fw []byte) string {
	t.Helper()
	return f.v.Build(t, version, fw, f.model)
}

// state is "current/previous" with their versions, e.g. "b:2.0.0/a:1.0.0".
func (f *fixture) state(t *testing.T) string {
	t.Helper()
	st, err := f.slots.Status()
	if err != nil {
		t.Fatal(err)
	}
	s := func(sl *update.Slot) string {
		if sl == nil {
			return "-"
		}
		return sl.Name + ":" + sl.Version()
	}
	return s(st.Current) + "/" + s(st.Previous)
}

func TestInstallAndRollBack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	steps := []struct {
		name    string
		version string
		fw      []byte
		want    error
		says    []string
		state   string
	}{
		{"first install", "1.0.0", passing, nil, nil, "a:1.0.0/-"},
		{"second install goes to the other slot", "2.0.0", passing, nil, nil, "b:2.0.0/a:1.0.0"},
		{"self-test fails: back on 2.0.0", "3.0.0", failing, update.ErrRolledBack,
			[]string{"3.0.0 in slot a failed its self-test, back on 2.0.0 in slot b", "FAIL: the right frontal lesion (10 mm, solid) was not found", "exit status 1"}, "b:2.0.0/-"},
		{"the next install replaces the failed slot", "4.0.0", passing, nil, nil, "a:4.0.0/b:2.0.0"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			f.steps = nil
			res, err := f.slots.Install(ctx, f.bundle(t, st.version, st.fw))
			if st.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if res.Version != st.version || res.KeyID != f.v.KeyID {
					t.Fatalf("result %+v", res)
				}
				if got := strings.Join(f.steps, ","); got != "verify,unpack,switch,self-test" {
					t.Fatalf("steps %s", got)
				}
			} else {
				if !errors.Is(err, st.want) {
					t.Fatalf("Install = %v, want %v", err, st.want)
				}
				for _, w := range st.says {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not say %q: %v", w, err)
					}
				}
				if got := strings.Join(f.steps, ","); got != "verify,unpack,switch,self-test,roll back" {
					t.Fatalf("steps %s", got)
				}
			}
			if got := f.state(t); got != st.state {
				t.Fatalf("state %s, want %s", got, st.state)
			}
			if _, err := os.Stat(filepath.Join(f.slots.Root, update.TrialFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("trial mark left behind")
			}
		})
	}
	// The self-test ran the new slot's own binary with the daemon's flags.
	args, err := os.ReadFile(filepath.Join(f.slots.Root, "a", "bin", "..", "args"))
	if err != nil {
		t.Fatal(err)
	}
	want := "--selftest --board sim --trust " + f.v.TrustDir + " --model " + filepath.Join(f.slots.Root, "a", "models", "unet_tiny-fp32.manifest.json")
	if strings.TrimSpace(string(args)) != want {
		t.Fatalf("self-test ran with %q, want %q", args, want)
	}
	// A field engineer's rollback swaps the two.
	res, err := f.slots.Rollback(ctx)
	if err != nil || res.Version != "2.0.0" {
		t.Fatalf("Rollback = %+v, %v", res, err)
	}
	if got := f.state(t); got != "b:2.0.0/a:4.0.0" {
		t.Fatalf("after rollback %s", got)
	}
}

func TestFirstInstallFails(t *testing.T) {
	f := newFixture(t)
	_, err := f.slots.Install(context.Background(), f.bundle(t, "1.0.0", failing))
	if !errors.Is(err, update.ErrSelfTest) || !strings.Contains(err.Error(), "no earlier slot to go back to") {
		t.Fatalf("Install = %v, want ErrSelfTest", err)
	}
	if got := f.state(t); got != "-/-" {
		t.Fatalf("state %s, want nothing current", got)
	}
	st, _ := f.slots.Status()
	if st.Trial != "" {
		t.Fatalf("trial %q left", st.Trial)
	}
	failed, err := os.ReadFile(filepath.Join(f.slots.Root, "a", update.FailedFile))
	if err != nil || !strings.Contains(string(failed), "right frontal lesion") {
		t.Fatalf("slot a FAILED = %q, %v", failed, err)
	}
}

func TestInstallRefusesBadBundles(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.slots.Install(ctx, f.bundle(t, "1.0.0", passing)); err != nil {
		t.Fatal(err)
	}
	other := bundletest.NewVendor(t, "other")
	altered := f.bundle(t, "2.0.0", passing)
	b, err := os.ReadFile(altered)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-100] ^= 0x20
	if err := os.WriteFile(altered, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
		says string
	}{
		{"signed by an untrusted key", other.Build(t, "2.0.0", passing, other.Model(t)), bundle.ErrUntrusted, "key " + other.KeyID},
		{"one byte changed", altered, bundle.ErrAltered, "the payload"},
		{"not a bundle", f.model, bundle.ErrNotBundle, "does not start with the line"},
		{"missing", filepath.Join(t.TempDir(), "none.bundle"), os.ErrNotExist, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.steps = nil
			_, err := f.slots.Install(ctx, tc.path)
			if !errors.Is(err, update.ErrRefused) || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Install = %v, want ErrRefused and %v saying %q", err, tc.want, tc.says)
			}
			if got := f.state(t); got != "a:1.0.0/-" {
				t.Fatalf("a refused bundle changed the slots: %s", got)
			}
			if _, err := os.Stat(filepath.Join(f.slots.Root, "b")); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("a refused bundle wrote slot b")
			}
			if strings.Join(f.steps, ",") != "verify" {
				t.Fatalf("steps after a refusal: %v", f.steps)
			}
		})
	}
}

func TestRecoverAfterPowerCut(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if _, err := f.slots.Install(ctx, f.bundle(t, v, passing)); err != nil {
			t.Fatal(err)
		}
	}
	// The power went while 3.0.0's self-test ran: the switch was made and
	// the trial mark is still there.
	cut := *f.slots
	cut.SelfTest = func(ctx context.Context, s update.Slot) error {
		rolled, err := f.slots.Recover(ctx) // what the next start does
		if err != nil || !rolled {
			t.Errorf("Recover during the trial = %v, %v; want a rollback", rolled, err)
		}
		return nil
	}
	if _, err := cut.Install(ctx, f.bundle(t, "3.0.0", passing)); err != nil {
		t.Fatal(err)
	}
	if got := f.state(t); got != "b:2.0.0/-" {
		t.Fatalf("after recovery %s, want b:2.0.0/-", got)
	}
	st, _ := f.slots.Status()
	if st.Trial != "" {
		t.Fatalf("trial %q left", st.Trial)
	}
	if rolled, err := f.slots.Recover(ctx); rolled || err != nil {
		t.Fatalf("second Recover = %v, %v; want nothing to do", rolled, err)
	}
	// The interrupted slot is marked and never rolled back to.
	if _, err := f.slots.Rollback(ctx); !errors.Is(err, update.ErrNoPrevious) {
		t.Fatalf("Rollback = %v, want ErrNoPrevious", err)
	}
}

func TestExecSelfTestTimeout(t *testing.T) {
	f := newFixture(t)
	f.slots.SelfTest = update.ExecSelfTest(update.DaemonArgs("sim", f.v.TrustDir), time.Nanosecond)
	_, err := f.slots.Install(context.Background(), f.bundle(t, "1.0.0", passing))
	if !errors.Is(err, update.ErrSelfTest) || !strings.Contains(err.Error(), "took longer than 1ns") {
		t.Fatalf("Install = %v, want a self-test timeout", err)
	}
}

func TestInstallNeedsASelfTest(t *testing.T) {
	f := newFixture(t)
	f.slots.SelfTest = nil
	if _, err := f.slots.Install(context.Background(), f.bundle(t, "1.0.0", passing)); err == nil || !strings.Contains(err.Error(), "untested") {
		t.Fatalf("Install without a self-test = %v", err)
	}
}
