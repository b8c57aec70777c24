package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"metsentry/firmware/config"
	"metsentry/firmware/report"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeSender stores files in a map (path -> times stored) and fails as
// told by fail, called once per Send with the attempt number (0-based).
type fakeSender struct {
	mu     sync.Mutex
	calls  [][]string
	stored map[string]int
	// fail decides the outcome of call n: how many files to store before the
	// association breaks (-1: all), and which paths the destination refuses.
	fail func(n int, dest config.Destination, files []string) (storeFirst int, refuse map[string]bool, err error)
}

func (f *fakeSender) Send(_ context.Context, dest config.Destination, files []string) ([]Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.calls)
	f.calls = append(f.calls, append([]string(nil), files...))
	if f.stored == nil {
		f.stored = map[string]int{}
	}
	first, refuse, err := -1, map[string]bool(nil), error(nil)
	if f.fail != nil {
		first, refuse, err = f.fail(n, dest, files)
	}
	if first == 0 && err != nil {
		return nil, err
	}
	var res []Result
	for i, p := range files {
		if first >= 0 && i >= first {
			return res, err
		}
		if refuse[p] {
			res = append(res, Result{Path: p, Err: fmt.Errorf("%w: test refusal", ErrRefused)})
			continue
		}
		f.stored[p]++
		res = append(res, Result{Path: p})
	}
	return res, nil
}

var (
	pacs    = config.Destination{Name: "pacs", AETitle: "PACS", Host: "127.0.0.1", Port: 104, Send: []string{"seg", "sr", "sc"}}
	console = config.Destination{Name: "console", AETitle: "CONSOLE", Host: "127.0.0.1", Port: 105, Send: []string{"sr", "sc"}}
	results = report.Files{SEG: "/r/seg.dcm", SR: "/r/sr.dcm", SC: []string{"/r/sc-001.dcm", "/r/sc-002.dcm"}}
	policy  = Policy{Base: time.Second, Max: 8 * time.Second, MaxAttempts: 4}
)

func newOutbox(t *testing.T, s Sender, dests ...config.Destination) (*Outbox, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	o, err := New(dests, s, clk, policy)
	if err != nil {
		t.Fatal(err)
	}
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return o, clk
}

func TestPolicyDelay(t *testing.T) {
	p := Policy{Base: time.Second, Max: 10 * time.Second, MaxAttempts: 3}
	var got []time.Duration
	for n := 1; n <= 7; n++ {
		got = append(got, p.Delay(n))
	}
	want := []time.Duration{1e9, 2e9, 4e9, 8e9, 10e9, 10e9, 10e9}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("delays (-want +got):\n%s", d)
	}
	if DefaultPolicy.Validate() != nil {
		t.Fatal("default policy invalid")
	}
	for _, bad := range []Policy{{}, {Base: time.Second, Max: time.Millisecond, MaxAttempts: 1}, {Base: time.Second, Max: time.Second}} {
		if bad.Validate() == nil {
			t.Errorf("policy %+v accepted", bad)
		}
	}
}

