package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
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

// slowHook delays every Redis command while on, beyond the Store's
// timeout: a Redis that answers, too late.
type slowHook struct {
	on    atomic.Bool
	delay time.Duration
}

func (h *slowHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *slowHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := h.wait(ctx); err != nil {
			return err
		}
		return next(ctx, cmd)
	}
}
func (h *slowHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := h.wait(ctx); err != nil {
			return err
		}
		return next(ctx, cmds)
	}
}

func (h *slowHook) wait(ctx context.Context) error {
	if !h.on.Load() {
		return nil
	}
	select {
	case <-time.After(h.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestSlowRedis: a Redis that answers only after the Store's timeout, in
// both storage modes: a session due for a refresh gets 503 with
// Retry-After and keeps its cookie, nothing is presented to the provider;
// once Redis is quick again the session is refreshed with one grant.
func TestSlowRedis(t *testing.T) {
	for _, md := range []mode{serverSide, cookies} {
		t.Run(string(md), func(t *testing.T) {
			d := &deployment{t: t, clock: oidcsessiontest.NewClock(time.Time{}), redis: startRedis(t)}
			d.op = oidcsessiontest.New(t, oidcsessiontest.Config{Now: d.clock.Now})
			slow := &slowHook{delay: 600 * time.Millisecond}
			for range 2 {
				rt := &counter{}
				st := newStoreOn(t, d.redis.client(t, rt, slow), WithPrefix("app:"), WithTimeout(200*time.Millisecond))
				opt := oidcsession.WithStore(st)
				if md == cookies {
					opt = oidcsession.WithCoordinator(st)
				}
				d.replicas = append(d.replicas, d.newReplica(st, rt, []oidcsession.Option{opt}))
			}
			cookie := d.startSession()
			if a := d.replicas[1].do(inline, cookie); a.status != 200 {
				t.Fatalf("before: %d %s", a.status, a.body)
			}
			d.clock.Advance(6 * time.Minute)
			slow.on.Store(true)
			start := time.Now()
			a := d.replicas[1].do(inline, cookie)
			if a.status != 503 || a.header.Get("Retry-After") == "" || a.cookie != "" {
				t.Fatalf("Redis slow: %d %v %s", a.status, a.header, a.body)
			}
			t.Logf("answered 503 after %s", time.Since(start).Round(time.Millisecond))
			if g := d.grants(); g != 0 {
				t.Fatalf("%d grants while Redis was slow", g)
			}
			slow.on.Store(false)
			within(t, 5*time.Second, func() bool {
				a = d.replicas[0].do(inline, cookie)
				return a.status == 200
			}, "the refresh once Redis is quick again")
			if s := d.op.Stats(); d.grants() != 1 || s.ReuseDetections != 0 {
				t.Fatalf("%d grants, %d reuse detections; want 1 and 0", d.grants(), s.ReuseDetections)
			}
		})
	}
}
