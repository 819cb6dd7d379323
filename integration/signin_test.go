package integration

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// A user signs in through the provider's own pages: the package's
// authorization request (PKCE, state, nonce), the provider's login and
// consent pages, the callback's checks (RFC 9207 iss where sent) and code
// exchange, and a session with a refresh token.
func TestSignIn(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		a := newApp(t, p, u, appSpec{})
		b := newBrowser(t, p, u)
		s := a.signIn(b)

		if !s.HasRefreshToken {
			t.Errorf("no refresh token after signing in with offline_access")
		}
		if s.IDClaims["iss"] != p.issuer {
			t.Errorf("ID token iss = %v, want %s", s.IDClaims["iss"], p.issuer)
		}
		wantPages := []string{"login"}
		if p.name == "oidc-provider" {
			wantPages = []string{"login", "consent"} // Dex is configured to skip approval
		}
		if !slices.Equal(b.pages, wantPages) {
			t.Errorf("provider pages = %v, want %v", b.pages, wantPages)
		}
		callback := ""
		for _, h := range b.hops {
			if strings.HasPrefix(h, a.base+"/auth/callback?") {
				callback = h
			}
		}
		if got := strings.Contains(callback, "iss="); got != p.issParameter {
			t.Errorf("callback %q carries iss: %v, want %v (RFC 9207)", callback, got, p.issParameter)
		}
		if c := p.counts(t, u); c.SignIns != 1 || c.RefreshGrants != 0 {
			t.Errorf("provider counted %d sign-ins and %d refresh grants, want 1 and 0", c.SignIns, c.RefreshGrants)
		}

		// The session works on the next request without another round trip.
		again, r := a.me(b)
		if again == nil || again.AccessToken != s.AccessToken {
			t.Fatalf("second request: %v", r)
		}
		if got := b.fetch(http.MethodGet, a.base+"/api/me", nil); got.status != http.StatusOK {
			t.Errorf("API request with a fresh session: %s", got)
		}
	})
}

// oidc-provider follows OIDC Core section 11: offline_access, and so a
// refresh token, is granted only when the request has prompt=consent
// (WithPrompt("consent")). Without it the session has no refresh token.
func TestOfflineAccessNeedsConsentPrompt(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		a := newApp(t, p, u, appSpec{noConsentPrompt: true})
		s := a.signIn(newBrowser(t, p, u))
		if s.HasRefreshToken == p.consentForOffline {
			t.Errorf("refresh token without prompt=consent: %v; want %v", s.HasRefreshToken, !p.consentForOffline)
		}
		if p.consentForOffline && strings.Contains(s.Scope, "offline_access") {
			t.Errorf("granted scope %q has offline_access", s.Scope)
		}
	})
}
