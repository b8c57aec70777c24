package watchdog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"metsentry/hal/clock"
)

// Watchdog is a hardware watchdog.
type Watchdog interface {
	// Pet restarts the countdown.
	Pet() error
	// Timeout is the countdown the device was set to.
	Timeout() time.Duration
	// String names the device.
	String() string
	// Halt disarms the watchdog (magic close) and releases it. Only a clean
	// stop calls Halt: after a crash the watchdog stays armed and resets the
	// board.
	Halt() error
}

// KeeperConfig sets up a Keeper.
type KeeperConfig struct {
	// Every is how often the keeper considers petting; 0 means a third of the
	// watchdog's timeout.
	Every time.Duration
	// Stall is how long the main loop may go without calling Alive before
	// petting stops; 0 means half the watchdog's timeout.
	Stall  time.Duration
	Clock  clock.Clock  // nil means the system clock
	Logger *slog.Logger // nil means slog.Default()
}

// Keeper pets a watchdog only while the main loop is healthy.
type Keeper struct {
	wd  Watchdog
	cfg KeeperConfig

	mu        sync.Mutex
	lastAlive time.Time
	stalled   bool
}

// NewKeeper returns a keeper for wd. The main loop counts as alive at the
// start.
func NewKeeper(wd Watchdog, cfg KeeperConfig) *Keeper {
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Every <= 0 {
		cfg.Every = wd.Timeout() / 3
	}
	if cfg.Stall <= 0 {
		cfg.Stall = wd.Timeout() / 2
	}
	return &Keeper{wd: wd, cfg: cfg, lastAlive: cfg.Clock.Now()}
}

// Alive is called by the main loop each time round; it says the loop is
// healthy.
func (k *Keeper) Alive() {
	k.mu.Lock()
	k.lastAlive = k.cfg.Clock.Now()
	k.mu.Unlock()
}

// Check pets the watchdog if the main loop was alive within Stall and
// reports whether it did.
func (k *Keeper) Check() (bool, error) {
	k.mu.Lock()
	since := k.cfg.Clock.Now().Sub(k.lastAlive)
	healthy := since < k.cfg.Stall
	was := k.stalled
	k.stalled = !healthy
	k.mu.Unlock()
	if !healthy {
		if !was {
			k.cfg.Logger.Error("watchdog: main loop stalled; no longer petting, the board will reset", "since_alive", since, "watchdog", k.wd.String())
		}
		return false, nil
	}
	if was {
		k.cfg.Logger.Warn("watchdog: main loop alive again; petting", "watchdog", k.wd.String())
	}
	if err := k.wd.Pet(); err != nil {
		return false, fmt.Errorf("watchdog: pet %s: %w", k.wd, err)
	}
	return true, nil
}

// Run calls Check every Every until ctx is done, then disarms the watchdog
// (a clean stop). It returns the error of Halt.
func (k *Keeper) Run(ctx context.Context) error {
	t := k.cfg.Clock.NewTicker(k.cfg.Every)
	defer t.Stop()
	if _, err := k.Check(); err != nil {
		k.cfg.Logger.Error("watchdog: pet failed", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			if err := k.wd.Halt(); err != nil {
				return fmt.Errorf("watchdog: disarm on a clean stop: %w", err)
			}
			return nil
		case <-t.C():
			if _, err := k.Check(); err != nil {
				k.cfg.Logger.Error("watchdog: pet failed", "err", err)
			}
		}
	}
}
