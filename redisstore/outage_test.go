package redisstore

import (
	"sync"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
)

// TestRedisRestartMidStorm: Redis is killed while four replicas refresh 40
// expiring sessions, and restarted empty on the same port (no
// persistence). While it is down requests get 503 with Retry-After and no
// replica panics; no refresh token is ever presented twice (the provider
// detects no reuse); once it is back, service resumes: the sessions it
// forgot get 401 session_expired (their users sign in again) and new
// sessions work on every replica.
func TestRedisRestartMidStorm(t *testing.T) {
	d := newDeployment(t, 4, serverSide, oidcsession.WithRefreshTimeout(2*time.Second))
	const sessions = 40
	cookies := make([]string, sessions)
	for i := range cookies {
		cookies[i] = d.startSession()
	}
	d.clock.Advance(6 * time.Minute)

	var mu sync.Mutex
	codes := map[int]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, cookie := range cookies {
		wg.Add(1)
		go func() { // one browser: its requests in turn, keeping its newest cookie
			defer wg.Done()
			for k := 0; k < 5000; k++ {
				select {
				case <-stop:
					return
				default:
				}
				a := d.replicas[(i+k)%len(d.replicas)].do(inline, cookie)
				mu.Lock()
				codes[a.status]++
				mu.Unlock()
				if a.cookie != "" {
					cookie = a.cookie
				}
				if a.status == 401 {
					return // signed out: this browser would sign in again
				}
			}
		}()
	}
	within(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return codes[200] >= sessions/2
	}, "the storm's first refreshed answers")
	d.redis.stop()
	for _, r := range d.replicas {
		awaitSubscribed(t, r.st, false)
	}
	down := d.replicas[1].do(inline, cookies[sessions-1])
	if down.status != 503 || down.header.Get("Retry-After") == "" {
		t.Fatalf("while Redis is down: %d %q %s", down.status, down.header.Get("Retry-After"), down.body)
	}
	d.redis.start()
	for _, r := range d.replicas {
		awaitSubscribed(t, r.st, true)
	}
	close(stop)
	wg.Wait()

	mu.Lock()
	t.Logf("answers during the storm: %v", codes)
	for code := range codes {
		if code != 200 && code != 401 && code != 503 {
			t.Errorf("%d answers of %d during the storm", codes[code], code)
		}
	}
	mu.Unlock()
	if s := d.op.Stats(); s.ReuseDetections != 0 || s.SuccessfulGrants["refresh_token"] > sessions || d.panics.Load() != 0 {
		t.Fatalf("reuse detections %d, successful grants %d for %d sessions, panics %d", s.ReuseDetections, s.SuccessfulGrants["refresh_token"], sessions, d.panics.Load())
	}
	// go-redis's pool, after failing to dial, dials again in the background
	// about once a second: a replica may answer 503 until it has.
	var fresh string
	within(t, 5*time.Second, func() bool {
		var err error
		fresh, err = d.trySession()
		return err == nil
	}, "a new session started after the restart")
	for i, r := range d.replicas {
		took := within(t, 5*time.Second, func() bool { return r.do(inline, fresh).status == 200 }, "a new session served after the restart")
		t.Logf("replica %d serves a new session %s after the restart", i, took)
	}
	if a := d.replicas[2].do(inline, cookies[0]); a.status != 401 || a.errorCode() != "session_expired" {
		t.Fatalf("a session Redis forgot: %d %s", a.status, a.body)
	}
}
