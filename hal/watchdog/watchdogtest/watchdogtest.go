// Package watchdogtest has a fake watchdog.Watchdog whose state is plain
// fields.
package watchdogtest

import (
	"errors"
	"sync"
	"time"

	"metsentry/hal/watchdog"
)

// Watchdog is a fake. Pets counts keep-alives; Halted says it was disarmed by
// a magic close. Set Err to make Pet fail.
type Watchdog struct {
	Name string
	T    time.Duration
	Err  error

	mu     sync.Mutex
	pets   int
	halted bool
}

var _ watchdog.Watchdog = (*Watchdog)(nil)

// Pet counts one keep-alive.
func (w *Watchdog) Pet() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.halted {
		return errors.New("watchdogtest: pet after halt")
	}
	if w.Err != nil {
		return w.Err
	}
	w.pets++
	return nil
}

// Pets returns how many times Pet succeeded.
func (w *Watchdog) Pets() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pets
}

// Halted reports whether Halt was called.
func (w *Watchdog) Halted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.halted
}

// Timeout returns T.
func (w *Watchdog) Timeout() time.Duration { return w.T }

// String returns the name.
func (w *Watchdog) String() string { return "fake watchdog " + w.Name }

// Halt disarms the fake.
func (w *Watchdog) Halt() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.halted = true
	return nil
}
