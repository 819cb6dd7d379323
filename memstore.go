package oidcsession

import (
	"context"
	"slices"
	"sync"
	"time"
)

// NewMemoryStore returns a Store that keeps everything in this process's
// memory: server-side sessions that can be revoked, and grant coordination,
// for a single replica (or tests). Records and published values expire on
// time, so the refresh tokens they hold do not linger.
func NewMemoryStore() Store { return newMemory() }

// memory is the in-process Store, and the default Coordinator.
type memory struct {
	mu       sync.Mutex
	records  map[string]*Record
	index    map[string]map[string]bool // index key -> ids
	claims   map[string]*memEntry
	values   map[string]*memEntry
	watchers map[string]map[chan struct{}]bool
}

type memEntry struct {
	value   []byte
	expires time.Time
	timer   *time.Timer
}

func newMemory() *memory {
	return &memory{
		records: map[string]*Record{}, index: map[string]map[string]bool{},
		claims: map[string]*memEntry{}, values: map[string]*memEntry{},
		watchers: map[string]map[chan struct{}]bool{},
	}
}

// set puts value under key in table for ttl, dropping it when ttl ends.
// m.mu must be held.
func (m *memory) set(table map[string]*memEntry, key string, value []byte, ttl time.Duration) {
	if old := table[key]; old != nil {
		old.timer.Stop()
	}
	e := &memEntry{value: slices.Clone(value), expires: time.Now().Add(ttl)}
	e.timer = time.AfterFunc(ttl, func() {
		m.mu.Lock()
		if table[key] == e {
			delete(table, key)
		}
		m.mu.Unlock()
	})
	table[key] = e
}

func (m *memory) Claim(_ context.Context, key string, value []byte, ttl time.Duration) (Claimed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var c Claimed
	if e := m.values[key]; e != nil && time.Now().Before(e.expires) {
		c.Published = slices.Clone(e.value)
	}
	if e := m.claims[key]; e != nil && time.Now().Before(e.expires) {
		c.Held = slices.Clone(e.value)
		return c, nil
	}
	m.set(m.claims, key, value, ttl)
	c.Taken, c.Held = true, slices.Clone(value)
	return c, nil
}

func (m *memory) Release(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.release(key, value)
	return nil
}

// release deletes the claim on key if it holds value. m.mu must be held.
func (m *memory) release(key string, value []byte) {
	if e := m.claims[key]; e != nil && string(e.value) == string(value) {
		e.timer.Stop()
		delete(m.claims, key)
	}
}

func (m *memory) Settle(_ context.Context, key string, claim, outcome []byte, ttl time.Duration, rec *Record, prev uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rec != nil {
		if err := m.put(rec, prev); err != nil {
			return err
		}
	}
	m.publish(key, outcome, ttl)
	m.release(key, claim)
	return nil
}

func (m *memory) Publish(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.publish(key, value, ttl)
	return nil
}

// publish stores value and wakes the watchers of key. m.mu must be held.
func (m *memory) publish(key string, value []byte, ttl time.Duration) {
	m.set(m.values, key, value, ttl)
	for ch := range m.watchers[key] {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

func (m *memory) Lookup(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.values[key]; e != nil && time.Now().Before(e.expires) {
		return slices.Clone(e.value), nil
	}
	return nil, ErrNotFound
}

func (m *memory) Watch(ctx context.Context, key string) (<-chan struct{}, error) {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	if m.watchers[key] == nil {
		m.watchers[key] = map[chan struct{}]bool{}
	}
	m.watchers[key][ch] = true
	m.mu.Unlock()
	context.AfterFunc(ctx, func() {
		m.mu.Lock()
		delete(m.watchers[key], ch)
		if len(m.watchers[key]) == 0 {
			delete(m.watchers, key)
		}
		m.mu.Unlock()
	})
	return ch, nil
}

func (m *memory) Get(_ context.Context, id string) (*Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.records[id]
	if r == nil || !time.Now().Before(r.Expires) {
		return nil, ErrNotFound
	}
	return cloneRecord(r), nil
}

func (m *memory) Put(_ context.Context, rec *Record, prev uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.put(rec, prev)
}

// put is Put with m.mu held.
func (m *memory) put(rec *Record, prev uint64) error {
	var gen uint64
	if r := m.records[rec.ID]; r != nil && time.Now().Before(r.Expires) {
		gen = r.Generation
	}
	if gen != prev {
		return ErrConflict
	}
	m.unindex(rec.ID)
	m.records[rec.ID] = cloneRecord(rec)
	for _, k := range rec.Index {
		if m.index[k] == nil {
			m.index[k] = map[string]bool{}
		}
		m.index[k][rec.ID] = true
	}
	m.sweep()
	return nil
}

func (m *memory) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unindex(id)
	delete(m.records, id)
	return nil
}

func (m *memory) List(_ context.Context, index string) ([]*Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Record
	for id := range m.index[index] {
		if r := m.records[id]; r != nil && time.Now().Before(r.Expires) {
			out = append(out, cloneRecord(r))
		}
	}
	slices.SortFunc(out, func(a, b *Record) int { return a.Written.Compare(b.Written) })
	return out, nil
}

// unindex removes id from every index. m.mu must be held.
func (m *memory) unindex(id string) {
	if r := m.records[id]; r != nil {
		for _, k := range r.Index {
			delete(m.index[k], id)
			if len(m.index[k]) == 0 {
				delete(m.index, k)
			}
		}
	}
}

// sweep drops expired records, a few per write, so memory stays bounded by
// the live sessions. m.mu must be held.
func (m *memory) sweep() {
	now, n := time.Now(), 0
	for id, r := range m.records {
		if n++; n > 8 {
			return
		}
		if !now.Before(r.Expires) {
			m.unindex(id)
			delete(m.records, id)
		}
	}
}

func cloneRecord(r *Record) *Record {
	c := *r
	c.Index = slices.Clone(r.Index)
	c.Sealed = slices.Clone(r.Sealed)
	return &c
}
