package redisstore

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server the tests start on a free loopback port,
// without persistence, in its own temporary directory.
type redisServer struct {
	t       testing.TB
	addr    string
	dir     string
	cluster bool
	cmd     *exec.Cmd
}

// startRedis starts a redis-server for t and stops it when t ends. Without
// redis-server the test is skipped, or fails under OIDCSESSION_REDIS=require
// (as CI runs it).
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	return startRedisMode(t, false)
}

// startRedisCluster starts a one-node Redis Cluster that owns every slot:
// Redis then refuses, as a real cluster does, any script whose keys are not
// in one slot.
func startRedisCluster(t testing.TB) *redisServer {
	t.Helper()
	s := startRedisMode(t, true)
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

func startRedisMode(t testing.TB, cluster bool) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("OIDCSESSION_REDIS") == "require" {
			t.Fatal("redis-server is not installed, and OIDCSESSION_REDIS=require (apt-get install redis-server)")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server); OIDCSESSION_REDIS=require makes this a failure")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &redisServer{t: t, addr: addr, dir: t.TempDir(), cluster: cluster}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// start runs redis-server on s.addr and returns once it accepts
// connections (it says so on its log).
func (s *redisServer) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", "", "--loglevel", "notice"}
	if s.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	}
	s.cmd = exec.Command("redis-server", args...)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		said := false
		for sc.Scan() {
			if !said && strings.Contains(sc.Text(), "Ready to accept connections") {
				said = true
				ready <- true
			}
		}
		if !said {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			s.t.Fatal("redis-server exited before it was ready")
		}
	case <-time.After(10 * time.Second):
		s.t.Fatal("redis-server was not ready within 10s")
	}
}

// stop kills the server (SIGKILL: like a crash, nothing is saved) and
// waits for it.
func (s *redisServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

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
