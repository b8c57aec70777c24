package update

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"metsentry/firmware/bundle"
	"metsentry/runtime/trust"
)

// Names inside the install root.
const (
	SlotA = "a"
	SlotB = "b"
	// CurrentLink names the slot the appliance runs (a symlink, "a" or "b").
	CurrentLink = "current"
	// PreviousLink names the slot to roll back to.
	PreviousLink = "previous"
	// TrialFile holds the name of a slot switched to and not yet through its
	// self-test; Recover rolls back from it after a power cut.
	TrialFile = "trial"
	// FailedFile, inside a slot, says why its self-test failed.
	FailedFile = "FAILED"
)

// Errors Install, Rollback and Recover return (wrapped, with the reason).
var (
	// ErrRefused: the bundle did not verify (untrusted key, bad signature,
	// a changed byte, a malformed file); nothing was installed.
	ErrRefused = errors.New("update: bundle refused")
	// ErrRolledBack: the bundle was installed, failed its self-test, and the
	// appliance is back on the slot it ran before.
	ErrRolledBack = errors.New("update: self-test failed, rolled back")
	// ErrSelfTest: the bundle failed its self-test and there was no earlier
	// slot to go back to (a first install).
	ErrSelfTest = errors.New("update: self-test failed")
	// ErrNoPrevious: Rollback found no usable previous slot.
	ErrNoPrevious = errors.New("update: no previous slot to roll back to")
)

// Slot is one installed slot.
type Slot struct {
	// Name is "a" or "b".
	Name string `json:"name"`
	// Dir is the slot's folder.
	Dir string `json:"dir"`
	// Manifest is the slot's bundle.json (nil when it cannot be read).
	Manifest *bundle.Manifest `json:"manifest,omitempty"`
	// Failed is why the slot's self-test failed, empty if it did not.
	Failed string `json:"failed,omitempty"`
}

// Version is the slot's release version ("" when unknown).
func (s Slot) Version() string {
	if s.Manifest == nil {
		return ""
	}
	return s.Manifest.Version
}

// Firmware is the path of the slot's daemon binary.
func (s Slot) Firmware() string {
	return filepath.Join(s.Dir, filepath.FromSlash(bundle.FirmwarePath))
}

// ModelManifests are the paths of the slot's model manifests, preferred
// first, as the daemon's --model flags take them.
func (s Slot) ModelManifests() []string {
	if s.Manifest == nil {
		return nil
	}
	var out []string
	for _, m := range s.Manifest.Models {
		out = append(out, filepath.Join(s.Dir, filepath.FromSlash(m.Manifest)))
	}
	return out
}

// SelfTest checks a freshly installed slot: nil when it may run. ExecSelfTest
// runs the slot's own binary; tests inject their own.
type SelfTest func(ctx context.Context, s Slot) error

// Slots is an A/B install root (e.g. /var/lib/metsentry/slots): two slot
// folders, a and b, and the links current and previous. Methods must not
// run concurrently on one root (the daemon serialises installs).
type Slots struct {
	Root string
	// Store holds the keys a bundle must be signed with (the models' trust
	// store).
	Store *trust.Store
	// SelfTest runs on a slot after the switch to it; nil refuses every
	// install (an update is never left untested).
	SelfTest SelfTest
	// Log receives one line per step; nil uses slog.Default().
	Log *slog.Logger
	// Progress, when set, is told each step's name as it starts (for a
	// progress display in tools/metctl).
	Progress func(step string)
}

// Result says what Install did.
type Result struct {
	Version string `json:"version"`
	Slot    string `json:"slot"`
	KeyID   string `json:"key_id"`
	// Previous is the slot the appliance ran before ("" on a first install)
	// and PreviousVersion its version.
	Previous        string `json:"previous,omitempty"`
	PreviousVersion string `json:"previous_version,omitempty"`
}

func (s *Slots) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func (s *Slots) step(name string) {
	if s.Progress != nil {
		s.Progress(name)
	}
}

