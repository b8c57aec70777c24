package led

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"metsentry/hal/clock"
)

// LED is one light.
type LED interface {
	// Set turns the light on or off.
	Set(on bool) error
	// String names the light, e.g. "gpio gpiochip0/PQ.05".
	String() string
	// Halt turns the light off and releases it; the LED is inert after.
	Halt() error
}

// Color indexes the three front-panel lights.
type Color int

// The lights.
const (
	Red Color = iota
	Amber
	Green
)

func (c Color) String() string {
	switch c {
	case Red:
		return "red"
	case Amber:
		return "amber"
	case Green:
		return "green"
	}
	return fmt.Sprintf("color(%d)", int(c))
}

// Mode is what one light does.
type Mode uint8

// Modes. Slow is 1 Hz (500 ms on, 500 ms off), Fast is 2 Hz.
const (
	Off Mode = iota
	On
	Slow
	Fast
)

func (m Mode) String() string {
	return [...]string{"off", "on", "slow", "fast"}[m&3]
}

// Pattern is the mode of each light, indexed by Color.
type Pattern [3]Mode

// Quantum is the blink step: Fast toggles every step, Slow every two.
const Quantum = 250 * time.Millisecond

// Lit reports whether a light in mode m is lit at blink step phase.
func (m Mode) Lit(phase int) bool {
	switch m {
	case On:
		return true
	case Slow:
		return (phase/2)%2 == 0
	case Fast:
		return phase%2 == 0
	}
	return false
}

// Blinker drives three LEDs by a Pattern. It is safe for concurrent use.
type Blinker struct {
	leds [3]LED
	clk  clock.Clock

	mu      sync.Mutex
	pattern Pattern
	phase   int
	lit     [3]bool
	known   bool
}

// NewBlinker returns a blinker for the red, amber and green lights, all off.
func NewBlinker(red, amber, green LED, clk clock.Clock) *Blinker {
	if clk == nil {
		clk = clock.System()
	}
	return &Blinker{leds: [3]LED{red, amber, green}, clk: clk}
}

// SetPattern shows p, starting a fresh blink cycle so a change is seen at
// once.
func (b *Blinker) SetPattern(p Pattern) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pattern = p
	b.phase = 0
	return b.applyLocked()
}

// Pattern returns the pattern shown.
func (b *Blinker) Pattern() Pattern {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pattern
}

// Step advances the blink cycle by one Quantum. Run calls it; tests call it
// directly.
func (b *Blinker) Step() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.phase++
	return b.applyLocked()
}

func (b *Blinker) applyLocked() error {
	var errs []error
	for i, l := range b.leds {
		want := b.pattern[i].Lit(b.phase)
		if b.known && b.lit[i] == want {
			continue
		}
		if err := l.Set(want); err != nil {
			errs = append(errs, fmt.Errorf("led: set %v (%s): %w", Color(i), l, err))
			continue
		}
		b.lit[i] = want
	}
	b.known = len(errs) == 0
	return errors.Join(errs...)
}

// Run blinks until ctx is done, then halts the LEDs (off and released).
func (b *Blinker) Run(ctx context.Context) error {
	t := b.clk.NewTicker(Quantum)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return b.Halt()
		case <-t.C():
			_ = b.Step() // a failing LED must not stop the others blinking
		}
	}
}

// Halt turns the lights off and releases them.
func (b *Blinker) Halt() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, l := range b.leds {
		if err := l.Halt(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
