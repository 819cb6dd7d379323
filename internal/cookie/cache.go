package cookie

import (
	"sync"
	"sync/atomic"
)

// Opened remembers what values decoded to once their MAC was verified,
// keyed by the exact value. A browser sends the same cookie on every
// request until it changes, and opening a 3.3 KB value with securecookie
// (two base64 passes, HMAC, AES) costs about 9 µs, far more than
// everything else a request does. A hit needs the byte-for-byte same value
// (Go's map compares the whole key), so it proves exactly what a fresh MAC
// check would. Cached values must be immutable: they are shared.
type Opened[V any] struct {
	mu       sync.RWMutex
	entries  map[string]V
	bytes    int
	maxBytes int
	overhead int // what an entry costs beyond its key

	// Lookups are counted once someone asked for the figures, so a cache
	// nobody observes adds no shared write to every request.
	counting     atomic.Bool
	hits, misses atomic.Uint64
}

// NewOpened returns a cache bounded to maxBytes, counting each entry as
// its key's length plus overhead (what the value points into, and the
// map's own share), or nil (which caches nothing) for maxBytes <= 0.
func NewOpened[V any](maxBytes, overhead int) *Opened[V] {
	if maxBytes <= 0 {
		return nil
	}
	return &Opened[V]{entries: map[string]V{}, maxBytes: maxBytes, overhead: overhead}
}

// Get returns the value value decoded to.
func (c *Opened[V]) Get(value string) (V, bool) {
	if c == nil {
		var zero V
		return zero, false
	}
	c.mu.RLock()
	v, ok := c.entries[value]
	c.mu.RUnlock()
	switch {
	case !c.counting.Load():
	case ok:
		c.hits.Add(1)
	default:
		c.misses.Add(1)
	}
	return v, ok
}

// Stats reports how many Gets found their value and how many did not,
// counted from the first call of Stats.
func (c *Opened[V]) Stats() (hits, misses uint64) {
	if c == nil {
		return 0, 0
	}
	c.counting.Store(true)
	return c.hits.Load(), c.misses.Load()
}

// Put adds or replaces an entry, first evicting arbitrary entries (Go's map order is
// random) until it fits, so the cache never grows past maxBytes.
func (c *Opened[V]) Put(value string, v V) {
	if c == nil {
		return
	}
	size := len(value) + c.overhead
	if size > c.maxBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[value]; ok {
		c.entries[value] = v // a newer value under the same key
		return
	}
	for k := range c.entries {
		if c.bytes+size <= c.maxBytes {
			break
		}
		c.bytes -= len(k) + c.overhead
		delete(c.entries, k)
	}
	c.entries[value] = v
	c.bytes += size
}
