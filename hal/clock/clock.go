package clock

import "time"

// Clock tells the time and makes timers. It is the subset of the time package
// that metsentry's timing code uses.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that sends the time on its channel once d has
	// passed.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that sends the time on its channel every d.
	NewTicker(d time.Duration) Ticker
}

// Timer is a one-shot timer, like time.Timer.
type Timer interface {
	// C is the channel the timer fires on.
	C() <-chan time.Time
	// Stop stops the timer; it reports whether the timer was still pending.
	Stop() bool
	// Reset makes the timer fire d from now.
	Reset(d time.Duration)
}

// Ticker is a repeating timer, like time.Ticker.
type Ticker interface {
	// C is the channel the ticker fires on.
	C() <-chan time.Time
	// Stop stops the ticker.
	Stop()
}

// System returns the real clock of the machine.
func System() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return &sysTimer{t: time.NewTimer(d)} }

func (systemClock) NewTicker(d time.Duration) Ticker { return &sysTicker{t: time.NewTicker(d)} }

type sysTimer struct{ t *time.Timer }

func (s *sysTimer) C() <-chan time.Time   { return s.t.C }
func (s *sysTimer) Stop() bool            { return s.t.Stop() }
func (s *sysTimer) Reset(d time.Duration) { s.t.Reset(d) }

type sysTicker struct{ t *time.Ticker }

func (s *sysTicker) C() <-chan time.Time { return s.t.C }
func (s *sysTicker) Stop()               { s.t.Stop() }

var (
	_ Clock  = systemClock{}
	_ Timer  = (*sysTimer)(nil)
	_ Ticker = (*sysTicker)(nil)
)
