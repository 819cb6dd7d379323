package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oidcsession/oidcsession"
)

// Claim takes the claim on key unless another one is live, and returns
// what it found, in one script.
func (s *Store) Claim(ctx context.Context, key string, value []byte, ttl time.Duration) (oidcsession.Claimed, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := claimScript.Run(ctx, s.rdb, []string{s.keys.claim(key), s.keys.outcome(key)}, value, ttlMS(ttl)).Slice()
	if err != nil {
		return oidcsession.Claimed{}, unavailable("claim", err)
	}
	if len(res) != 3 {
		return oidcsession.Claimed{}, unavailable("claim", errMalformed)
	}
	taken, _ := res[0].(int64)
	held, ok := res[1].(string)
	if !ok {
		return oidcsession.Claimed{}, unavailable("claim", errMalformed)
	}
	c := oidcsession.Claimed{Taken: taken == 1, Held: []byte(held)}
	if out, ok := res[2].(string); ok {
		c.Published = []byte(out)
	}
	return c, nil
}

// Release deletes the claim on key if it still holds value.
func (s *Store) Release(ctx context.Context, key string, value []byte) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := releaseScript.Run(ctx, s.rdb, []string{s.keys.claim(key)}, value).Err(); err != nil {
		return unavailable("release", err)
	}
	return nil
}

// Settle ends a grant in one round trip: rec's index entries and the
// settle script in one pipeline (see addIndex for why the index entries
// may precede a write that then conflicts).
func (s *Store) Settle(ctx context.Context, key string, claim, outcome []byte, ttl time.Duration, rec *oidcsession.Record, prev uint64) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	keys := []string{s.keys.claim(key), s.keys.outcome(key)}
	args := []any{claim, outcome, ttlMS(ttl), s.keys.events(), "w" + key}
	if rec == nil {
		if _, err := s.runScripts(ctx, func(run runFunc) { run(settleScript, keys, args...) }); err != nil {
			return unavailable("settle", err)
		}
		return nil
	}
	if s.cluster && tagOf(key) != rec.ID {
		return s.settleSplit(ctx, keys, args, rec, prev)
	}
	e := s.cache.reserve(rec.ID, rec.Generation)
	keys = append(keys, s.keys.record(rec.ID))
	args = append(args, s.recordArgs(rec, prev)...)
	cmds, err := s.runScripts(ctx, func(run runFunc) {
		s.addIndex(run, rec)
		run(settleScript, keys, args...)
	})
	return s.wrote(rec, e, "settle", cmds, err)
}

// recordArgs are the arguments of writeRecordLua after the record's key.
func (s *Store) recordArgs(rec *oidcsession.Record, prev uint64) []any {
	return []any{strconv.FormatUint(prev, 10), strconv.FormatUint(rec.Generation, 10),
		encodeRecord(rec), ms(rec.Expires), recordMessage(rec.ID, rec.Generation)}
}

// settleSplit is Settle in Redis Cluster for a key whose hash tag is not
// the record's (the Middleware's grant keys always share it, see tagOf):
// the record is written first, then the outcome published. If the second
// step fails the call fails; its retry finds the record already written
// (writeRecordLua) and publishes.
func (s *Store) settleSplit(ctx context.Context, keys []string, args []any, rec *oidcsession.Record, prev uint64) error {
	e := s.cache.reserve(rec.ID, rec.Generation)
	ra := s.recordArgs(rec, prev)
	cmds, err := s.runScripts(ctx, func(run runFunc) {
		s.addIndex(run, rec)
		run(settleRecordScript, []string{s.keys.record(rec.ID)}, ra[0], ra[1], ra[2], ra[3], s.keys.events(), ra[4])
	})
	if err := s.wrote(rec, e, "settle", cmds, err); err != nil {
		return err
	}
	if _, err := s.runScripts(ctx, func(run runFunc) { run(settleScript, keys, args...) }); err != nil {
		return unavailable("settle", err)
	}
	return nil
}

// Publish stores value under key for ttl and wakes its watchers.
func (s *Store) Publish(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err := publishScript.Run(ctx, s.rdb, []string{s.keys.outcome(key)}, value, ttlMS(ttl), s.keys.events(), "w"+key).Err()
	if err != nil {
		return unavailable("publish", err)
	}
	return nil
}

// Lookup returns the value published under key, or ErrNotFound.
func (s *Store) Lookup(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	v, err := s.rdb.Get(ctx, s.keys.outcome(key)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, oidcsession.ErrNotFound
	case err != nil:
		return nil, unavailable("lookup", err)
	}
	return v, nil
}

// Watch returns a channel that receives after every Publish or Settle of
// key, on any replica, made after Watch returned, and after the
// subscription was lost or regained (when messages may have been missed).
// It waits for the subscription at most the store's timeout.
func (s *Store) Watch(ctx context.Context, key string) (<-chan struct{}, error) {
	wctx, cancel := s.bound(ctx)
	defer cancel()
	if err := wctx.Err(); err != nil {
		return nil, unavailable("watch", err)
	}
	ch, err := s.events.watch(ctx, key, wctx.Done())
	if err != nil {
		return nil, unavailable("watch", err)
	}
	return ch, nil
}
