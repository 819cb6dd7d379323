package oidcsession_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
)

// storeSetup is a harness whose sessions live in st.
func storeSetup(st oidcsession.Store, opts ...oidcsession.Option) setup {
	return setup{opts: append([]oidcsession.Option{oidcsession.WithStore(st)}, opts...)}
}

// TestStoreCookieIsSmall: with a Store the cookie holds a reference only.
func TestStoreCookieIsSmall(t *testing.T) {
	h := newHarness(t, storeSetup(oidcsession.NewMemoryStore()))
	h.b.startSession()
	if c := h.b.cookieHeader(); len(c) > 120 || !strings.HasPrefix(c, cookieName+"=") {
		t.Fatalf("cookie of %d bytes: %q", len(c), c)
	}
	if who := h.b.me(); who.Subject != "user-1" || !who.HasRefreshToken {
		t.Fatalf("%+v", who)
	}
}

// TestStoreSignOutRevokesCopies: signing out ends the session for every
// copy of its cookie, which cookies alone cannot do.
func TestStoreSignOutRevokesCopies(t *testing.T) {
	h := newHarness(t, storeSetup(oidcsession.NewMemoryStore()))
	h.b.signIn()
	copied := h.b.cookieHeader()
	if r := h.b.post("/auth/logout", csrf); r.status != 200 {
		t.Fatalf("logout: %d", r.status)
	}
	r := h.b.get("/api/me", withCookie(copied))
	if r.status != 401 || r.json(t)["error"] != "session_expired" || !clears(r, cookieName) {
		t.Fatalf("a copy after sign-out: %d %s", r.status, r.body)
	}
}

// TestStoreDetectsReplay: a copy of the cookie used after its session
// rotated, beyond the grace window, is a stolen cookie: the session is
// revoked everywhere and at the provider, the hook is told, and the
// answer is 401 token_reuse_detected.
func TestStoreDetectsReplay(t *testing.T) {
	var mu sync.Mutex
	var told []oidcsession.TokenReuse
	h := newHarness(t, storeSetup(oidcsession.NewMemoryStore(), oidcsession.WithOnTokenReuse(func(_ context.Context, r oidcsession.TokenReuse) {
		mu.Lock()
		told = append(told, r)
		mu.Unlock()
	})))
	h.b.startSession()
	stolen := h.b.cookieHeader()
	h.clock.Advance(6 * time.Minute)
	h.b.me() // the owner's request rotates the session
	h.clock.Advance(time.Minute)
	r := h.b.get("/api/me", withCookie(stolen))
	if r.status != 401 || r.json(t)["error"] != "token_reuse_detected" || !clears(r, cookieName) {
		t.Fatalf("replayed cookie: %d %s", r.status, r.body)
	}
	mu.Lock()
	if len(told) != 1 || told[0].Subject != "user-1" || told[0].SessionID == "" {
		t.Fatalf("hook told %+v", told)
	}
	mu.Unlock()
	if s := h.stats(); s.Revocations != 1 || s.ReuseDetections != 0 {
		t.Fatalf("revocations %d, reuse at the provider %d", s.Revocations, s.ReuseDetections)
	}
	if r := h.b.get("/api/me", nil); r.status != 401 || r.json(t)["error"] != "session_expired" {
		t.Fatalf("the owner's session after the replay: %d %s", r.status, r.body)
	}
}

// TestStoreGraceSpansSeveralWrites: a page's concurrent calls can carry a
// cookie that fell behind by several writes in a moment (a refresh, then a
// resource token); inside the grace window of the write that replaced it
// that is a request that crossed the writes, not a copy. Past it, it is.
func TestStoreGraceSpansSeveralWrites(t *testing.T) {
	h := newHarness(t, storeSetup(oidcsession.NewMemoryStore()))
	h.b.startSession()
	old := h.b.cookieHeader()
	h.b.refreshSession("", nil)
	h.clock.Advance(10 * time.Second)
	h.b.refreshSession("", nil)
	h.b.token("resource=" + url.QueryEscape(ordersAPI))
	if r := h.b.get("/api/me", withCookie(old)); r.status != 200 {
		t.Fatalf("three writes behind, inside the grace window: %d %s", r.status, r.body)
	}
	h.clock.Advance(25 * time.Second) // 35s after the write that replaced it, 25s after the others
	if r := h.b.get("/api/me", withCookie(old)); r.status != 401 || r.json(t)["error"] != "token_reuse_detected" {
		t.Fatalf("past the grace window of its replacement: %d %s", r.status, r.body)
	}
}

