// Package thermaltest has a fake thermal.Zone whose state is plain fields.
package thermaltest

import (
	"sync"

	"metsentry/hal/thermal"
)

// Zone is a fake sensor: set C (or Err) and Check reads it.
type Zone struct {
	ZoneName string
	Err      error

	mu     sync.Mutex
	c      float64
	Halted bool
}

var _ thermal.Zone = (*Zone)(nil)

// Set sets the temperature the zone reports.
func (z *Zone) Set(c float64) {
	z.mu.Lock()
	z.c = c
	z.mu.Unlock()
}

// Name returns ZoneName.
func (z *Zone) Name() string { return z.ZoneName }

// Celsius returns the set temperature or Err.
func (z *Zone) Celsius() (float64, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.c, z.Err
}

// String names the fake.
func (z *Zone) String() string { return "fake thermal " + z.ZoneName }

// Halt marks the zone halted.
func (z *Zone) Halt() error {
	z.mu.Lock()
	z.Halted = true
	z.mu.Unlock()
	return nil
}
