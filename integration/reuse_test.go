package integration

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
)

// Within the grace window an old cookie is given the refreshed session;
// after it, the old cookie's spent refresh token does reach the provider.
// oidc-provider's reuse detection then revokes the whole grant, so the
// refreshed session ends too at its next refresh. Dex refuses the spent
// token but revokes nothing else.
func TestReuseAfterGraceWindow(t *testing.T) {
	const grace = 3 * time.Second // the replay below must land inside it, even on a busy machine
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		a := newApp(t, p, u, appSpec{opts: []oidcsession.Option{oidcsession.WithGraceWindow(grace)}})
		b := newBrowser(t, p, u)
		first := a.signIn(b)
		old := b.appCookies(a.base)
		waitUntilExpired(t, first.ExpiresAt)

		refreshed, r := a.me(b)
		if refreshed == nil {
			t.Fatalf("refresh: %s", r)
		}
		refreshedAt := time.Now()

		// Inside the grace window: the old cookie gets the new session,
		// and nothing reaches the provider.
		replay := newBrowser(t, p, u)
		replay.setCookies(a.base, old)
		if s, r := a.me(replay); s == nil || s.AccessToken != refreshed.AccessToken {
			t.Fatalf("old cookie inside the grace window: %s; want the refreshed session", r)
		}
		if c := p.counts(t, u); c.RefreshGrants != 1 || len(c.RefreshErrors) != 0 {
			t.Fatalf("provider: %d refresh grants, errors %q; want 1 and none", c.RefreshGrants, c.RefreshErrors)
		}

		// After the grace window.
		time.Sleep(time.Until(refreshedAt.Add(grace + 300*time.Millisecond)))
		dexLines := len(p.proc.log.Lines())
		replay = newBrowser(t, p, u)
		replay.setCookies(a.base, old)
		s, r := a.me(replay)
		if s != nil || r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "session_expired") {
			t.Fatalf("old cookie after the grace window: %s; want 401 session_expired", r)
		}

		// The refreshed session, whose access token has expired by now.
		waitUntilExpired(t, refreshed.ExpiresAt)
		next, r := a.me(b)
		c := p.counts(t, u)
		switch p.name {
		case "oidc-provider":
			want := []string{"invalid_grant: refresh token already used", "invalid_grant: refresh token not found"}
			if !slices.Equal(c.RefreshErrors, want) || !slices.Equal(c.RevokedBy, []string{"token"}) || c.RefreshGrants != 1 {
				t.Errorf("provider: refresh errors %q, grants revoked by %q, %d refresh grants; want %q, one revocation at the token endpoint (reuse detection), 1",
					c.RefreshErrors, c.RevokedBy, c.RefreshGrants, want)
			}
			if next != nil || r.status != http.StatusUnauthorized {
				t.Errorf("refreshed session after reuse detection: %s; want it ended (the grant is revoked)", r)
			}
		case "dex":
			if n := dexRefusals(p.proc.log, dexLines, u); n != 1 {
				t.Errorf("Dex logged %d refused (claimed twice) refresh tokens, want 1", n)
			}
			if next == nil || c.RefreshGrants != 2 {
				t.Errorf("refreshed session at Dex: %s, %d refresh grants; want it refreshed (Dex revokes nothing on reuse) and 2", r, c.RefreshGrants)
			}
		}
	})
}

// RefreshSession always makes a grant, also for a request that still
// carries the cookie from before the last refresh: then it must grant from
// that refresh's outcome, never present the spent token. oidc-provider
// would answer the spent token with reuse detection and revoke the grant,
// Dex would refuse it.
func TestRefreshSessionWithOldCookie(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		a := newApp(t, p, u, appSpec{})
		b := newBrowser(t, p, u)
		first := a.signIn(b)
		old := b.appCookies(a.base)
		waitUntilExpired(t, first.ExpiresAt)
		refreshed, r := a.me(b)
		if refreshed == nil {
			t.Fatalf("refresh: %s", r)
		}

		replay := newBrowser(t, p, u)
		replay.setCookies(a.base, old)
		res := a.refreshWith(replay, oidcsession.RefreshOptions{})
		if res.Error != "" || res.Session == nil || res.Session.AccessToken == refreshed.AccessToken {
			t.Fatalf("RefreshSession with the old cookie: %+v; want a new grant", res)
		}
		c := p.counts(t, u)
		if c.RefreshGrants != 2 || len(c.RefreshErrors) != 0 || c.Revoked > 0 {
			t.Errorf("provider: %d refresh grants, errors %q, %d grants revoked; want 2, none, none", c.RefreshGrants, c.RefreshErrors, c.Revoked)
		}
		// Both cookies now hold live sessions of the same grant.
		if s, r := a.me(b); s == nil {
			t.Errorf("the browser's session after the old cookie's refresh: %s", r)
		}
	})
}

// Two instances of an app behind a load balancer that share the cookie
// keys but nothing else (no WithStore, no WithCoordinator): each has its
// own single-flight and grace window, since the default Coordinator is
// per process. When one instance has refreshed a session and the other
// still receives the old cookie (a request sent before the new cookie
// arrived), the second presents the spent refresh token and the provider
// refuses it: that request is signed out at both providers. At
// oidc-provider the reuse detection also revokes the grant, so the
// refreshed session ends at its next refresh; Dex revokes nothing else.
// (Dex's expiry.refreshTokens.reuseInterval, off unless configured, would
// answer the spent token with the current one for that long.) With a
// shared Store or Coordinator the old cookie is served instead: see
// TestReplicasOneSession.
func TestReplicasWithoutSharing(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		keys := []oidcsession.Option{oidcsession.WithKeys(randomBytes(32), randomBytes(32))}
		one := newApp(t, p, u, appSpec{opts: keys})
		two := newApp(t, p, u, appSpec{opts: keys})
		b := newBrowser(t, p, u)
		first := one.signIn(b)
		old := b.appCookies(one.base)
		waitUntilExpired(t, first.ExpiresAt)
		refreshed, r := one.me(b)
		if refreshed == nil {
			t.Fatalf("refresh at the first instance: %s", r)
		}

		dexLines := len(p.proc.log.Lines())
		late := newBrowser(t, p, u)
		late.setCookies(two.base, old)
		if s, r := two.me(late); s != nil || r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "session_expired") {
			t.Errorf("old cookie at the second instance: %s; want 401 session_expired", r)
		}
		c := p.counts(t, u)
		switch p.name {
		case "oidc-provider":
			if !slices.Equal(c.RefreshErrors, []string{"invalid_grant: refresh token already used"}) || !slices.Equal(c.RevokedBy, []string{"token"}) {
				t.Errorf("provider: refresh errors %q, grants revoked by %q; want reuse detected and the grant revoked", c.RefreshErrors, c.RevokedBy)
			}
		case "dex":
			if n := dexRefusals(p.proc.log, dexLines, u); n != 1 {
				t.Errorf("Dex logged %d refused (claimed twice) refresh tokens, want 1", n)
			}
		}

		// The first instance's session at its next refresh.
		waitUntilExpired(t, refreshed.ExpiresAt)
		s, r := one.me(b)
		if p.familyRevocation {
			if s != nil {
				t.Errorf("the refreshed session after reuse detection: %s; want it ended", r)
			}
		} else if s == nil || p.counts(t, u).RefreshGrants != 2 {
			t.Errorf("the refreshed session at %s: %s; want it refreshed (nothing else was revoked)", p.name, r)
		}
	})
}
