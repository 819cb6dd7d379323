package oidcsession_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// refreshTimes reads expires_at and refresh_at of a refresh handler's 200.
func refreshTimes(t *testing.T, r response) (expiresAt, refreshAt time.Time, hasRefreshAt bool) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	body := r.json(t)
	exp, err := time.Parse(time.RFC3339, body["expires_at"].(string))
	if err != nil {
		t.Fatalf("expires_at: %v", err)
	}
	ra, ok := body["refresh_at"].(string)
	if !ok {
		return exp, time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339, ra)
	if err != nil {
		t.Fatalf("refresh_at: %v", err)
	}
	return exp, at, true
}

// TestRefreshAtIsWhenTheHandlerGrants checks the refresh_at field of the
// refresh handler's 200: one second before it the handler does not grant,
// at it the handler does, so a browser that schedules from it never POSTs
// in vain.
func TestRefreshAtIsWhenTheHandlerGrants(t *testing.T) {
	for _, tt := range []struct {
		name   string
		life   time.Duration
		opts   []oidcsession.Option
		window time.Duration
	}{
		{"quarter of the lifetime", 60 * time.Second, nil, 15 * time.Second},
		{"default skew", 10 * time.Minute, nil, 30 * time.Second},
		{"WithRefreshSkew", 60 * time.Second, []oidcsession.Option{oidcsession.WithRefreshSkew(5 * time.Second)}, 5 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{op: oidcsessiontest.Config{AccessTokenLifetime: tt.life}, opts: tt.opts})
			h.b.startSession()
			for round := 1; round <= 2; round++ {
				exp, at, ok := refreshTimes(t, h.b.refresh())
				if !ok || !at.Equal(exp.Add(-tt.window)) {
					t.Fatalf("round %d: refresh_at %v (present %v), want expires_at %v - %v", round, at, ok, exp, tt.window)
				}
				if n := h.stats().SuccessfulGrants["refresh_token"]; n != round-1 {
					t.Fatalf("round %d: %d grants before the window", round, n)
				}
				h.clock.Advance(at.Sub(h.clock.Now()) - time.Second)
				if e2, a2, _ := refreshTimes(t, h.b.refresh()); !e2.Equal(exp) || !a2.Equal(at) || h.stats().SuccessfulGrants["refresh_token"] != round-1 {
					t.Fatalf("round %d: a second early changed the answer to %v/%v, or granted", round, e2, a2)
				}
				h.clock.Advance(time.Second)
				if e2, _, _ := refreshTimes(t, h.b.refresh()); !e2.After(exp) || h.stats().SuccessfulGrants["refresh_token"] != round {
					t.Fatalf("round %d: no new expiry at refresh_at", round)
				}
			}
		})
	}
}

// TestRefreshAtOmittedWithoutRefreshToken: nothing will ever be refreshed,
// so there is no time to come back at.
func TestRefreshAtOmittedWithoutRefreshToken(t *testing.T) {
	h := newHarness(t, setup{op: oidcsessiontest.Config{OmitRefreshToken: true}})
	h.b.startSession()
	if _, at, ok := refreshTimes(t, h.b.refresh()); ok {
		t.Fatalf("refresh_at %v without a refresh token", at)
	}
}

// TestRefreshAtIsTheHandlersRefreshAt: what a page renders (RefreshAt)
// equals what the refresh handler answers.
func TestRefreshAtIsTheHandlersRefreshAt(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	var seen time.Time
	page := h.m.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := oidcsession.FromContext(r.Context())
		seen = h.m.RefreshAt(s)
	}))
	serve(page, "GET", "/", withCookie(h.b.cookieHeader()))
	if _, at, ok := refreshTimes(t, h.b.refresh()); !ok || !seen.Equal(at) {
		t.Fatalf("RefreshAt = %v, handler said %v", seen, at)
	}
	if !h.m.RefreshAt(nil).IsZero() {
		t.Fatal("RefreshAt of no session is not zero")
	}
}
