package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/dimse"
)

// TestStepsOutliveRestart: a step created before a restart is found by the
// N-SET COMPLETED after it, which gives intake its listing; a step
// completed before a restart gives intake its listing again at the next
// start while within keep, and not after; a step the cache could not
// record is refused and not kept.
func TestStepsOutliveRestart(t *testing.T) {
	dir := t.TempDir()
	store, err := cache.Open(dir, cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var got []map[string][]string
	start := func() *steps {
		t.Helper()
		got = nil
		s, err := newSteps(store, func(m map[string][]string) { got = append(got, m) }, time.Hour, func() time.Time { return now }, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx, remote := context.Background(), netip.MustParseAddrPort("192.0.2.1:4000")
	s := start()
	if err := s.Create(ctx, remote, dimse.PerformedStep{SOPInstanceUID: "1.2.3.1", Status: dimse.StepInProgress, StudyInstanceUIDs: []string{"1.2.3"}}); err != nil {
		t.Fatal(err)
	}
	s = start() // a restart
	if len(got) != 0 {
		t.Fatalf("a step in progress gave intake %v at start", got)
	}
	done := dimse.PerformedStep{SOPInstanceUID: "1.2.3.1", Status: dimse.StepCompleted,
		Series: []dimse.PerformedSeries{{SeriesInstanceUID: "1.2.3.4", Instances: []string{"1.2.3.4.1", "1.2.3.4.2"}}}}
	if err := s.Set(ctx, remote, done); err != nil {
		t.Fatalf("N-SET after a restart: %v", err)
	}
	want := "[map[1.2.3.4:[1.2.3.4.1 1.2.3.4.2]]]"
	if fmt.Sprint(got) != want {
		t.Fatalf("intake got %v, want %s", got, want)
	}
	now = now.Add(30 * time.Minute)
	start()
	if fmt.Sprint(got) != want {
		t.Fatalf("after a second restart within keep, intake got %v, want %s", got, want)
	}
	now = now.Add(time.Hour)
	start()
	if len(got) != 0 {
		t.Fatalf("a step completed beyond keep gave intake %v", got)
	}

	s = start()
	store.Close()
	err = s.Create(ctx, remote, dimse.PerformedStep{SOPInstanceUID: "1.2.3.9", Status: dimse.StepInProgress})
	if err == nil {
		t.Fatal("a step the cache could not record was accepted")
	}
	if err := s.Set(ctx, remote, dimse.PerformedStep{SOPInstanceUID: "1.2.3.9", Status: dimse.StepCompleted}); !errors.Is(err, dimse.ErrNoSuchStep) {
		t.Errorf("N-SET of a step that was refused: %v, want ErrNoSuchStep", err)
	}
}

// TestStepsBounded: at most maxSteps steps are kept, in the cache too; the
// oldest goes first.
func TestStepsBounded(t *testing.T) {
	store, err := cache.Open(t.TempDir(), cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	s, err := newSteps(store, func(map[string][]string) {}, time.Hour, func() time.Time { now = now.Add(time.Second); return now }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxSteps + 5 {
		if err := s.Create(context.Background(), netip.AddrPort{}, dimse.PerformedStep{SOPInstanceUID: fmt.Sprintf("1.2.%d", i), Status: dimse.StepInProgress}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	store.View(func(tx *cache.Tx) error { return tx.Steps(func(cache.Step) error { n++; return nil }) })
	if n != maxSteps || len(s.byUID) != maxSteps {
		t.Fatalf("%d steps recorded, %d in memory; want %d", n, len(s.byUID), maxSteps)
	}
	if _, ok := s.byUID["1.2.4"]; ok {
		t.Error("the oldest steps were kept")
	}
	if _, ok := s.byUID[fmt.Sprintf("1.2.%d", maxSteps+4)]; !ok {
		t.Error("the newest step was dropped")
	}
}
