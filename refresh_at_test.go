package oidcsession

import (
	"testing"
	"time"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// refreshTimes reads expires_at and refresh_at of a refresh handler's 200.
func refreshTimes(t *testing.T, r response) (expiresAt, refreshAt time.Time, hasRefreshAt bool) {
	t.Helper()
	if r.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", r.StatusCode, r.body)
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
// at it the handler does, so a browser that schedules from it never
// POSTs in vain.
func TestRefreshAtIsWhenTheHandlerGrants(t *testing.T) {
	for _, tt := range []struct {
		name   string
		life   time.Duration
		opts   []Option
		window time.Duration
	}{
		{"quarter of the lifetime", 60 * time.Second, nil, 15 * time.Second},
		{"default skew", 10 * time.Minute, nil, 30 * time.Second},
		{"WithRefreshSkew", 60 * time.Second, []Option{WithRefreshSkew(5 * time.Second)}, 5 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{op: oidcsessiontest.Config{AccessTokenLifetime: tt.life}, opts: tt.opts})
			h.signIn()
			for round := 1; round <= 2; round++ {
				exp, at, ok := refreshTimes(t, h.postRefresh(h.client, nil))
				if !ok || !at.Equal(exp.Add(-tt.window)) {
					t.Fatalf("round %d: refresh_at %v (present %v), want expires_at %v - %v", round, at, ok, exp, tt.window)
				}
				if n := h.op.SuccessfulGrants("refresh_token"); n != round-1 {
					t.Fatalf("round %d: %d grants before the window", round, n)
				}
				h.clock.Advance(at.Sub(h.clock.Now()) - time.Second)
				if e2, a2, _ := refreshTimes(t, h.postRefresh(h.client, nil)); !e2.Equal(exp) || !a2.Equal(at) {
					t.Fatalf("round %d: a second early changed the answer to %v/%v", round, e2, a2)
				}
				if n := h.op.SuccessfulGrants("refresh_token"); n != round-1 {
					t.Fatalf("round %d: granted a second before refresh_at", round)
				}
				h.clock.Advance(time.Second)
				if e2, _, _ := refreshTimes(t, h.postRefresh(h.client, nil)); !e2.After(exp) {
					t.Fatalf("round %d: no new expiry at refresh_at", round)
				}
				if n := h.op.SuccessfulGrants("refresh_token"); n != round {
					t.Fatalf("round %d: %d grants at refresh_at", round, n)
				}
			}
		})
	}
}

// TestRefreshAtOmittedWithoutRefreshToken: nothing will ever be refreshed,
// so there is no time to come back at.
func TestRefreshAtOmittedWithoutRefreshToken(t *testing.T) {
	h := newHarness(t, harnessConfig{op: oidcsessiontest.Config{OmitRefreshToken: true}})
	h.signIn()
	if _, at, ok := refreshTimes(t, h.postRefresh(h.client, nil)); ok {
		t.Fatalf("refresh_at %v without a refresh token", at)
	}
}

// TestRefreshStartMatchesRefreshDue pins the helper to the window that
// refreshDue applies, including sub-second token times.
func TestRefreshStartMatchesRefreshDue(t *testing.T) {
	m := &Middleware{cfg: defaultConfig()}
	now := time.Date(2025, 1, 1, 12, 0, 0, 300_000_000, time.UTC)
	for _, life := range []time.Duration{3 * time.Second, 10 * time.Second, time.Minute, time.Hour} {
		s := &Session{tokenAt: now, expiry: now.Add(life)}
		start := m.refreshStart(s)
		if due, _ := m.refreshDue(s, start.Add(-time.Nanosecond)); due {
			t.Errorf("life %v: due before refreshStart %v", life, start)
		}
		if due, _ := m.refreshDue(s, start); !due {
			t.Errorf("life %v: not due at refreshStart %v", life, start)
		}
	}
	if !m.refreshStart(&Session{}).IsZero() {
		t.Error("a token without expiry has a refresh start")
	}
}
