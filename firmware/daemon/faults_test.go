package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/config"
	"metsentry/firmware/outbox"
	"metsentry/firmware/panel"
)

// stepClock is a clock the test moves by hand.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *stepClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// switchSender fails every attempt while down is set, else stores.
type switchSender struct {
	fakeSender
	down bool
}

func (s *switchSender) Send(ctx context.Context, d config.Destination, files []string) ([]outbox.Result, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, errors.New("dimse: dial tcp 127.0.0.1:104: connect: connection refused")
	}
	return s.fakeSender.Send(ctx, d, files)
}

func (s *switchSender) set(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// TestDestinationDownForAnHour: the PACS is unreachable for an hour of
// injected time, with the daemon restarted half way through. Throughout,
// the panel (a real panel.Machine, whose faults the console's status
// shows) holds FaultNetwork and nothing else, the job stays reported with
// its delivery pending in the cache (not dead, not lost); when the PACS
// comes back the results go out once, the job ends delivered and the fault
// clears.
func TestDestinationDownForAnHour(t *testing.T) {
	dests := []config.Destination{{Name: "pacs", AETitle: "PACS", Host: "127.0.0.1", Port: 104, Send: []string{"seg", "sr", "sc"}}}
	store, j := reportedJob(t)
	snd := &switchSender{fakeSender: fakeSender{sent: map[string]int{}}, down: true}
	clk := &stepClock{now: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)}
	start := clk.Now()
	log := slog.New(slog.DiscardHandler)
	m := panel.NewMachine(t.Context(), panel.MachineConfig{Logger: log})

	// boot makes the daemon's pipeline over the same cache, as a restart
	// does, with the outbox on the injected clock.
	boot := func() *pipeline {
		pl, err := newPipeline(store, nil, dests, snd, outbox.DefaultPolicy, log, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if pl.ob, err = outbox.New(dests, snd, clk, outbox.DefaultPolicy); err != nil {
			t.Fatal(err)
		}
		pl.ob.Logger, pl.ob.Persist = log, pl.persist
		if err := pl.restore(); err != nil {
			t.Fatal(err)
		}
		return pl
	}
	pl := boot()
	attempts, restarted := 0, false
	for clk.Now().Sub(start) < time.Hour {
		pl.ob.RunDue(t.Context())
		attempts++
		if got := m.Faults(); !slices.Equal(got, []uint16{panel.FaultNetwork}) {
			t.Fatalf("after %v down: panel faults %04x, want only FaultNetwork %04x", clk.Now().Sub(start), got, panel.FaultNetwork)
		}
		if st := jobState(t, store, j.ID); st.State != cache.JobReported {
			t.Fatalf("after %v down: job %s (%s), want reported", clk.Now().Sub(start), st.State, st.Reason)
		}
		next, ok := pl.ob.NextDue()
		if !ok {
			t.Fatalf("after %v down: nothing left to retry", clk.Now().Sub(start))
		}
		clk.Set(next)
		if !restarted && clk.Now().Sub(start) > 30*time.Minute {
			pl, restarted = boot(), true
			// A restart forgets nothing but the panel's fault, which the
			// next failed attempt raises again.
		}
	}
	if attempts < 5 {
		t.Errorf("%d attempts in an hour, want the retry schedule's 5 or more", attempts)
	}
	var ds []cache.Delivery
	store.View(func(tx *cache.Tx) error { ds, _ = tx.JobDeliveries(j.ID); return nil })
	if len(ds) != 1 || ds[0].State != string(outbox.Pending) {
		t.Fatalf("after an hour down: deliveries %+v, want one pending", ds)
	}

	snd.set(false)
	next, _ := pl.ob.NextDue()
	clk.Set(next)
	pl.ob.RunDue(t.Context())
	if st := jobState(t, store, j.ID); st.State != cache.JobDelivered {
		t.Errorf("PACS back: job %s (%s), want delivered", st.State, st.Reason)
	}
	for _, f := range []string{"seg.dcm", "sr.dcm", "sc-001.dcm"} {
		if snd.sent[f] != 1 {
			t.Errorf("%s sent %d times, want once", f, snd.sent[f])
		}
	}
	if got := m.Faults(); len(got) != 0 {
		t.Errorf("PACS back: panel faults %04x, want none", got)
	}
}

// TestUnreachable: the network fault follows each destination's last
// attempt; one destination back does not hide another that is still down,
// and a new job queued for a down destination does not clear it.
func TestUnreachable(t *testing.T) {
	failed := func(d string) outbox.Job {
		return outbox.Job{Destination: d, State: outbox.Pending, Attempts: 1, LastError: "refused"}
	}
	steps := []struct {
		name        string
		job         outbox.Job
		on, changed bool
	}{
		{"pacs fails", failed("pacs"), true, true},
		{"pacs fails again", failed("pacs"), true, false},
		{"console fails", failed("console"), true, false},
		{"new job for pacs", outbox.Job{Destination: "pacs", State: outbox.Pending}, true, false},
		{"pacs delivers", outbox.Job{Destination: "pacs", State: outbox.Delivered}, true, false},
		{"console dead-lettered", outbox.Job{Destination: "console", State: outbox.Dead, Attempts: 12, LastError: "refused"}, true, false},
		{"console delivers", outbox.Job{Destination: "console", State: outbox.Delivered}, false, true},
	}
	var u unreachable
	for _, s := range steps {
		on, changed := u.note(s.job)
		if on != s.on || changed != s.changed {
			t.Errorf("%s: on %v changed %v, want %v %v", s.name, on, changed, s.on, s.changed)
		}
	}
}

// recPanel records the faults raised and cleared.
type recPanel struct {
	mu     sync.Mutex
	faults map[uint16]bool
}

func (*recPanel) Receiving()  {}
func (*recPanel) Processing() {}
func (*recPanel) Result(int)  {}
func (p *recPanel) SetFault(code uint16, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.faults == nil {
		p.faults = map[uint16]bool{}
	}
	p.faults[code] = on
}

// TestRunInferenceFault: an inference runtime or model that fails to start
// is a panel fault (which one depends on ErrRuntime), and the services run
// anyway until the daemon is stopped, which is then a clean stop.
func TestRunInferenceFault(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want uint16
	}{
		{"runtime missing", fmt.Errorf("%w: ort: library missing", ErrRuntime), panel.FaultRuntime},
		{"model corrupt", errors.New("model: metnet-int8.onnx: sha256 differs from the signed manifest"), panel.FaultModel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := simOptions(t)
			o.Inference = func(*config.Board) (string, error) { return "", tc.err }
			pan := &recPanel{}
			o.Panel = pan
			svc := &fakeService{name: "intake", started: make(chan struct{})}
			o.Services = []Service{svc}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- Run(ctx, o) }()
			select {
			case <-svc.started:
			case err := <-done:
				t.Fatalf("Run returned %v before starting the services", err)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			pan.mu.Lock()
			defer pan.mu.Unlock()
			if len(pan.faults) != 1 || !pan.faults[tc.want] {
				t.Errorf("panel faults %v, want only %04x on", pan.faults, tc.want)
			}
		})
	}
}
