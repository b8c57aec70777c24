package intake

import (
	"context"
	"sync"
	"testing"
	"time"

	"metsentry/firmware/cache"
)

// timerClock is a fake clock whose After channels fire when the test moves
// the time past them.
type timerClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []timer
	asked  chan time.Duration
}

type timer struct {
	at time.Time
	c  chan time.Time
}

func (c *timerClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *timerClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, timer{c.now.Add(d), ch})
	select {
	case c.asked <- d:
	default:
	}
	return ch
}

func (c *timerClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.c <- c.now
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
}

// TestRunWakesAndTimers drives Run with a fake clock: a Wake (as after a
// stored instance or an association release) makes it evaluate but never
// completes a series early; the quiet-period timer does.
func TestRunWakesAndTimers(t *testing.T) {
	e := newEnv(t, nil)
	clk := &timerClock{now: e.clk.Now(), asked: make(chan time.Duration, 16)}
	e.in.clock = clk
	t1 := visibleSeries(philips(t, 80, 4), study+".7", 7, "T1 3D +C")
	for i := 0; i < 4; i++ {
		e.put(t1.file(t, i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.in.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitAsked := func(want time.Duration) {
		t.Helper()
		select {
		case d := <-clk.asked:
			if d != want {
				t.Fatalf("Run set a timer of %v, want %v", d, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not set a timer")
		}
	}
	waitAsked(20 * time.Second) // the quiet period from the last instance
	clk.Add(5 * time.Second)
	e.in.Wake() // a release hint: evaluates, completes nothing
	waitAsked(15 * time.Second)
	if j := e.jobs(); j[0].State != cache.JobWaiting {
		t.Fatalf("a hint made the job %s", j[0].State)
	}
	clk.Add(15 * time.Second) // the timer fires
	deadline := time.Now().Add(10 * time.Second)
	for e.jobs()[0].State != cache.JobReady {
		if time.Now().After(deadline) {
			t.Fatalf("job still %s after the quiet period", e.jobs()[0].State)
		}
		time.Sleep(5 * time.Millisecond) // waiting for Run's goroutine, not for a timer
	}
}