func TestDownThenUpDeliversOnce(t *testing.T) {
	down := errors.New("connection refused")
	fs := &fakeSender{fail: func(n int, _ config.Destination, _ []string) (int, map[string]bool, error) {
		if n < 2 {
			return 0, nil, down
		}
		return -1, nil, nil
	}}
	o, clk := newOutbox(t, fs, pacs)
	ids, err := o.Enqueue("1.2.3", "v1", results)
	if err != nil || len(ids) != 1 {
		t.Fatalf("enqueue: %v %v", ids, err)
	}
	ctx := context.Background()
	if n := o.RunDue(ctx); n != 1 {
		t.Fatalf("first run made %d attempts", n)
	}
	st := o.Status()
	if st.Pending != 1 || st.Jobs[0].Attempts != 1 || st.Jobs[0].LastError != "connection refused" {
		t.Fatalf("after one failure: %+v", st)
	}
	next, _ := o.NextDue()
	if want := clk.Now().Add(time.Second); !next.Equal(want) {
		t.Fatalf("next attempt %v, want %v", next, want)
	}
	clk.Add(500 * time.Millisecond)
	if n := o.RunDue(ctx); n != 0 {
		t.Fatalf("attempt before the backoff elapsed")
	}
	clk.Add(500 * time.Millisecond)
	o.RunDue(ctx) // second failure: wait 2 s
	clk.Add(1999 * time.Millisecond)
	if n := o.RunDue(ctx); n != 0 {
		t.Fatal("attempt before the doubled backoff elapsed")
	}
	clk.Add(time.Millisecond)
	o.RunDue(ctx)
	st = o.Status()
	if st.Delivered != 1 || st.Pending != 0 || len(st.Jobs) != 0 {
		t.Fatalf("after recovery: %+v", st)
	}
	if d := cmp.Diff(map[string]int{"/r/seg.dcm": 1, "/r/sr.dcm": 1, "/r/sc-001.dcm": 1, "/r/sc-002.dcm": 1}, fs.stored); d != "" {
		t.Fatalf("deliveries (-want +got):\n%s", d)
	}
	if len(fs.calls) != 3 {
		t.Fatalf("%d associations, want 3", len(fs.calls))
	}
	clk.Add(time.Hour)
	if n := o.RunDue(ctx); n != 0 {
		t.Fatal("delivered job attempted again")
	}
}

func TestBrokenAssociationResendsOnlyTheRest(t *testing.T) {
	fs := &fakeSender{fail: func(n int, _ config.Destination, _ []string) (int, map[string]bool, error) {
		if n == 0 {
			return 2, nil, errors.New("association aborted")
		}
		return -1, nil, nil
	}}
	o, clk := newOutbox(t, fs, pacs)
	if _, err := o.Enqueue("1.2.3", "v1", results); err != nil {
		t.Fatal(err)
	}
	o.RunDue(context.Background())
	if st := o.Status(); st.Jobs[0].Attempts != 1 || st.Jobs[0].Sent != 2 {
		t.Fatalf("after a broken association: %+v (one attempt counted per job, two files sent)", st.Jobs[0])
	}
	clk.Add(time.Second)
	o.RunDue(context.Background())
	if d := cmp.Diff([]string{"/r/sc-001.dcm", "/r/sc-002.dcm"}, fs.calls[1]); d != "" {
		t.Fatalf("second attempt sent (-want +got):\n%s", d)
	}
	for p, n := range fs.stored {
		if n != 1 {
			t.Errorf("%s stored %d times", p, n)
		}
	}
	if o.Status().Delivered != 1 {
		t.Fatal("not delivered")
	}
}

func TestDeadLetterAndRetry(t *testing.T) {
	broken := true
	fs := &fakeSender{fail: func(int, config.Destination, []string) (int, map[string]bool, error) {
		if broken {
			return 0, nil, errors.New("no route to host")
		}
		return -1, nil, nil
	}}
	o, clk := newOutbox(t, fs, pacs)
	ids, _ := o.Enqueue("1.2.3", "v1", results)
	for i := 0; i < 10; i++ {
		o.RunDue(context.Background())
		clk.Add(time.Minute)
	}
	if len(fs.calls) != policy.MaxAttempts {
		t.Fatalf("%d attempts, want %d", len(fs.calls), policy.MaxAttempts)
	}
	st := o.Status()
	if st.Dead != 1 || st.Pending != 0 || st.Jobs[0].State != Dead || st.Jobs[0].Attempts != 4 || st.Jobs[0].LastError == "" {
		t.Fatalf("status %+v", st)
	}
	if _, ok := o.NextDue(); ok {
		t.Fatal("a dead job is still due")
	}
	broken = false
	if err := o.Retry(ids[0]); err != nil {
		t.Fatal(err)
	}
	o.RunDue(context.Background())
	if st := o.Status(); st.Delivered != 1 || st.Dead != 0 {
		t.Fatalf("after retry %+v", st)
	}
	if err := o.Retry("nope"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("retry unknown: %v", err)
	}
	if err := o.Retry(ids[0]); err == nil {
		t.Fatal("retrying a delivered job succeeded")
	}
}

func TestCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refuse  map[string]bool
		wantPer map[string][]string
		refused int
	}{
		{"configured without SEG", nil, map[string][]string{
			"pacs":    {"/r/seg.dcm", "/r/sr.dcm", "/r/sc-001.dcm", "/r/sc-002.dcm"},
			"console": {"/r/sr.dcm", "/r/sc-001.dcm", "/r/sc-002.dcm"}}, 0},
		{"refusing SEG at association", map[string]bool{"/r/seg.dcm": true}, map[string][]string{
			"pacs":    {"/r/seg.dcm", "/r/sr.dcm", "/r/sc-001.dcm", "/r/sc-002.dcm"},
			"console": {"/r/sr.dcm", "/r/sc-001.dcm", "/r/sc-002.dcm"}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			per := map[string][]string{}
			var mu sync.Mutex
			fs := &fakeSender{fail: func(_ int, d config.Destination, files []string) (int, map[string]bool, error) {
				mu.Lock()
				per[d.Name] = append(per[d.Name], files...)
				mu.Unlock()
				return -1, tc.refuse, nil
			}}
			o, clk := newOutbox(t, fs, pacs, console)
			if _, err := o.Enqueue("1.2.3", "v1", results); err != nil {
				t.Fatal(err)
			}
			o.RunDue(context.Background())
			clk.Add(time.Hour)
			o.RunDue(context.Background())
			if d := cmp.Diff(tc.wantPer, per); d != "" {
				t.Fatalf("sent per destination (-want +got):\n%s", d)
			}
			st := o.Status()
			if st.Delivered != 2 {
				t.Fatalf("status %+v", st)
			}
			refused := 0
			for _, j := range o.Jobs() {
				for _, f := range j.Files {
					if f.State == FileRefused {
						refused++
					}
				}
			}
			if refused != tc.refused {
				t.Fatalf("%d refused files, want %d", refused, tc.refused)
			}
		})
	}
}

func TestSourceChangedRegenerates(t *testing.T) {
	fs := &fakeSender{}
	o, _ := newOutbox(t, fs, pacs, console)
	version := "v1"
	o.SourceVersion = func(string) (string, error) { return version, nil }
	var regen []string
	o.Regenerate = func(s string) { regen = append(regen, s) }
	if _, err := o.Enqueue("1.2.3", "v1", results); err != nil {
		t.Fatal(err)
	}
	version = "v2" // more images arrived after the results were made
	if n := o.RunDue(context.Background()); n != 0 {
		t.Fatalf("%d attempts with stale results", n)
	}
	if len(fs.calls) != 0 || len(regen) != 1 || regen[0] != "1.2.3" {
		t.Fatalf("calls %v regenerate %v", fs.calls, regen)
	}
	if st := o.Status(); st.Superseded != 2 || st.Pending != 0 {
		t.Fatalf("status %+v", st)
	}
	// The regenerated results go out.
	if _, err := o.Enqueue("1.2.3", "v2", results); err != nil {
		t.Fatal(err)
	}
	o.RunDue(context.Background())
	if st := o.Status(); st.Delivered != 2 {
		t.Fatalf("status %+v", st)
	}
}

func TestNewerResultsSupersede(t *testing.T) {
	fs := &fakeSender{fail: func(int, config.Destination, []string) (int, map[string]bool, error) {
		return 0, nil, errors.New("down")
	}}
	o, _ := newOutbox(t, fs, pacs)
	o.Enqueue("1.2.3", "v1", results)
	o.RunDue(context.Background())
	o.Enqueue("1.2.3", "v2", results)
	st := o.Status()
	if st.Pending != 1 || st.Superseded != 1 || st.Jobs[0].Attempts != 0 {
		t.Fatalf("status %+v", st)
	}
	if _, err := o.Enqueue("1.2.3", "v2", results, "nowhere"); !errors.Is(err, ErrUnknownDestination) {
		t.Fatalf("unknown destination: %v", err)
	}
}

