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
// token (after its own 3 s reuse interval) but revokes nothing else.
func TestReuseAfterGraceWindow(t *testing.T) {
	const grace = 2 * time.Second
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

		// After the grace window (and Dex's reuse interval of 3 s, within
		// which it would answer a spent token with the current one).
		time.Sleep(time.Until(refreshedAt.Add(3*time.Second + 500*time.Millisecond)))
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
			if n := dexRefusals(p.proc.log, dexLines); n != 1 {
				t.Errorf("Dex logged %d refused (claimed twice) refresh tokens, want 1", n)
			}
			if next == nil || c.RefreshGrants != 2 {
				t.Errorf("refreshed session at Dex: %s, %d refresh grants; want it refreshed (Dex revokes nothing on reuse) and 2", r, c.RefreshGrants)
			}
		}
	})
}
