package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server the tests start (redistest): on a free
// loopback port, without persistence, in its own temporary directory.
type redisServer struct {
	t       testing.TB
	srv     *redistest.Server
	addr    string
	cluster bool
}

// startRedis starts a redis-server for t and stops it when t ends. Without
// redis-server the test is skipped, or fails under OIDCSESSION_REDIS=require
// (as CI runs it).
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	srv := redistest.New(t, redistest.Options{})
	return &redisServer{t: t, srv: srv, addr: srv.Addr}
}

// startRedisCluster starts a one-node Redis Cluster that owns every slot:
// Redis then refuses, as a real cluster does, any script whose keys are not
// in one slot.
func startRedisCluster(t testing.TB) *redisServer {
	t.Helper()
	srv := redistest.New(t, redistest.Options{Cluster: true})
	s := &redisServer{t: t, srv: srv, addr: srv.Addr, cluster: true}
	c := redis.NewClient(&redis.Options{Addr: s.addr})
	defer c.Close()
	ctx := context.Background()
	if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		info, _ := c.ClusterInfo(ctx).Result()
		if strings.Contains(info, "cluster_state:ok") {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the one-node cluster never became ok: %s", info)
		}
		time.Sleep(20 * time.Millisecond) // a state to poll; Redis sends no event for it
	}
}

// start runs the server again on its port, empty.
func (s *redisServer) start() {
	s.t.Helper()
	if err := s.srv.Restart(); err != nil {
		s.t.Fatal(err)
	}
}

// stop kills the server (SIGKILL: like a crash, nothing is saved) and
// waits for it.
func (s *redisServer) stop() { s.srv.Kill() }

// client returns a client of the server for the kind it is, closed when
// the test ends.
func (s *redisServer) client(t testing.TB, hooks ...redis.Hook) redis.UniversalClient {
	var c redis.UniversalClient
	if s.cluster {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{s.addr}})
	} else {
		c = redis.NewClient(&redis.Options{Addr: s.addr})
	}
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var prefixes atomic.Int64

// newStore returns a Store on s under a prefix of its own, subscribed.
func (s *redisServer) newStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	opts = append([]Option{WithPrefix(fmt.Sprintf("t%d:", prefixes.Add(1)))}, opts...)
	return newStoreOn(t, s.client(t), opts...)
}

// newStoreOn returns a Store on c once its subscription is up.
func newStoreOn(t testing.TB, c redis.UniversalClient, opts ...Option) *Store {
	t.Helper()
	st, err := New(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	awaitSubscribed(t, st, true)
	return st
}

// awaitSubscribed waits until st's subscription is up (or down).
func awaitSubscribed(t testing.TB, st *Store, up bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.events.await(ctx, up); err != nil {
		t.Fatalf("the subscription did not become up=%v: %v", up, err)
	}
}

// counter is a hook that counts round trips to Redis: one per command
// and one per pipeline (a standalone server answers a pipeline in one).
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}