func TestRestore(t *testing.T) {
	o, _ := newOutbox(t, &fakeSender{}, pacs, console)
	o.Enqueue("1.2.3", "v1", results)
	saved := o.Jobs()
	o2, _ := newOutbox(t, &fakeSender{}, pacs) // console removed from the site file
	o2.Restore(saved)
	restored := o2.Jobs()
	if len(restored) != 2 || saved[0].Destination != "pacs" {
		t.Fatalf("saved %d jobs, restored %d", len(saved), len(restored))
	}
	if d := cmp.Diff(saved[0], restored[0]); d != "" {
		t.Fatalf("restored pacs job differs:\n%s", d)
	}
	st := o2.Status()
	if st.Pending != 1 || st.Dead != 1 {
		t.Fatalf("after restore %+v", st)
	}
	for _, j := range st.Jobs {
		if j.State == Dead && j.Destination != "console" {
			t.Fatalf("wrong job dead-lettered: %+v", j)
		}
	}
}

func TestNewErrors(t *testing.T) {
	clk := &fakeClock{}
	if _, err := New([]config.Destination{pacs, pacs}, &fakeSender{}, clk, policy); err == nil {
		t.Fatal("duplicate destination accepted")
	}
	if _, err := New(nil, nil, clk, policy); err == nil {
		t.Fatal("nil sender accepted")
	}
	if _, err := New(nil, &fakeSender{}, clk, Policy{}); err == nil {
		t.Fatal("zero policy accepted")
	}
}

// TestPersist records every state change, as the daemon does in the cache.
func TestPersist(t *testing.T) {
	fs := &fakeSender{fail: func(n int, _ config.Destination, _ []string) (int, map[string]bool, error) {
		if n == 0 {
			return 0, nil, errors.New("down")
		}
		return -1, nil, nil
	}}
	o, clk := newOutbox(t, fs, pacs)
	var states []State
	o.Persist = func(j Job) error {
		states = append(states, j.State)
		_ = o.Status() // the callback may read the outbox: no lock is held
		return nil
	}
	o.Enqueue("1.2.3", "v1", results)
	o.RunDue(context.Background())
	clk.Add(time.Second)
	o.RunDue(context.Background())
	if d := cmp.Diff([]State{Pending, Pending, Delivered}, states); d != "" {
		t.Fatalf("persisted states (-want +got):\n%s", d)
	}
}

// TestFinishedJobsForgotten: the outbox keeps only the latest keepFinished
// delivered or superseded jobs in memory (the Persist hook holds the rest),
// restored or delivered, so a box's memory and every RunDue's scan do not
// grow with its history; pending and dead jobs are always kept.
func TestFinishedJobsForgotten(t *testing.T) {
	fs := &fakeSender{stored: map[string]int{}}
	o, clk := newOutbox(t, fs, pacs)
	t0 := clk.Now()
	var old []Job
	for i := range keepFinished + 40 {
		old = append(old, Job{ID: fmt.Sprintf("old-%d", i), Destination: "pacs", State: Delivered, Done: t0.Add(time.Duration(i) * time.Second)})
	}
	old = append(old, Job{ID: "dead", Destination: "pacs", State: Dead, Done: t0}, Job{ID: "waiting", Destination: "pacs", State: Pending, NextAttempt: t0.Add(time.Hour)})
	o.Restore(old)
	count := func() (finished int, kept map[string]bool) {
		kept = map[string]bool{}
		for _, j := range o.Jobs() {
			kept[j.ID] = true
			if j.State == Delivered || j.State == Superseded {
				finished++
			}
		}
		return finished, kept
	}
	if n, kept := count(); n != keepFinished || !kept["dead"] || !kept["waiting"] || kept["old-0"] || !kept[fmt.Sprintf("old-%d", keepFinished+39)] {
		t.Fatalf("after Restore: %d finished kept (want %d, the newest), dead kept %v, pending kept %v, oldest kept %v", n, keepFinished, kept["dead"], kept["waiting"], kept["old-0"])
	}
	for i := range 10 {
		clk.Add(time.Hour)
		if _, err := o.Enqueue(fmt.Sprintf("1.2.3.%d", i), "v1", results); err != nil {
			t.Fatal(err)
		}
		o.RunDue(context.Background())
	}
	if n, kept := count(); n > keepFinished+1 || !kept["dead"] || !kept["waiting"] {
		t.Fatalf("after 10 deliveries: %d finished kept (want at most %d, the newest pruned at the next enqueue), dead %v, pending %v", n, keepFinished+1, kept["dead"], kept["waiting"])
	}
}