// Install verifies the bundle at path, unpacks it into the slot not in use,
// switches current to it (previous keeps the slot it leaves), runs the
// self-test on it, and on failure switches back and marks the new slot
// FAILED. It returns ErrRefused before touching any slot when the bundle
// does not verify, ErrRolledBack (or ErrSelfTest on a first install) when
// its self-test fails.
func (s *Slots) Install(ctx context.Context, path string) (*Result, error) {
	log := s.log()
	s.step("verify")
	b, err := bundle.Open(path, s.Store)
	if err != nil {
		log.Warn("update: bundle refused", "bundle", filepath.Base(path), "err", err.Error())
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if s.SelfTest == nil {
		return nil, fmt.Errorf("update: no self-test configured; refusing to install %s untested", b.Manifest.Version)
	}
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	if _, err := s.Recover(ctx); err != nil {
		return nil, err
	}
	cur, err := s.link(CurrentLink)
	if err != nil {
		return nil, err
	}
	target := SlotA
	if cur == SlotA {
		target = SlotB
	}
	res := &Result{Version: b.Manifest.Version, Slot: target, KeyID: b.KeyID, Previous: cur}
	if cur != "" {
		res.PreviousVersion = s.slot(cur).Version()
	}

	s.step("unpack")
	// The slot being replaced is no longer a rollback target.
	if prev, _ := s.link(PreviousLink); prev == target {
		if err := s.removeLink(PreviousLink); err != nil {
			return nil, err
		}
	}
	staging := filepath.Join(s.Root, ".incoming-"+target)
	if err := os.RemoveAll(staging); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	if err := b.Extract(staging); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	dir := filepath.Join(s.Root, target)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	if err := os.Rename(staging, dir); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}

	s.step("switch")
	if err := writeFile(filepath.Join(s.Root, TrialFile), []byte(target+"\n")); err != nil {
		return nil, err
	}
	if cur != "" {
		if err := s.setLink(PreviousLink, cur); err != nil {
			return nil, err
		}
	}
	if err := s.setLink(CurrentLink, target); err != nil {
		return nil, err
	}
	log.Info("update: installed, running its self-test", "version", res.Version, "slot", target, "previous", cur)

	s.step("self-test")
	testErr := s.SelfTest(ctx, s.slot(target))
	if testErr == nil {
		if err := removeFile(filepath.Join(s.Root, TrialFile)); err != nil {
			return nil, err
		}
		log.Info("update: self-test passed", "version", res.Version, "slot", target)
		return res, nil
	}

	s.step("roll back")
	_ = writeFile(filepath.Join(dir, FailedFile), []byte(testErr.Error()+"\n"))
	if err := s.back(target, cur); err != nil {
		return nil, fmt.Errorf("update: %s failed its self-test (%v) and switching back failed: %w", res.Version, testErr, err)
	}
	if cur == "" {
		log.Error("update: self-test failed on a first install; nothing to go back to", "version", res.Version, "err", testErr.Error())
		return nil, fmt.Errorf("%w: %s in slot %s (no earlier slot to go back to): %w", ErrSelfTest, res.Version, target, testErr)
	}
	log.Error("update: self-test failed, rolled back", "version", res.Version, "slot", target, "back_to", cur, "err", testErr.Error())
	return nil, fmt.Errorf("%w: %s in slot %s failed its self-test, back on %s in slot %s: %w",
		ErrRolledBack, res.Version, target, versionOr(res.PreviousVersion), cur, testErr)
}

func versionOr(v string) string {
	if v == "" {
		return "the earlier release"
	}
	return v
}

// back switches current from failed to prev (removes it when prev is
// empty), drops previous where it now names current, and clears the trial
// mark. The failed slot stays on disk, marked FAILED, until the next
// install replaces it.
func (s *Slots) back(failed, prev string) error {
	if prev == "" {
		if err := s.removeLink(CurrentLink); err != nil {
			return err
		}
	} else if err := s.setLink(CurrentLink, prev); err != nil {
		return err
	}
	if p, _ := s.link(PreviousLink); p == prev {
		if err := s.removeLink(PreviousLink); err != nil {
			return err
		}
	}
	return removeFile(filepath.Join(s.Root, TrialFile))
}

