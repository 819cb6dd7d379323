package oidcsessiontest

import (
	"sync"
	"time"
)

// Clock is a clock that tests move by hand, safe for concurrent use. Give
// its Now to Config.Now and to oidcsession.WithClock so the provider and
// the application agree on time, and expiry is deterministic.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at start, or at the current second when start
// is zero.
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = time.Now().Truncate(time.Second)
	}
	return &Clock{now: start}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
