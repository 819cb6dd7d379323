package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oidcsession/oidcsession"
)

// Store is an oidcsession.Store (and Coordinator) in Redis. Create it with
// New; it is safe for concurrent use. Close stops its subscription; the
// Redis client stays the caller's.
type Store struct {
	rdb     redis.UniversalClient
	keys    keys
	timeout time.Duration
	cache   *cache
	events  *events
	cluster bool // a ClusterClient: a script's keys must share a slot
}

var _ oidcsession.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*options)

type options struct {
	prefix    string
	timeout   time.Duration
	cacheSize int
}

// WithPrefix puts every key (and the pub/sub channel) under prefix, so
// several applications can share one Redis. It may not contain '{' or '}',
// which Redis Cluster reads as hash tags. Default "oidcsession:".
func WithPrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithTimeout bounds every call to Redis, so a slow Redis makes requests
// fail fast with 503 instead of piling up. Default 1s.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithCacheSize bounds how many sessions each replica keeps in its local
// cache; 0 turns the cache off, so every read goes to Redis. Default
// 10,000 (a typical sealed session is about 3 KB).
func WithCacheSize(n int) Option { return func(o *options) { o.cacheSize = n } }

// New returns a Store on rdb and starts its subscription to the
// invalidation channel. Redis need not be up yet: until it is, calls fail
// as unavailable, and the subscription keeps trying.
func New(rdb redis.UniversalClient, opts ...Option) (*Store, error) {
	o := options{prefix: "oidcsession:", timeout: time.Second, cacheSize: 10000}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case rdb == nil:
		return nil, errors.New("redisstore: no Redis client")
	case strings.ContainsAny(o.prefix, "{}"):
		return nil, fmt.Errorf("redisstore: prefix %q contains a hash tag brace", o.prefix)
	case o.timeout <= 0:
		return nil, fmt.Errorf("redisstore: timeout %s is not positive", o.timeout)
	case o.cacheSize < 0:
		return nil, fmt.Errorf("redisstore: cache size %d is negative", o.cacheSize)
	}
	_, cluster := rdb.(*redis.ClusterClient)
	s := &Store{rdb: rdb, keys: keys{o.prefix}, timeout: o.timeout, cache: newCache(o.cacheSize), cluster: cluster}
	s.events = startEvents(rdb, s.keys.events(), s.cache)
	return s, nil
}

// Close stops the subscription; calls made after it fail.
func (s *Store) Close() error {
	s.events.stop()
	return nil
}

// bound gives one call to Redis its timeout.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// unavailable wraps a Redis failure: any error but ErrNotFound and
// ErrConflict tells the Middleware the store is unavailable.
func unavailable(op string, err error) error {
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// ms is a time as Redis takes it in PEXPIREAT and as index scores.
func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// ttlMS is a ttl in whole milliseconds, at least one.
func ttlMS(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }

// runFunc queues one script with its keys and arguments.
type runFunc func(sc *redis.Script, keys []string, args ...any)

// runScripts runs the scripts queued by add in one pipeline (one round
// trip on a standalone server), with EVALSHA. Scripts Redis no longer has
// (it restarted) are run again with EVAL, and only those: a script that ran
// must not run twice.
func (s *Store) runScripts(ctx context.Context, add func(run runFunc)) ([]*redis.Cmd, error) {
	type call struct {
		sc   *redis.Script
		keys []string
		args []any
	}
	var calls []call
	add(func(sc *redis.Script, keys []string, args ...any) { calls = append(calls, call{sc, keys, args}) })
	cmds := make([]*redis.Cmd, len(calls))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = c.sc.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	if err != nil && anyNoScript(cmds) {
		_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, c := range calls {
				if redis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT") {
					cmds[i] = c.sc.Eval(ctx, p, c.keys, c.args...)
				}
			}
			return nil
		})
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return cmds, err
		}
	}
	return cmds, nil
}

func anyNoScript(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			return true
		}
	}
	return false
}
