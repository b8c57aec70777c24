package thermal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"metsentry/hal/clock"
)

// Zone is one temperature sensor.
type Zone interface {
	// Name is the zone's type, e.g. cpu-thermal.
	Name() string
	// Celsius reads the temperature.
	Celsius() (float64, error)
	// String names the zone and where it is read.
	String() string
	// Halt releases the zone; it is inert after.
	Halt() error
}

// Level is how hot the board is.
type Level int

// Levels.
const (
	Normal   Level = iota
	Throttle       // above the throttle limit: slow inference down
	Critical       // above the critical limit: fault on the panel
)

func (l Level) String() string {
	switch l {
	case Normal:
		return "normal"
	case Throttle:
		return "throttle"
	case Critical:
		return "critical"
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// DefaultHysteresis is how far below a limit the temperature must fall
// before the limit's effect is lifted.
const DefaultHysteresis = 3.0

// Config sets up a Monitor.
type Config struct {
	Zones      []Zone
	ThrottleC  float64
	CriticalC  float64
	Hysteresis float64       // 0 means DefaultHysteresis
	Every      time.Duration // how often Run reads; 0 means 5 s
	Clock      clock.Clock   // nil means the system clock
	Logger     *slog.Logger  // nil means slog.Default()
	// Throttle is called with true when inference must slow down and with
	// false when it may run at full speed again. May be nil.
	Throttle func(on bool)
	// Fault is called with true when the board is critically hot (the panel
	// shows a fault) and false when it has cooled. May be nil.
	Fault func(on bool)
}

// ZoneReading is one zone's last reading.
type ZoneReading struct {
	Name string
	C    float64
	Err  error
}

// Reading is the result of one Check.
type Reading struct {
	Level   Level
	Hottest string  // name of the hottest zone read
	MaxC    float64 // its temperature
	Zones   []ZoneReading
}

// Monitor turns zone temperatures into throttle and fault decisions. It is
// safe for concurrent use.
type Monitor struct {
	cfg Config

	mu    sync.Mutex
	level Level
	last  Reading
}

// NewMonitor returns a monitor at Normal.
func NewMonitor(cfg Config) (*Monitor, error) {
	if len(cfg.Zones) > 0 && (cfg.ThrottleC <= 0 || cfg.CriticalC <= cfg.ThrottleC) {
		return nil, fmt.Errorf("thermal: limits throttle %g °C, critical %g °C are not usable (expected 0 < throttle < critical)", cfg.ThrottleC, cfg.CriticalC)
	}
	if cfg.Hysteresis <= 0 {
		cfg.Hysteresis = DefaultHysteresis
	}
	if cfg.Every <= 0 {
		cfg.Every = 5 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Monitor{cfg: cfg}, nil
}

// Throttled reports whether inference should run slowed down now.
func (m *Monitor) Throttled() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.level >= Throttle
}

// Last returns the last reading.
func (m *Monitor) Last() Reading {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// Check reads every zone, updates the level and calls Throttle and Fault on
// a change. A zone that cannot be read is reported in the reading and left
// out; if no zone can be read the level is kept.
func (m *Monitor) Check() Reading {
	r := Reading{MaxC: -274}
	ok := false
	for _, z := range m.cfg.Zones {
		c, err := z.Celsius()
		r.Zones = append(r.Zones, ZoneReading{Name: z.Name(), C: c, Err: err})
		if err != nil {
			continue
		}
		ok = true
		if c > r.MaxC {
			r.MaxC, r.Hottest = c, z.Name()
		}
	}
	m.mu.Lock()
	old := m.level
	if ok {
		m.level = m.next(old, r.MaxC)
	}
	r.Level = m.level
	m.last = r
	m.mu.Unlock()
	if r.Level != old {
		m.cfg.Logger.Warn("thermal: level changed", "from", old.String(), "to", r.Level.String(), "zone", r.Hottest, "celsius", r.MaxC)
		if (old >= Throttle) != (r.Level >= Throttle) && m.cfg.Throttle != nil {
			m.cfg.Throttle(r.Level >= Throttle)
		}
		if (old == Critical) != (r.Level == Critical) && m.cfg.Fault != nil {
			m.cfg.Fault(r.Level == Critical)
		}
	}
	return r
}

// next is the level after reading c at level cur, with hysteresis.
func (m *Monitor) next(cur Level, c float64) Level {
	h := m.cfg.Hysteresis
	switch {
	case c > m.cfg.CriticalC:
		return Critical
	case cur == Critical && c > m.cfg.CriticalC-h:
		return Critical
	case c > m.cfg.ThrottleC:
		return Throttle
	case cur >= Throttle && c > m.cfg.ThrottleC-h:
		return Throttle
	}
	return Normal
}

// Run checks every Every until ctx is done, then halts the zones.
func (m *Monitor) Run(ctx context.Context) error {
	t := m.cfg.Clock.NewTicker(m.cfg.Every)
	defer t.Stop()
	m.Check()
	for {
		select {
		case <-ctx.Done():
			var errs []error
			for _, z := range m.cfg.Zones {
				errs = append(errs, z.Halt())
			}
			return errors.Join(errs...)
		case <-t.C():
			m.Check()
		}
	}
}
