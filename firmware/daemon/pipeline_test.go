package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/config"
	"metsentry/firmware/outbox"
)

// fakeSender stores every file (or fails every attempt with err) and counts
// what each path received.
type fakeSender struct {
	mu   sync.Mutex
	err  error
	sent map[string]int
}

func (f *fakeSender) Send(_ context.Context, _ config.Destination, files []string) ([]outbox.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var res []outbox.Result
	for _, p := range files {
		f.sent[filepath.Base(p)]++
		res = append(res, outbox.Result{Path: p})
	}
	return res, nil
}

type faultPanel struct {
	mu     sync.Mutex
	faults []uint16
}

func (*faultPanel) Receiving()  {}
func (*faultPanel) Processing() {}
func (*faultPanel) Result(int)  {}
func (p *faultPanel) SetFault(code uint16, on bool) {
	if on {
		p.mu.Lock()
		p.faults = append(p.faults, code)
		p.mu.Unlock()
	}
}

// reportedJob makes a store holding one job that reached "reported" (its
// results written) before a crash, and returns it.
func reportedJob(t *testing.T) (*cache.Store, cache.Job) {
	t.Helper()
	store, err := cache.Open(t.TempDir(), cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var j cache.Job
	err = store.Update(func(tx *cache.Tx) error {
		var err error
		if j, err = tx.NewJob(cache.Job{StudyInstanceUID: "1.2.3", Generation: 1}); err != nil {
			return err
		}
		for _, st := range []string{cache.JobReady, cache.JobRunning, cache.JobReported} {
			if j, err = tx.SetJobState(j.ID, st, "test", nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(store.Dir(), ResultsDir, fmt.Sprintf("job-%d", j.ID))
	os.MkdirAll(dir, 0o755)
	for _, f := range []string{"seg.dcm", "sr.dcm", "sc-001.dcm"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
	}
	return store, j
}

func jobState(t *testing.T, store *cache.Store, id uint64) cache.Job {
	t.Helper()
	var j cache.Job
	store.View(func(tx *cache.Tx) error { j, _, _ = tx.Job(id); return nil })
	return j
}

// A crash between recording a job's results and queueing them: restore
// queues them, they are delivered once, and the job ends delivered. A
// second restart finds nothing to do and sends nothing again. A permanent
// refusal dead-letters the job at once with a panel fault.
func TestPipelineRestore(t *testing.T) {
	dests := []config.Destination{{Name: "pacs", AETitle: "PACS", Host: "127.0.0.1", Port: 104, Send: []string{"seg", "sr", "sc"}}}
	pol := outbox.Policy{Base: time.Hour, Max: time.Hour, MaxAttempts: 5}
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name      string
		err       error
		wantState string
		wantSent  int
		wantFault bool
	}{
		{"delivered once", nil, cache.JobDelivered, 1, false},
		{"refused for good", fmt.Errorf("%w: pacs: association rejected", outbox.ErrPermanent), cache.JobDead, 0, true},
		{"destination down", errors.New("connection refused"), cache.JobReported, 0, true}, // FaultNetwork
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, j := reportedJob(t)
			snd := &fakeSender{err: tc.err, sent: map[string]int{}}
			pan := &faultPanel{}
			for restart := 0; restart < 2; restart++ {
				pl, err := newPipeline(store, nil, dests, snd, pol, log, pan, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := pl.restore(); err != nil {
					t.Fatal(err)
				}
				pl.ob.RunDue(t.Context())
			}
			got := jobState(t, store, j.ID)
			if got.State != tc.wantState {
				t.Errorf("job %s (%s); want %s", got.State, got.Reason, tc.wantState)
			}
			for _, f := range []string{"seg.dcm", "sr.dcm", "sc-001.dcm"} {
				if snd.sent[f] != tc.wantSent {
					t.Errorf("%s sent %d times; want %d", f, snd.sent[f], tc.wantSent)
				}
			}
			if (len(pan.faults) > 0) != tc.wantFault {
				t.Errorf("panel faults %v; want a fault %v", pan.faults, tc.wantFault)
			}
			var ds []cache.Delivery
			store.View(func(tx *cache.Tx) error { ds, _ = tx.JobDeliveries(j.ID); return nil })
			if len(ds) != 1 || len(ds[0].Files) != 3 {
				t.Errorf("deliveries %+v; want one, naming the 3 result files", ds)
			}
		})
	}
}
