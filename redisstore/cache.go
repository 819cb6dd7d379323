package redisstore

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/oidcsession/oidcsession"
)

// cache holds this replica's recently read or written records, so a
// request whose session did not change costs no round trip.
//
// It is correct because every write of a record publishes an invalidation
// (events.go), and:
//   - a read or write reserves its entry before it goes to Redis, and fills
//     it only if no invalidation removed the reservation meanwhile, so a
//     reply that raced a newer write is never cached;
//   - losing the subscription clears the cache (messages may have been
//     lost), and so does getting it back;
//   - hits are served only while the channel answers pings: a pong proves
//     every invalidation published before its ping has been applied, so a
//     cached record is never older than trustFor (events.go) even when the
//     connection silently stalls.
type cache struct {
	max     int
	start   time.Time    // the origin of trusted
	trusted atomic.Int64 // hits are served until start+trusted

	mu      sync.RWMutex
	entries map[string]*entry
	epoch   uint64 // bumped when the subscription is lost or regained
	up      bool   // subscribed: invalidations are arriving
}

// entry is a cached record, or a reservation (rec nil) for one in flight.
type entry struct {
	rec   *oidcsession.Record
	gen   uint64 // a write's reservation: the generation it writes
	epoch uint64
}

func newCache(max int) *cache {
	return &cache{max: max, start: time.Now(), entries: map[string]*entry{}}
}

// get returns the cached record of id if it may be served at now.
func (c *cache) get(id string, now time.Time) (*oidcsession.Record, bool) {
	if c.max == 0 || now.Sub(c.start) >= time.Duration(c.trusted.Load()) {
		return nil, false
	}
	c.mu.RLock()
	e := c.entries[id]
	var rec *oidcsession.Record
	if e != nil {
		rec = e.rec
	}
	c.mu.RUnlock()
	if rec == nil || !now.Before(rec.Expires) {
		return nil, false
	}
	return rec, true
}

// reserve marks id as being read (gen 0) or written as generation gen;
// nil when nothing may be cached now.
func (c *cache) reserve(id string, gen uint64) *entry {
	if c.max == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.up {
		return nil
	}
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
		for victim := range c.entries { // map order: a random victim
			delete(c.entries, victim)
			break
		}
	}
	e := &entry{gen: gen, epoch: c.epoch}
	c.entries[id] = e
	return e
}

// fill caches rec in e if e is still id's reservation.
func (c *cache) fill(id string, e *entry, rec *oidcsession.Record) {
	if e == nil {
		return
	}
	c.mu.Lock()
	if c.entries[id] == e && e.epoch == c.epoch {
		e.rec = rec
	}
	c.mu.Unlock()
}

// cancel drops e if it is still id's reservation.
func (c *cache) cancel(id string, e *entry) {
	if e == nil {
		return
	}
	c.mu.Lock()
	if c.entries[id] == e {
		delete(c.entries, id)
	}
	c.mu.Unlock()
}

// invalidate applies "record id is now at generation gen" (0: gone): an
// entry for that very generation (this replica's own write, or a read of
// it) stays, anything else goes.
func (c *cache) invalidate(id string, gen uint64) {
	if c.max == 0 {
		return
	}
	c.mu.Lock()
	if e := c.entries[id]; e != nil {
		same := gen != 0 && (e.gen == gen || e.rec != nil && e.rec.Generation == gen)
		if !same {
			delete(c.entries, id)
		}
	}
	c.mu.Unlock()
}

// reset empties the cache when the subscription is lost or regained (up),
// and stops serving hits until a pong vouches for the channel again.
func (c *cache) reset(up bool) {
	c.trusted.Store(0)
	c.mu.Lock()
	c.epoch++
	clear(c.entries)
	c.up = up
	c.mu.Unlock()
}

// trustUntil lets hits be served until t (never moving backwards).
func (c *cache) trustUntil(t time.Time) {
	d := int64(t.Sub(c.start))
	for {
		cur := c.trusted.Load()
		if d <= cur || c.trusted.CompareAndSwap(cur, d) {
			return
		}
	}
}
