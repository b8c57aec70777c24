//go:build !race

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metsentry/firmware/bundle"
	"metsentry/firmware/bundle/bundletest"
	"metsentry/firmware/testenv"
	"metsentry/firmware/update"
	"metsentry/runtime/trust"
)

// TestUpdateRollsBackOnRealSelfTest installs two validly signed bundles of
// the real metsentryd into A/B slots, each tested by its own binary's
// --selftest on the shipped fp32 network: one with the shipped model, which
// passes, and one whose model (the same network, its manifest re-signed with
// min_component_mm3 raised past any lesion) cannot find the phantom's
// lesions, which fails and rolls back.
func TestUpdateRollsBackOnRealSelfTest(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds metsentryd and runs the model twice")
	}
	root := testenv.RepoRoot(t)
	board := simBoard(t)
	bin := filepath.Join(t.TempDir(), "metsentryd")
	build := exec.Command(testenv.Program(t, "go"), "build", "-o", bin, "./firmware/cmd/metsentryd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build metsentryd: %v\n%s", err, out)
	}
	// One trust store on the box: the shipped models' key and the vendor's
	// update key.
	v := bundletest.NewVendor(t, "updates")
	copyShippedKeys(t, v.TrustDir)
	store, err := trust.LoadStore(v.TrustDir)
	if err != nil {
		t.Fatal(err)
	}
	v.Store = store

	good := shippedCopy(t, "")
	blind := shippedCopy(t, "")
	mp := filepath.Join(blind, "metnet-fp32.manifest.json")
	mb, err := os.ReadFile(mp)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(mb), `"min_component_mm3": 1,`, `"min_component_mm3": 1000000,`, 1)
	if changed == string(mb) {
		t.Fatal("models/metnet/metnet-fp32.manifest.json changed: cannot raise its min_component_mm3")
	}
	if err := os.WriteFile(mp, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := trust.Sign(mp, v.Key); err != nil {
		t.Fatal(err)
	}
	fw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	slots := &update.Slots{
		Root: filepath.Join(t.TempDir(), "slots"), Store: v.Store,
		SelfTest: update.ExecSelfTest(update.DaemonArgs(board, v.TrustDir), 5*time.Minute),
	}
	ctx := context.Background()
	res, err := slots.Install(ctx, v.Build(t, "1.0.0", fw, filepath.Join(good, "metnet-fp32.manifest.json")))
	if err != nil {
		t.Fatalf("the shipped model's bundle: %v", err)
	}
	if res.Slot != update.SlotA {
		t.Fatalf("installed into %s, want a", res.Slot)
	}
	_, err = slots.Install(ctx, v.Build(t, "1.0.1", fw, mp))
	if !errors.Is(err, update.ErrRolledBack) {
		t.Fatalf("the blind model's bundle: %v, want ErrRolledBack", err)
	}
	for _, w := range []string{"1.0.1 in slot b failed its self-test, back on 1.0.0 in slot a", "the right frontal lesion (10 mm, solid) was not found"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q: %v", w, err)
		}
	}
	st, err := slots.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Current == nil || st.Current.Name != update.SlotA || st.Current.Version() != "1.0.0" {
		t.Fatalf("current %+v, want slot a with 1.0.0", st.Current)
	}
	if fb, err := os.ReadFile(filepath.Join(slots.Root, "b", update.FailedFile)); err != nil || !strings.Contains(string(fb), "was not found") {
		t.Fatalf("slot b FAILED = %q, %v", fb, err)
	}
	// The slot's binary is the one built, and the bundle's manifest is kept.
	if got, err := os.ReadFile(filepath.Join(slots.Root, "a", filepath.FromSlash(bundle.FirmwarePath))); err != nil || len(got) != len(fw) {
		t.Fatalf("slot a's firmware: %d bytes, %v", len(got), err)
	}
}
