// Package clocktest is a fake clock.Clock whose time moves only when a test
// calls Advance. Timers and tickers fire, in deadline order, during Advance.
package clocktest

import (
	"sort"
	"sync"
	"time"

	"metsentry/hal/clock"
)

// Clock is a manual clock. The zero value is not usable; use New.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*waiter
}

// New returns a fake clock set to start.
func New(start time.Time) *Clock { return &Clock{now: start} }

type waiter struct {
	c      *Clock
	ch     chan time.Time
	when   time.Time
	period time.Duration // 0 for a timer
	active bool
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when Advance passes now+d.
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &waiter{c: c, ch: make(chan time.Time, 1), when: c.now.Add(d), active: true}
	c.timers = append(c.timers, w)
	return (*fakeTimer)(w)
}

// NewTicker returns a ticker that fires every d of fake time.
func (c *Clock) NewTicker(d time.Duration) clock.Ticker {
	if d <= 0 {
		panic("clocktest: non-positive ticker interval")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &waiter{c: c, ch: make(chan time.Time, 1), when: c.now.Add(d), period: d, active: true}
	c.timers = append(c.timers, w)
	return (*fakeTicker)(w)
}

// Advance moves the clock forward by d, firing every timer and ticker whose
// deadline is reached, in order. Like time.Ticker, a ticker whose channel is
// full drops the tick.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	end := c.now.Add(d)
	for {
		var due []*waiter
		for _, w := range c.timers {
			if w.active && !w.when.After(end) {
				due = append(due, w)
			}
		}
		if len(due) == 0 {
			break
		}
		sort.SliceStable(due, func(i, j int) bool { return due[i].when.Before(due[j].when) })
		w := due[0]
		if w.when.After(c.now) {
			c.now = w.when
		}
		select {
		case w.ch <- c.now:
		default:
		}
		if w.period > 0 {
			w.when = w.when.Add(w.period)
		} else {
			w.active = false
		}
	}
	c.now = end
}

// Pending returns how many timers and tickers are active; tests use it to
// wait until the code under test has armed its timer.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, w := range c.timers {
		if w.active {
			n++
		}
	}
	return n
}

type fakeTimer waiter

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.when = t.c.now.Add(d)
	t.active = true
}

type fakeTicker waiter

func (t *fakeTicker) C() <-chan time.Time { return t.ch }

func (t *fakeTicker) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.active = false
}

var _ clock.Clock = (*Clock)(nil)
