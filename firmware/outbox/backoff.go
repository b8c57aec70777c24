package outbox

import (
	"fmt"
	"time"
)

// Policy sets the retry schedule: after failed attempt n (1, 2, …) the next
// waits Base·2^(n-1), at most Max; after MaxAttempts failed attempts the
// job is dead-lettered.
type Policy struct {
	Base        time.Duration
	Max         time.Duration
	MaxAttempts int
}

// DefaultPolicy retries after 30 s, 1 min, 2 min … up to 30 min between
// tries, and gives up after 12 failed attempts (about 3.5 hours), long
// enough to ride out a PACS restart or a night-time maintenance window.
var DefaultPolicy = Policy{Base: 30 * time.Second, Max: 30 * time.Minute, MaxAttempts: 12}

// Validate checks the policy.
func (p Policy) Validate() error {
	if p.Base <= 0 || p.Max < p.Base || p.MaxAttempts < 1 {
		return fmt.Errorf("outbox: retry policy base %v, max %v, attempts %d is invalid (expected 0 < base <= max, at least 1 attempt)", p.Base, p.Max, p.MaxAttempts)
	}
	return nil
}

// Delay is the wait after the n-th failed attempt.
func (p Policy) Delay(n int) time.Duration {
	d := p.Base
	for i := 1; i < n; i++ {
		if d >= p.Max/2 {
			return p.Max
		}
		d *= 2
	}
	return min(d, p.Max)
}