// TestReplicasShareOneGrant: four replicas sharing a Store (or, with
// cookies, a Coordinator) make one grant for 200 concurrent requests with
// one expired session spread over them; another replica honours the
// previous cookie inside the grace window; a sign-out on one is refused
// by the others.
func TestReplicasShareOneGrant(t *testing.T) {
	for _, mode := range []string{"store", "cookies with a coordinator"} {
		for _, c := range []caller{inline, handler} {
			t.Run(mode+"/"+string(c), func(t *testing.T) {
				shared := oidcsession.NewMemoryStore()
				opt := oidcsession.WithStore(shared)
				if mode != "store" {
					opt = oidcsession.WithCoordinator(shared)
				}
				h := newHarness(t, setup{opts: []oidcsession.Option{opt}})
				replicas := []*harness{h, h.replica(setup{opts: []oidcsession.Option{opt}}), h.replica(setup{opts: []oidcsession.Option{opt}}), h.replica(setup{opts: []oidcsession.Option{opt}})}
				h.b.startSession()
				cookie := h.b.cookieHeader()
				h.clock.Advance(6 * time.Minute)
				h.op.DelayNextRefreshes(1, 200*time.Millisecond)
				var wg sync.WaitGroup
				for _, r := range replicas {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for _, code := range r.storm(50, c, cookie) {
							if code != 200 {
								t.Errorf("a request got %d", code)
							}
						}
					}()
				}
				wg.Wait()
				if s := h.stats(); s.Grants["refresh_token"] != 1 || s.ReuseDetections != 0 {
					t.Fatalf("%d refresh grants, %d reuses; want 1, 0", s.Grants["refresh_token"], s.ReuseDetections)
				}
				// The previous cookie on another replica, inside the grace window.
				h.clock.Advance(time.Second)
				r := replicas[2].b.get("/app", withCookie(cookie))
				if r.status != 200 || len(setCookies(r, cookieName)) == 0 {
					t.Fatalf("previous cookie on another replica: %d %s", r.status, r.body)
				}
				current := strings.Split(setCookies(r, cookieName)[0], ";")[0]
				if mode == "store" {
					if out := replicas[1].b.post("/auth/logout", withCookie(current, csrf)); out.status != 200 {
						t.Fatalf("logout: %d", out.status)
					}
					if r := replicas[3].b.get("/api/me", withCookie(current)); r.status != 401 {
						t.Fatalf("after sign-out on another replica: %d %s", r.status, r.body)
					}
				}
			})
		}
	}
}

// TestSlowGrantOnAnotherReplica: a replica whose grant takes long holds
// the claim; another replica that needs the same refresh never presents
// the token itself, and both end with the one new session.
func TestSlowGrantOnAnotherReplica(t *testing.T) {
	shared := oidcsession.NewMemoryStore()
	su := storeSetup(shared, oidcsession.WithRefreshTimeout(3*time.Second))
	a := newHarness(t, su)
	b := a.replica(su)
	a.b.startSession()
	cookie := a.b.cookieHeader()
	a.clock.Advance(6 * time.Minute)
	a.op.DelayNextRefreshes(1, 1500*time.Millisecond)
	var ra, rb response
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ra = a.b.get("/app", withCookie(cookie)) }()
	time.Sleep(200 * time.Millisecond) // a holds the claim and waits on the provider
	rb = b.b.get("/app", withCookie(cookie))
	wg.Wait()
	if ra.status != 200 || rb.status != 200 || ra.who(t).AccessToken != rb.who(t).AccessToken {
		t.Fatalf("a: %d %s; b: %d %s", ra.status, ra.body, rb.status, rb.body)
	}
	if s := a.stats(); s.Grants["refresh_token"] != 1 || s.ReuseDetections != 0 {
		t.Fatalf("%+v", s)
	}
}

// silentHolder is a Coordinator on which every grant is already claimed by
// a replica that never reports back (it died mid-grant).
type silentHolder struct {
	oidcsession.Coordinator
	deadline time.Time
}

func (s silentHolder) Claim(ctx context.Context, key string, value []byte, ttl time.Duration) (oidcsession.Claimed, error) {
	return oidcsession.Claimed{Held: append(make([]byte, 16), s.deadline.UTC().Format(time.RFC3339Nano)...)}, nil
}

