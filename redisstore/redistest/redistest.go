// Package redistest runs throwaway redis-server processes for tests and
// tools: on a free loopback port, without persistence, in a temporary
// directory of their own, killed (like a crash: nothing is saved) when
// stopped.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Options says how to run a server. The zero value runs "redis-server"
// from PATH, standalone.
type Options struct {
	Binary  string // default "redis-server"
	Cluster bool   // cluster mode (one node; its slots are assigned by the caller)
}

// Server is a running redis-server.
type Server struct {
	Addr string // host:port on 127.0.0.1

	opts Options
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// PID is the server process's ID (0 once killed), for accounting its CPU.
func (s *Server) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// URL is the server's address as a REDIS_URL (database 0).
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Start runs a server and returns once it accepts connections (it says so
// on its log).
func Start(opts Options) (*Server, error) {
	if opts.Binary == "" {
		opts.Binary = "redis-server"
	}
	if _, err := exec.LookPath(opts.Binary); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: addr, opts: opts, dir: dir}
	if err := s.Restart(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// Restart runs the server again on the same port after Kill (empty: it
// kept nothing); it returns once the server accepts connections.
func (s *Server) Restart() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", "", "--loglevel", "notice"}
	if s.opts.Cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	}
	s.cmd = exec.Command(s.opts.Binary, args...)
	s.done = make(chan struct{})
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("redistest: %s: %w", s.opts.Binary, err)
	}
	ready := make(chan bool, 1)
	cmd, done := s.cmd, s.done
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
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case ok := <-ready:
		if ok {
			return nil
		}
		err = errors.New("redistest: redis-server exited before it was ready")
	case <-time.After(10 * time.Second):
		err = errors.New("redistest: redis-server was not ready within 10s")
	}
	s.Kill()
	return err
}

// Kill stops the server with SIGKILL and waits for it to exit.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	s.cmd = nil
}

// Stop kills the server and removes its directory.
func (s *Server) Stop() {
	s.Kill()
	os.RemoveAll(s.dir)
}

// New starts a server for tb and stops it when tb ends. Without
// redis-server the test is skipped, or fails when the environment has
// OIDCSESSION_REDIS=require (as CI runs it).
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	bin := opts.Binary
	if bin == "" {
		bin = "redis-server"
	}
	if _, err := exec.LookPath(bin); err != nil {
		if os.Getenv("OIDCSESSION_REDIS") == "require" {
			tb.Fatal("redis-server is not installed, and OIDCSESSION_REDIS=require (apt-get install redis-server)")
		}
		tb.Skip("redis-server is not installed (apt-get install redis-server); OIDCSESSION_REDIS=require makes this a failure")
	}
	s, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}
