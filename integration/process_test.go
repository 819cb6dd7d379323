package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a provider (or the example app) running as a child process,
// its output captured line by line in a log file and in memory.
type child struct {
	name string
	cmd  *exec.Cmd
	log  *lineLog
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

// startChild starts cmd with its stdout and stderr going to a log file
// named after name in dir.
func startChild(name, dir string, cmd *exec.Cmd) (*child, error) {
	log, err := newLineLog(dir, name)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		log.Close()
		close(c.done)
	}()
	return c, nil
}

// stop asks the process to end (SIGTERM) and kills it if it has not within
// a few seconds.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// exited reports the exit error if the process has ended.
func (c *child) exited() (bool, error) {
	select {
	case <-c.done:
		return true, c.err
	default:
		return false, nil
	}
}

// lineLog is an io.Writer that writes a child's output to a file and keeps
// its complete lines, so tests can read what the provider logged.
type lineLog struct {
	path string

	mu      sync.Mutex
	f       *os.File
	partial []byte
	lines   []string
	waiters []func(string)
}

func newLineLog(dir, name string) (*lineLog, error) {
	f, err := os.CreateTemp(dir, name+"-*.log")
	if err != nil {
		return nil, err
	}
	return &lineLog{path: f.Name(), f: f}, nil
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_, _ = l.f.Write(p)
	}
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		l.lines = append(l.lines, line)
		for _, w := range l.waiters {
			w(line)
		}
	}
	return len(p), nil
}

func (l *lineLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

// Lines returns the complete lines logged so far.
func (l *lineLog) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// onLine calls f with every line logged from now on (and the ones before).
func (l *lineLog) onLine(f func(string)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		f(line)
	}
	l.waiters = append(l.waiters, f)
}

// tail returns the last n lines of the log file, for failure reports.
func (l *lineLog) tail(n int) string {
	f, err := os.Open(l.path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// freePort returns a loopback port that was free a moment ago. Dex and the
// example app take their address from configuration, so the port is
// chosen here; a collision makes them fail to start, and the caller
// retries.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitForDiscovery polls the issuer's discovery document until it answers
// 200, the child exits, or the timeout passes.
func waitForDiscovery(c *child, issuer string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	url := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	for {
		if done, err := c.exited(); done {
			return fmt.Errorf("%s exited before serving discovery: %v", c.name, err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no discovery document at %s after %s", c.name, url, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runScript runs one of the setup scripts (install or build) with a time
// limit, returning its combined output on failure.
func runScript(timeout time.Duration, dir, script string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %s", timeout)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w\n%s", script, err, lastLines(out.String(), 20))
	}
	return strings.TrimSpace(out.String()), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
