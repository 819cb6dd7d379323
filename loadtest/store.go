package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/redisstore"
)

// storeTitles names the session storage of each -stores value.
var storeTitles = map[string]string{
	"cookie": "cookies (default)",
	"memory": "server-side, `NewMemoryStore()`",
	"redis":  "server-side, `redisstore` (local Redis)",
}

// openStore returns the Store for name (nil for sessions in cookies), the
// process ID of the server it started (0 for none), and a function that
// releases it.
func openStore(ctx context.Context, cfg config, name string) (oidcsession.Store, int, func(), error) {
	switch name {
	case "cookie":
		return nil, 0, func() {}, nil
	case "memory":
		return oidcsession.NewMemoryStore(), 0, func() {}, nil
	case "redis":
		srv, err := startRedis(cfg.RedisServer)
		if err != nil {
			return nil, 0, nil, err
		}
		rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.addr}})
		if err := rdb.Ping(ctx).Err(); err != nil {
			rdb.Close()
			srv.stop()
			return nil, 0, nil, fmt.Errorf("redis: %w", err)
		}
		st, err := redisstore.New(rdb, redisstore.WithPrefix("loadtest:"))
		if err != nil {
			rdb.Close()
			srv.stop()
			return nil, 0, nil, err
		}
		return st, srv.cmd.Process.Pid, func() {
			st.Close()
			rdb.Close()
			srv.stop()
		}, nil
	}
	return nil, 0, nil, fmt.Errorf("unknown store %q", name)
}

// redisServer is a redis-server this program started on a free loopback
// port, without persistence, in its own temporary directory.
type redisServer struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts bin and returns once it accepts connections.
func startRedis(bin string) (*redisServer, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("the redis store needs redis-server (-redis-server): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "oidcsession-loadtest-redis-")
	if err != nil {
		return nil, err
	}
	s := &redisServer{addr: addr, dir: dir, done: make(chan struct{})}
	s.cmd = exec.Command(path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", "", "--loglevel", "notice")
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("redis-server: %w", err)
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
		_ = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case ok := <-ready:
		if ok {
			return s, nil
		}
		err = errors.New("redis-server exited before it was ready")
	case <-time.After(10 * time.Second):
		err = errors.New("redis-server was not ready within 10s")
	}
	s.stop()
	return nil, err
}

// stop kills the server this program started and removes its directory.
func (s *redisServer) stop() {
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	os.RemoveAll(s.dir)
}
