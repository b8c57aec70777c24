package main

import (
	"slices"
	"strings"
	"sync"

	"metsentry/firmware/daemon"
	"metsentry/firmware/panel"
)

// faultBoard keeps the active faults for systemd's STATUS= line (what
// `systemctl status metsentry` shows) and passes everything on to the front
// panel, when the board has one.
type faultBoard struct {
	panel   daemon.Panel // nil: no panel
	mu      sync.Mutex
	on      map[uint16]bool
	changed chan struct{} // poked on every change
}

var _ daemon.Panel = (*faultBoard)(nil)

func newFaultBoard() *faultBoard {
	return &faultBoard{on: map[uint16]bool{}, changed: make(chan struct{}, 1)}
}

func (f *faultBoard) Receiving() {
	if f.panel != nil {
		f.panel.Receiving()
	}
}

func (f *faultBoard) Processing() {
	if f.panel != nil {
		f.panel.Processing()
	}
}

func (f *faultBoard) Result(lesions int) {
	if f.panel != nil {
		f.panel.Result(lesions)
	}
}

// SetFault records the fault and shows it on the panel.
func (f *faultBoard) SetFault(code uint16, on bool) {
	if f.panel != nil {
		f.panel.SetFault(code, on)
	}
	f.mu.Lock()
	changed := f.on[code] != on
	if on {
		f.on[code] = true
	} else {
		delete(f.on, code)
	}
	f.mu.Unlock()
	if changed {
		select {
		case f.changed <- struct{}{}:
		default:
		}
	}
}

// Faults is the active faults for a status line ("" when none), e.g.
// "FAULT E0303 inference runtime missing or wrong version".
func (f *faultBoard) Faults() string {
	f.mu.Lock()
	codes := make([]uint16, 0, len(f.on))
	for c := range f.on {
		codes = append(codes, c)
	}
	f.mu.Unlock()
	if len(codes) == 0 {
		return ""
	}
	slices.Sort(codes)
	texts := make([]string, len(codes))
	for i, c := range codes {
		texts[i] = panel.FaultText(c)
	}
	return "FAULT " + strings.Join(texts, ", ")
}
