package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"metsentry/firmware/config"
	"metsentry/firmware/update"
)

// slotEnv is set, to the slot's name, on a daemon that the packaged
// /usr/bin/metsentryd handed over to the current slot's binary: that one
// runs as it is told and does not look at the slots again.
const slotEnv = "METSENTRY_SLOT"

// execve replaces this process with another binary (the same PID, so
// systemd's Type=notify and watchdog carry on); tests replace it.
var execve = syscall.Exec

// slotsRoot is the A/B install root that metctl model install writes
// (firmware/update) under the board's data folder.
func slotsRoot(b *config.Board) string {
	return filepath.Join(b.Storage.DataDir, "slots")
}

// handover is what start-up found in the slots: the binary to run and its
// arguments, or only the models to use when this binary is the slot's own.
type handover struct {
	slot *update.Slot
	// bin is the slot's binary when it is not this one ("" to run on here).
	bin  string
	args []string
	// models are the --model manifests to open: the slot's when it has any.
	models []string
}

// currentSlot undoes an install a power cut interrupted (update.Slots.Recover)
// and says which slot to run: nil when the slots folder does not exist or
// no slot is current, and the packaged binary runs on with its own --model
// flags. It logs what it found.
func currentSlot(ctx context.Context, root string, log *slog.Logger) (*update.Slot, error) {
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		log.Debug("no update slots: running the packaged release", "slots", root)
		return nil, nil
	}
	s := &update.Slots{Root: root, Log: log}
	rolled, err := s.Recover(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.Status()
	if err != nil {
		return nil, err
	}
	switch {
	case st.Current == nil:
		log.Info("update: no slot is current: running the packaged release", "slots", root, "rolled_back", rolled)
		return nil, nil
	case st.Current.Failed != "":
		log.Error("update: the current slot is marked FAILED: running the packaged release", "slot", st.Current.Name,
			"version", st.Current.Version(), "failed", st.Current.Failed)
		return nil, nil
	}
	log.Info("update: running the current slot", "slot", st.Current.Name, "version", st.Current.Version(), "rolled_back", rolled)
	return st.Current, nil
}

// planHandover decides how to run slot from the binary self, started with
// the flags in fs and the --model manifests models: the slot's binary, with
// the same flags and the slot's models, unless self is that binary.
func planHandover(slot *update.Slot, self string, fs *flag.FlagSet, models []string) handover {
	h := handover{slot: slot, models: models}
	if slot == nil {
		return h
	}
	if m := slot.ModelManifests(); len(m) > 0 {
		h.models = m
	}
	bin := slot.Firmware()
	if sameFile(bin, self) {
		return h
	}
	h.bin = bin
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "model" {
			h.args = append(h.args, "--"+f.Name+"="+f.Value.String())
		}
	})
	for _, m := range h.models {
		h.args = append(h.args, "--model="+m)
	}
	return h
}

// sameFile reports whether a and b name one file (links resolved).
func sameFile(a, b string) bool {
	ai, err := os.Stat(a)
	if err != nil {
		return false
	}
	bi, err := os.Stat(b)
	return err == nil && os.SameFile(ai, bi)
}

// startSlot runs the current slot, if there is one and this daemon was not
// itself started from a slot: it returns the models to open when this
// binary runs on, or hands the process over to the slot's binary (exec
// returns only on failure). A slot that cannot be read or run is logged
// and the packaged release runs with its own models: the box still works.
func startSlot(ctx context.Context, board *config.Board, fs *flag.FlagSet, models []string, log *slog.Logger) []string {
	if name := os.Getenv(slotEnv); name != "" {
		log.Info("update: started from a slot", "slot", name)
		return models
	}
	slot, err := currentSlot(ctx, slotsRoot(board), log)
	if err != nil {
		log.Error("update: the slots could not be read: running the packaged release", "slots", slotsRoot(board), "err", err)
		return models
	}
	self, err := os.Executable()
	if err != nil {
		log.Error("update: cannot find this binary: running it, not the current slot's", "err", err)
		return models
	}
	h := planHandover(slot, self, fs, models)
	if h.bin == "" {
		return h.models
	}
	log.Info("update: handing over to the current slot's binary", "slot", slot.Name, "bin", h.bin)
	env := append(os.Environ(), slotEnv+"="+slot.Name)
	err = execve(h.bin, append([]string{h.bin}, h.args...), env)
	log.Error("update: the current slot's binary did not start: running the packaged release", "bin", h.bin,
		"err", fmt.Errorf("metsentryd: exec: %w", err))
	return models
}