// Recover finishes an install cut short (a power cut or crash between the
// switch and the end of the self-test): the slot under trial never passed,
// so current goes back to previous. It reports whether it rolled back. The
// daemon calls it at start, before it reads current.
func (s *Slots) Recover(context.Context) (bool, error) {
	b, err := os.ReadFile(filepath.Join(s.Root, TrialFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("update: %w", err)
	}
	trial := strings.TrimSpace(string(b))
	cur, err := s.link(CurrentLink)
	if err != nil {
		return false, err
	}
	if cur != trial {
		// The switch never happened, or was already undone.
		return false, removeFile(filepath.Join(s.Root, TrialFile))
	}
	prev, err := s.link(PreviousLink)
	if err != nil {
		return false, err
	}
	_ = writeFile(filepath.Join(s.Root, trial, FailedFile), []byte("the install was interrupted before its self-test passed\n"))
	if err := s.back(trial, prev); err != nil {
		return false, err
	}
	s.log().Warn("update: an install was interrupted before its self-test passed; rolled back", "slot", trial, "back_to", prev)
	return true, nil
}

// Rollback switches current back to previous (a field engineer's choice
// after an update that passed its self-test but misbehaves) and previous to
// the slot it leaves. A slot marked FAILED is never switched to.
func (s *Slots) Rollback(ctx context.Context) (*Result, error) {
	if _, err := s.Recover(ctx); err != nil {
		return nil, err
	}
	cur, err := s.link(CurrentLink)
	if err != nil {
		return nil, err
	}
	prev, err := s.link(PreviousLink)
	if err != nil {
		return nil, err
	}
	if prev == "" {
		return nil, fmt.Errorf("%w (current is %q; install a bundle instead)", ErrNoPrevious, cur)
	}
	p := s.slot(prev)
	if p.Failed != "" {
		return nil, fmt.Errorf("%w: slot %s failed its self-test: %s", ErrNoPrevious, prev, p.Failed)
	}
	if err := s.setLink(CurrentLink, prev); err != nil {
		return nil, err
	}
	if cur != "" {
		if err := s.setLink(PreviousLink, cur); err != nil {
			return nil, err
		}
	}
	s.log().Warn("update: rolled back by request", "slot", prev, "version", p.Version(), "from", cur)
	return &Result{Version: p.Version(), Slot: prev, Previous: cur, PreviousVersion: s.slot(cur).Version()}, nil
}

// Status is what the install root holds.
type Status struct {
	Current  *Slot `json:"current,omitempty"`
	Previous *Slot `json:"previous,omitempty"`
	// Trial is the slot under self-test, if an install is under way or was
	// cut short.
	Trial string `json:"trial,omitempty"`
}

// Status reads the install root.
func (s *Slots) Status() (*Status, error) {
	st := &Status{}
	for _, l := range []struct {
		name string
		dst  **Slot
	}{{CurrentLink, &st.Current}, {PreviousLink, &st.Previous}} {
		n, err := s.link(l.name)
		if err != nil {
			return nil, err
		}
		if n != "" {
			sl := s.slot(n)
			*l.dst = &sl
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.Root, TrialFile)); err == nil {
		st.Trial = strings.TrimSpace(string(b))
	}
	return st, nil
}

// slot describes slot name as it is on disk.
func (s *Slots) slot(name string) Slot {
	sl := Slot{Name: name, Dir: filepath.Join(s.Root, name)}
	if b, err := os.ReadFile(filepath.Join(sl.Dir, bundle.ManifestName)); err == nil {
		sl.Manifest, _ = bundle.ParseManifest(b)
	}
	if b, err := os.ReadFile(filepath.Join(sl.Dir, FailedFile)); err == nil {
		sl.Failed = strings.TrimSpace(string(b))
	}
	return sl
}

// link reads a slot link: "a", "b", or "" when absent.
func (s *Slots) link(name string) (string, error) {
	t, err := os.Readlink(filepath.Join(s.Root, name))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("update: %s: %w", filepath.Join(s.Root, name), err)
	}
	if t != SlotA && t != SlotB {
		return "", fmt.Errorf("update: %s points to %q, expected %q or %q (repair the install root by hand)", filepath.Join(s.Root, name), t, SlotA, SlotB)
	}
	return t, nil
}

// setLink points name at slot atomically: a new symlink renamed over the
// old one, then the root synced.
func (s *Slots) setLink(name, slot string) error {
	tmp := filepath.Join(s.Root, ".tmp-"+name)
	_ = os.Remove(tmp)
	if err := os.Symlink(slot, tmp); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.Root, name)); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return syncDir(s.Root)
}

func (s *Slots) removeLink(name string) error {
	if err := os.Remove(filepath.Join(s.Root, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("update: %w", err)
	}
	return syncDir(s.Root)
}
