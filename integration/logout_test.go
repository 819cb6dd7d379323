package integration

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Sign-out: the package revokes the refresh token (RFC 7009) where the
// provider has a revocation endpoint, deletes its cookies and sends the
// browser through the provider's end_session_endpoint, which ends the
// provider's session and comes back to the post-logout URI.
//
// oidc-provider: the grant is revoked, its session ends (a following
// prompt=none answers login_required), and a copy of the old cookie cannot
// be refreshed any more: the provider refuses the revoked token. (This
// client has no back-channel logout URI; with one, the package refuses the
// copy itself: see TestBackChannelLogout.)
// Dex has neither revocation nor end_session: sign-out clears the app's
// cookies and lands on the post-logout URI, and a copy of the old cookie
// can still be refreshed until its refresh token expires.
func TestLogout(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		a := newApp(t, p, u, appSpec{})
		b := newBrowser(t, p, u)
		first := a.signIn(b)
		stolen := b.appCookies(a.base)
		b.pages = nil

		r := b.submitLogout(a.base)
		if r.status != http.StatusOK || r.url.String() != a.base+"/" || string(r.body) != "home" {
			t.Fatalf("sign-out: want the post-logout page %s/, got %s", a.base, r)
		}
		if got := b.appCookies(a.base); len(got) != 0 {
			t.Errorf("app cookies left after sign-out: %v", got)
		}
		wentThroughProvider := slices.ContainsFunc(r.hops, func(h string) bool { return strings.HasPrefix(h, p.issuer) })
		if wentThroughProvider != p.endSession {
			t.Errorf("sign-out went through the provider: %v, want %v (hops %v)", wentThroughProvider, p.endSession, r.hops)
		}
		if s, r := a.me(b); s != nil {
			t.Errorf("request after sign-out: %s", r)
		}

		c := p.counts(t, u)
		if p.revocation && (!slices.Equal(c.RevokedBy, []string{"revocation"}) || len(c.RefreshErrors) != 0) {
			t.Errorf("provider revoked grants by %q (refresh errors %q); want one revocation", c.RevokedBy, c.RefreshErrors)
		}
		if p.endSession {
			if !slices.Equal(b.pages, []string{"logout"}) || c.EndSessions != 1 {
				t.Errorf("provider pages %v, %d sessions ended; want its sign-out confirmation and 1", b.pages, c.EndSessions)
			}
			// The provider's session is over: prompt=none cannot sign in.
			b.pages = nil
			r := b.get(a.base + "/auth/login?prompt=none")
			if r.status != http.StatusUnauthorized || len(b.pages) != 0 || !strings.Contains(string(r.body), "login_required") {
				t.Errorf("prompt=none after sign-out: want 401 login_required without a login page, got %s (pages %v)", r, b.pages)
			}
		}

		// A copy of the cookie taken before sign-out, once its access
		// token has expired.
		waitUntilExpired(t, first.ExpiresAt)
		thief := newBrowser(t, p, u)
		thief.setCookies(a.base, stolen)
		s, r := a.me(thief)
		c = p.counts(t, u)
		if p.revocation {
			if s != nil || r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "session_expired") {
				t.Errorf("old cookie after sign-out: %s; want 401 session_expired", r)
			}
			if want := []string{"invalid_grant: refresh token not found"}; c.RefreshGrants != 0 || !slices.Equal(c.RefreshErrors, want) {
				t.Errorf("provider: %d refresh grants, errors %q; want the revoked token refused once: %q", c.RefreshGrants, c.RefreshErrors, want)
			}
		} else {
			if s == nil || c.RefreshGrants != 1 {
				t.Errorf("old cookie after sign-out at %s: %s, %d refresh grants; want it refreshed (nothing was revoked)", p.name, r, c.RefreshGrants)
			}
		}
	})
}
