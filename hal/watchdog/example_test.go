package watchdog_test

import (
	"context"
	"fmt"
	"time"

	"metsentry/hal/clock/clocktest"
	"metsentry/hal/watchdog"
	"metsentry/hal/watchdog/watchdogtest"
)

// The daemon's main loop calls Alive each time round; the keeper pets the
// watchdog only while those calls keep coming. In the appliance wd comes from
// watchdog.Open(board.Watchdog.Device, board.Watchdog.Timeout) and the clock
// is clock.System().
func ExampleKeeper() {
	clk := clocktest.New(time.Unix(0, 0))
	wd := &watchdogtest.Watchdog{T: 60 * time.Second}
	k := watchdog.NewKeeper(wd, watchdog.KeeperConfig{Clock: clk, Logger: quiet})

	k.Alive() // main loop healthy
	ok, _ := k.Check()
	fmt.Println("petted:", ok)

	clk.Advance(45 * time.Second) // the main loop hangs
	ok, _ = k.Check()
	fmt.Println("petted after a 45s stall:", ok)

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a clean stop disarms it
	_ = k.Run(ctx)
	fmt.Println("disarmed:", wd.Halted())
	// Output:
	// petted: true
	// petted after a 45s stall: false
	// disarmed: true
}