// TestLostGrantIsNotRetried: when the replica that claimed a grant never
// reports back, the token may have been spent: it is not presented again,
// and once the holder's time is up the session ends cleanly.
func TestLostGrantIsNotRetried(t *testing.T) {
	h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithCoordinator(silentHolder{oidcsession.NewMemoryStore(), time.Now().Add(300 * time.Millisecond)})}})
	h.b.startSession()
	h.clock.Advance(6 * time.Minute)
	start := time.Now()
	r := h.b.get("/app", nil)
	if r.status != 401 || r.json(t)["error"] != "session_expired" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("gave up after %s, before the holder's deadline", waited)
	}
	if g := h.stats().Grants["refresh_token"]; g != 0 {
		t.Fatalf("%d grants: the claimed token was presented", g)
	}
}

// unavailable is a Store that is down.
type unavailable struct{ oidcsession.Store }

func (unavailable) Get(context.Context, string) (*oidcsession.Record, error) {
	return nil, context.DeadlineExceeded
}

// TestStoreDown: a store that fails answers 503 and keeps the cookie.
func TestStoreDown(t *testing.T) {
	shared := oidcsession.NewMemoryStore()
	h := newHarness(t, storeSetup(shared))
	h.b.startSession()
	down := h.replica(storeSetup(unavailable{shared}))
	r := down.b.get("/api/me", withCookie(h.b.cookieHeader()))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
}

// lostAnswers is a Store whose next writes are applied but answered with
// an error, as when the connection drops after the backend applied them.
type lostAnswers struct {
	oidcsession.Store
	puts, settles *atomic.Int32 // writes still to lose
}

func (l lostAnswers) Put(ctx context.Context, rec *oidcsession.Record, prev uint64) error {
	if err := l.Store.Put(ctx, rec, prev); err != nil || l.puts.Add(-1) < 0 {
		return err
	}
	return context.DeadlineExceeded
}

func (l lostAnswers) Settle(ctx context.Context, key string, claim, outcome []byte, ttl time.Duration, rec *oidcsession.Record, prev uint64) error {
	if err := l.Store.Settle(ctx, key, claim, outcome, ttl, rec, prev); err != nil || l.settles.Add(-1) < 0 {
		return err
	}
	return context.DeadlineExceeded
}

// TestStoreLostAnswers: a write the store applied but whose answer was
// lost counts as done: the browser gets its cookie (else its next request
// would look like a replay), and a grant's own new refresh token is kept,
// not revoked as if another replica had rotated first.
func TestStoreLostAnswers(t *testing.T) {
	st := lostAnswers{oidcsession.NewMemoryStore(), new(atomic.Int32), new(atomic.Int32)}
	su := storeSetup(st, oidcsession.WithLifetime(24*time.Hour, 80*time.Minute))
	su.op.AccessTokenLifetime = 30 * time.Minute
	h := newHarness(t, su)
	h.b.startSession()

	h.clock.Advance(11 * time.Minute) // the idle clock is recorded: a Put
	st.puts.Store(1)
	if r := h.b.get("/api/me", nil); r.status != 200 || len(setCookies(r, cookieName)) != 1 {
		t.Fatalf("Put answer lost: %d %s", r.status, r.body)
	}
	h.clock.Advance(time.Minute) // past the grace window: the cookie must be the current one
	if r := h.b.get("/api/me", nil); r.status != 200 {
		t.Fatalf("after a lost Put answer: %d %s", r.status, r.body)
	}

	h.clock.Advance(20 * time.Minute) // a refresh: its Settle's answer is lost
	st.settles.Store(1)
	if who := h.b.me(); !who.HasRefreshToken {
		t.Fatalf("after a lost Settle answer: %+v", who)
	}
	h.clock.Advance(31 * time.Minute)
	if who := h.b.me(); !who.HasRefreshToken {
		t.Fatalf("the next refresh: %+v", who)
	}
	if s := h.stats(); s.Revocations != 0 || s.ReuseDetections != 0 || s.SuccessfulGrants["refresh_token"] != 2 {
		t.Fatalf("revocations %d, reuse %d, grants %d", s.Revocations, s.ReuseDetections, s.SuccessfulGrants["refresh_token"])
	}
}
