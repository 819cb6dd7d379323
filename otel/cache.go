package otel

import (
	"context"
	"errors"
	"math"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/oidcsession/oidcsession"
)

var (
	hit  = metric.WithAttributeSet(attribute.NewSet(CacheResultKey.String("hit")))
	miss = metric.WithAttributeSet(attribute.NewSet(CacheResultKey.String("miss")))
)

// cacheObserver reports the cache figures of the Middlewares it observes
// as one asynchronous counter: the lookups each had since it was first
// observed, plus those of Middlewares no longer observed. One callback
// sums them, so the counter never goes down and nothing is counted twice.
type cacheObserver struct {
	lookups metric.Int64ObservableCounter

	mu           sync.Mutex
	observed     map[*oidcsession.Middleware]*observation
	hits, misses uint64 // of Middlewares no longer observed
	ever         bool   // nothing is reported before the first ObserveCache
}

// observation is one observed Middleware.
type observation struct {
	holders      int    // ObserveCache calls not yet stopped
	hits, misses uint64 // its CacheStats when first observed
}

func (c *cacheObserver) register(m metric.Meter) error {
	var err error
	c.lookups, err = m.Int64ObservableCounter("oidcsession.cache.lookups", metric.WithUnit("{lookup}"),
		metric.WithDescription("Lookups of a request's session in the cache of opened cookies (or, with a Store, records), by result."))
	if err != nil {
		return err
	}
	c.observed = map[*oidcsession.Middleware]*observation{}
	_, err = m.RegisterCallback(c.observe, c.lookups)
	return err
}

// ObserveCache reports the lookups in m's cache (Middleware.CacheStats)
// from now on as oidcsession.cache.lookups, at every collection, until
// stop is called (stop may be called more than once). The lookups of
// several Middlewares add up, and those of a stopped one stay counted.
// Call it once the Middleware exists, since the Options come first.
func (i *Instrumentation) ObserveCache(m *oidcsession.Middleware) (stop func(), err error) {
	if m == nil {
		return nil, errors.New("oidcsession/otel: ObserveCache: Middleware is nil")
	}
	c := &i.cache
	c.mu.Lock()
	o := c.observed[m]
	if o == nil {
		o = &observation{}
		o.hits, o.misses = m.CacheStats()
		c.observed[m] = o
	}
	o.holders++
	c.ever = true
	c.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { c.forget(m) }) }, nil
}

// forget ends one holder's observation of m; with the last, m's lookups
// so far are kept and m is let go.
func (c *cacheObserver) forget(m *oidcsession.Middleware) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.observed[m]
	if o.holders--; o.holders > 0 {
		return
	}
	delete(c.observed, m)
	h, ms := m.CacheStats()
	c.hits += h - o.hits
	c.misses += ms - o.misses
}

func (c *cacheObserver) observe(_ context.Context, obs metric.Observer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ever {
		return nil
	}
	hits, misses := c.hits, c.misses
	for m, o := range c.observed {
		h, ms := m.CacheStats()
		hits += h - o.hits
		misses += ms - o.misses
	}
	obs.ObserveInt64(c.lookups, clamp(hits), hit)
	obs.ObserveInt64(c.lookups, clamp(misses), miss)
	return nil
}

func clamp(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}
