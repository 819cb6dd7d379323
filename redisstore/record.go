package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oidcsession/oidcsession"
)

// Get returns the record of session id: from the local cache when the
// invalidation channel vouches for it (cache.go), else from Redis in one
// round trip.
func (s *Store) Get(ctx context.Context, id string) (*oidcsession.Record, error) {
	if rec, ok := s.cache.get(id, time.Now()); ok {
		return shallow(rec), nil
	}
	e := s.cache.reserve(id, 0)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	vals, err := s.rdb.HMGet(ctx, s.keys.record(id), "g", "r").Result()
	if err != nil {
		s.cache.cancel(id, e)
		return nil, unavailable("get", err)
	}
	rec, err := decodeRecord(id, vals)
	if err != nil || rec == nil || !time.Now().Before(rec.Expires) {
		s.cache.cancel(id, e)
		if err != nil {
			return nil, unavailable("get", err)
		}
		return nil, oidcsession.ErrNotFound
	}
	s.cache.fill(id, e, rec)
	return shallow(rec), nil
}

// shallow copies a cached record so a caller cannot change the cache's
// fields; the byte slices are shared and must not be written to.
func shallow(r *oidcsession.Record) *oidcsession.Record {
	c := *r
	return &c
}

// Put writes rec if the stored generation is prev: its index entries
// first, then the record (with its invalidation), in one pipeline.
func (s *Store) Put(ctx context.Context, rec *oidcsession.Record, prev uint64) error {
	enc := encodeRecord(rec)
	e := s.cache.reserve(rec.ID, rec.Generation)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	cmds, err := s.runScripts(ctx, func(run runFunc) {
		s.addIndex(run, rec)
		run(putScript, []string{s.keys.record(rec.ID)}, strconv.FormatUint(prev, 10), strconv.FormatUint(rec.Generation, 10),
			enc, ms(rec.Expires), s.keys.events(), recordMessage(rec.ID, rec.Generation))
	})
	return s.wrote(rec, e, "put", cmds, err)
}

// wrote settles the cache after a write whose own script is the last of
// cmds: a write that took is cached on this replica, as the generation it
// wrote, so the writer's next read costs no round trip.
func (s *Store) wrote(rec *oidcsession.Record, e *entry, op string, cmds []*redis.Cmd, err error) error {
	if err != nil {
		s.cache.cancel(rec.ID, e)
		return unavailable(op, err)
	}
	if n, _ := cmds[len(cmds)-1].Int(); n != 1 {
		s.cache.cancel(rec.ID, e)
		return oidcsession.ErrConflict
	}
	c := *rec
	c.Index, c.Sealed = slices.Clone(rec.Index), slices.Clone(rec.Sealed)
	s.cache.fill(rec.ID, e, &c)
	return nil
}

// addIndex queues the index entries of rec. They are written before the
// record and are hints: List checks each against the record it names, so
// an entry whose record moved, ended or was never written is skipped (and
// dropped), and a record is never missing from an index its latest Put
// named.
func (s *Store) addIndex(run func(*redis.Script, []string, ...any), rec *oidcsession.Record) {
	now := ms(time.Now())
	for _, ix := range rec.Index {
		run(indexScript, []string{s.keys.index(ix)}, rec.ID, ms(rec.Expires), now)
	}
}

// Delete removes the record of session id, then its index entries.
func (s *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	s.cache.invalidate(id, 0)
	cmds, err := s.runScripts(ctx, func(run runFunc) {
		run(deleteScript, []string{s.keys.record(id)}, s.keys.events(), recordMessage(id, 0))
	})
	s.cache.invalidate(id, 0)
	if err != nil {
		return unavailable("delete", err)
	}
	enc, err := cmds[0].Text()
	if err != nil {
		return nil // there was no record
	}
	old, _ := decodeRecord(id, []any{"0", enc})
	if old == nil || len(old.Index) == 0 {
		return nil
	}
	p := s.rdb.Pipeline()
	for _, ix := range old.Index {
		p.ZRem(ctx, s.keys.index(ix), id)
	}
	_, _ = p.Exec(ctx) // a leftover entry is skipped by List and expires with the record
	return nil
}

// List returns the live records whose latest Put carried index, oldest
// first: the index set's members, each checked against its record.
func (s *Store) List(ctx context.Context, index string) ([]*oidcsession.Record, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ixKey := s.keys.index(index)
	ids, err := s.rdb.ZRangeByScore(ctx, ixKey, &redis.ZRangeBy{Min: "(" + ms(time.Now()), Max: "+inf"}).Result()
	if err != nil {
		return nil, unavailable("list", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	p := s.rdb.Pipeline()
	gets := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		gets[i] = p.HMGet(ctx, s.keys.record(id), "g", "r")
	}
	if _, err := p.Exec(ctx); err != nil {
		return nil, unavailable("list", err)
	}
	var out []*oidcsession.Record
	var stale []any
	for i, id := range ids {
		rec, _ := decodeRecord(id, gets[i].Val())
		if rec == nil || !slices.Contains(rec.Index, index) || !time.Now().Before(rec.Expires) {
			stale = append(stale, id)
			continue
		}
		out = append(out, rec)
	}
	if len(stale) > 0 {
		_ = s.rdb.ZRem(ctx, ixKey, stale...).Err() // best effort: List skips them anyway
	}
	slices.SortFunc(out, func(a, b *oidcsession.Record) int { return a.Written.Compare(b.Written) })
	return out, nil
}

// recordMessage is the invalidation of record id at generation gen (0: it
// is gone).
func recordMessage(id string, gen uint64) string {
	return "r" + strconv.FormatUint(gen, 10) + ":" + id
}

// encodeRecord is the r field of a record's hash: written and expires (unix
// ns), the index keys and the sealed session, length-prefixed. The
// generation is the g field, which the scripts compare.
func encodeRecord(r *oidcsession.Record) string {
	b := make([]byte, 0, 32+len(r.Sealed))
	b = binary.AppendVarint(b, r.Written.UnixNano())
	b = binary.AppendVarint(b, r.Expires.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(r.Index)))
	for _, ix := range r.Index {
		b = binary.AppendUvarint(b, uint64(len(ix)))
		b = append(b, ix...)
	}
	return string(append(b, r.Sealed...))
}

// errMalformed is a record Redis holds that this package did not write.
var errMalformed = errors.New("malformed record")

// decodeRecord reads HMGET g r; nil, nil when there is no record.
func decodeRecord(id string, vals []any) (*oidcsession.Record, error) {
	if len(vals) != 2 || vals[0] == nil || vals[1] == nil {
		return nil, nil
	}
	gs, ok1 := vals[0].(string)
	enc, ok2 := vals[1].(string)
	gen, err := strconv.ParseUint(gs, 10, 64)
	if !ok1 || !ok2 || err != nil {
		return nil, errMalformed
	}
	b := []byte(enc)
	written, n1 := binary.Varint(b)
	b = b[max(n1, 0):]
	expires, n2 := binary.Varint(b)
	b = b[max(n2, 0):]
	count, n3 := binary.Uvarint(b)
	if n1 <= 0 || n2 <= 0 || n3 <= 0 || count > uint64(len(b)) {
		return nil, errMalformed
	}
	b = b[n3:]
	rec := &oidcsession.Record{ID: id, Generation: gen, Written: time.Unix(0, written), Expires: time.Unix(0, expires)}
	for range count {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, errMalformed
		}
		rec.Index = append(rec.Index, string(b[n:n+int(l)]))
		b = b[n+int(l):]
	}
	rec.Sealed = b
	return rec, nil
}
