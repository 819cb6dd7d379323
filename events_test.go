package oidcsession_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
)

// eventLog collects what WithOnEvent reports.
type eventLog struct {
	mu     sync.Mutex
	events []oidcsession.Event
}

func (l *eventLog) add(_ context.Context, e oidcsession.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// take returns the events since the last take.
func (l *eventLog) take() []oidcsession.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

func want(t *testing.T, got []oidcsession.Event, kind oidcsession.EventKind, class string) {
	t.Helper()
	if len(got) != 1 || got[0].Kind != kind || got[0].Class != class || (class == "") != (got[0].Err == nil) {
		t.Fatalf("events %+v, want one %s with class %q", got, kind, class)
	}
	if (kind == oidcsession.EventSignIn || kind == oidcsession.EventRefresh) && got[0].Duration <= 0 {
		t.Fatalf("%s without a duration", kind)
	}
}

// TestEvents: every kind of event is reported once, with its class on
// failure, and the cache figures move.
func TestEvents(t *testing.T) {
	var log eventLog
	h := newHarness(t, setup{backChannel: true, opts: []oidcsession.Option{oidcsession.WithOnEvent(log.add)}})

	h.b.signIn()
	want(t, log.take(), oidcsession.EventSignIn, "")
	if r := h.b.get("/auth/callback?state=nope", nil); r.status != 400 {
		t.Fatalf("bad callback: %d", r.status)
	}
	want(t, log.take(), oidcsession.EventSignIn, "invalid_callback")

	if hits, misses := h.m.CacheStats(); hits+misses != 0 {
		t.Fatalf("cache counted before anyone asked: %d hits, %d misses", hits, misses)
	}
	h.b.me()
	h.b.me()
	h.b.get("/api/me", withCookie(cookieName+"=not-a-sealed-value"))
	if hits, misses := h.m.CacheStats(); hits != 2 || misses != 1 {
		t.Fatalf("cache: %d hits, %d misses; want 2 and 1", hits, misses)
	}
	if got := log.take(); len(got) != 0 {
		t.Fatalf("a valid request reported %+v", got)
	}

	h.clock.Advance(6 * time.Minute)
	h.b.me()
	want(t, log.take(), oidcsession.EventRefresh, "")
	h.clock.Advance(6 * time.Minute)
	h.op.FailNextRefreshes(1, http.StatusServiceUnavailable, "temporarily_unavailable")
	h.b.get("/app", nil)
	want(t, log.take(), oidcsession.EventRefresh, "transient")

	if r := h.postLogoutToken("not-a-token"); r.status != 400 {
		t.Fatalf("logout token: %d", r.status)
	}
	want(t, log.take(), oidcsession.EventBackChannelLogout, "invalid_logout_token")

	h.b.post("/auth/logout", csrf)
	want(t, log.take(), oidcsession.EventSignOut, "")
}

// TestEventTokenReuse: a replayed server-side cookie is reported.
func TestEventTokenReuse(t *testing.T) {
	var log eventLog
	h := newHarness(t, storeSetup(oidcsession.NewMemoryStore(), oidcsession.WithOnEvent(log.add)))
	h.b.startSession()
	stolen := h.b.cookieHeader()
	h.clock.Advance(6 * time.Minute)
	h.b.me()
	h.clock.Advance(time.Minute)
	log.take()
	h.b.get("/api/me", withCookie(stolen))
	want(t, log.take(), oidcsession.EventTokenReuse, "")
}

// TestEventHookPanics: a panicking hook does not break the request.
func TestEventHookPanics(t *testing.T) {
	h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithOnEvent(func(context.Context, oidcsession.Event) { panic("hook") })}})
	h.b.signIn()
	h.clock.Advance(6 * time.Minute)
	if who := h.b.me(); who.Subject != "user-1" {
		t.Fatalf("%+v", who)
	}
}

// downForWrites is a Store that cannot write.
type downForWrites struct{ oidcsession.Store }

func (downForWrites) Put(context.Context, *oidcsession.Record, uint64) error {
	return context.DeadlineExceeded
}

func (downForWrites) Get(context.Context, string) (*oidcsession.Record, error) {
	return nil, context.DeadlineExceeded
}

// TestEventSignInStoreDown: a sign-in whose session cannot be stored is a
// store failure (503), not a bad ID token.
func TestEventSignInStoreDown(t *testing.T) {
	var log eventLog
	h := newHarness(t, storeSetup(downForWrites{oidcsession.NewMemoryStore()}, oidcsession.WithOnEvent(log.add)))
	if r := h.b.page("/auth/login?return_to=/app"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("sign-in with the store down: %d %s", r.status, r.body)
	}
	want(t, log.take(), oidcsession.EventSignIn, "store_unavailable")
}

// TestEventBeforeAnswer: a grant is reported before the request that
// caused it is answered, even by a slow hook.
func TestEventBeforeAnswer(t *testing.T) {
	var log eventLog
	slow := func(ctx context.Context, e oidcsession.Event) {
		time.Sleep(100 * time.Millisecond)
		log.add(ctx, e)
	}
	h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithOnEvent(slow)}})
	h.b.startSession()
	h.clock.Advance(6 * time.Minute)
	h.b.me()
	want(t, log.take(), oidcsession.EventRefresh, "")
}
