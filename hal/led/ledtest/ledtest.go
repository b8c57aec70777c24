// Package ledtest has a fake led.LED whose state is plain fields.
package ledtest

import (
	"sync"

	"metsentry/hal/led"
)

// LED is a fake light. Tests read On and History; set Err to make Set fail.
type LED struct {
	Name    string
	On      bool
	History []bool // every value Set was called with
	Halted  bool
	Err     error

	mu sync.Mutex
}

var _ led.LED = (*LED)(nil)

// Set records on, or returns Err.
func (l *LED) Set(on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Halted {
		return errHalted
	}
	if l.Err != nil {
		return l.Err
	}
	l.On = on
	l.History = append(l.History, on)
	return nil
}

// String returns Name.
func (l *LED) String() string { return "fake " + l.Name }

// Halt turns the light off for good.
func (l *LED) Halt() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.On = false
	l.Halted = true
	return nil
}

type haltedError struct{}

func (haltedError) Error() string { return "ledtest: LED is halted" }

var errHalted error = haltedError{}
