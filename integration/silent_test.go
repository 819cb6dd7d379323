package integration

import (
	"slices"
	"testing"

	"github.com/oidcsession/oidcsession"
)

// WithSilentSignIn tries prompt=none first. With no provider session the
// provider answers login_required and the package falls back to one
// interactive sign-in; once the provider has a session, a new app session
// starts without any page, and an expired session without a refresh token
// is renewed the same way.
//
// Dex ignores prompt and has no session of its own for the password
// connector: every sign-in shows its login form, silent or not.
func TestSilentSignIn(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		a := newApp(t, p, u, appSpec{opts: []oidcsession.Option{oidcsession.WithSilentSignIn()}})
		b := newBrowser(t, p, u)

		first := a.signIn(b)
		wantPages := []string{"login"}
		if p.name == "oidc-provider" {
			wantPages = []string{"login", "consent"}
		}
		if !slices.Equal(b.pages, wantPages) || !first.HasRefreshToken {
			t.Fatalf("first sign-in: provider pages %v, refresh token %v; want %v and a refresh token", b.pages, first.HasRefreshToken, wantPages)
		}
		c := p.counts(t, u)
		if p.promptNone && !slices.Equal(c.AuthErrors, []string{"login_required"}) {
			t.Errorf("provider's answers to prompt=none without a session: %q, want [login_required]", c.AuthErrors)
		}

		// The app's session is gone (cookie expired, another app of the
		// same provider); the provider's is not.
		b.clearAppCookies(a.base)
		b.pages = nil
		second := a.signIn(b)
		c = p.counts(t, u)
		if !p.promptNone {
			if !slices.Equal(b.pages, []string{"login"}) || c.SignIns != 2 {
				t.Errorf("second sign-in at %s: pages %v, %d sign-ins; want its login form again and 2", p.name, b.pages, c.SignIns)
			}
			return
		}
		if len(b.pages) != 0 || c.SilentOK != 1 || c.SignIns != 2 {
			t.Fatalf("second sign-in: provider pages %v, %d silent authorizations, %d sign-ins; want none, 1, 2", b.pages, c.SilentOK, c.SignIns)
		}
		// prompt=none cannot carry consent, so offline_access is not
		// granted (OIDC Core section 11): no refresh token.
		if second.HasRefreshToken {
			t.Errorf("silent sign-in has a refresh token at %s", p.name)
		}

		// Renewal: the access token expires, the session has no refresh
		// token, and a page request goes through prompt=none again.
		waitUntilExpired(t, second.ExpiresAt)
		renewed := a.signIn(b)
		c = p.counts(t, u)
		if len(b.pages) != 0 || c.SilentOK != 2 || renewed.AccessToken == second.AccessToken {
			t.Errorf("silent renewal: pages %v, %d silent authorizations, new token %v; want none, 2, true",
				b.pages, c.SilentOK, renewed.AccessToken != second.AccessToken)
		}
		if !renewed.CreatedAt.Equal(second.CreatedAt) {
			t.Errorf("silent renewal moved the sign-in time from %s to %s (the absolute lifetime must not grow)", second.CreatedAt, renewed.CreatedAt)
		}
	})
}
