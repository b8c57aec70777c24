package watchdog_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"metsentry/hal/clock/clocktest"
	"metsentry/hal/watchdog"
	"metsentry/hal/watchdog/watchdogtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestKeeperStopsPettingWhenTheLoopStalls(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	wd := &watchdogtest.Watchdog{T: 30 * time.Second}
	k := watchdog.NewKeeper(wd, watchdog.KeeperConfig{Clock: clk, Logger: quiet}) // every 10s, stall 15s
	steps := []struct {
		name    string
		advance time.Duration
		alive   bool
		petted  bool
	}{
		{"start", 0, false, true},
		{"loop alive", 10 * time.Second, true, true},
		{"loop quiet 10s", 10 * time.Second, false, true},
		{"loop quiet 20s: stalled", 10 * time.Second, false, false},
		{"still stalled", 10 * time.Second, false, false},
		{"loop back", 10 * time.Second, true, true},
	}
	want := 0
	for _, s := range steps {
		clk.Advance(s.advance)
		if s.alive {
			k.Alive()
		}
		petted, err := k.Check()
		if err != nil {
			t.Fatal(err)
		}
		if petted != s.petted {
			t.Errorf("%s: petted = %v, want %v", s.name, petted, s.petted)
		}
		if s.petted {
			want++
		}
		if wd.Pets() != want {
			t.Errorf("%s: pets = %d, want %d", s.name, wd.Pets(), want)
		}
	}
}

func TestKeeperRunPetsAndDisarmsOnCleanStop(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	wd := &watchdogtest.Watchdog{T: 3 * time.Second}
	k := watchdog.NewKeeper(wd, watchdog.KeeperConfig{Clock: clk, Logger: quiet, Every: time.Second, Stall: 1500 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- k.Run(ctx) }()
	waitPets := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for wd.Pets() < n {
			if time.Now().After(deadline) {
				t.Fatalf("pets = %d, want %d", wd.Pets(), n)
			}
			time.Sleep(time.Millisecond) // waiting for the Run goroutine, not for a timer
		}
	}
	waitPets(1)
	for clk.Pending() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 2; i <= 4; i++ {
		k.Alive()
		clk.Advance(time.Second)
		waitPets(i)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !wd.Halted() {
		t.Error("a clean stop did not disarm the watchdog")
	}
	if err := wd.Pet(); err == nil {
		t.Error("the fake accepted a pet after halt")
	}
}

func TestKeeperDefaults(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	wd := &watchdogtest.Watchdog{T: 60 * time.Second}
	k := watchdog.NewKeeper(wd, watchdog.KeeperConfig{Clock: clk, Logger: quiet})
	clk.Advance(29 * time.Second)
	if ok, _ := k.Check(); !ok {
		t.Error("not petted 29s after the last sign of life with a 60s watchdog (stall default is 30s)")
	}
	clk.Advance(time.Second)
	if ok, _ := k.Check(); ok {
		t.Error("petted 30s after the last sign of life with a 60s watchdog")
	}
}
