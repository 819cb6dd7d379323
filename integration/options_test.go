package integration

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/oidcsession/oidcsession"
)

// refreshWith calls RefreshSession with opts through the app.
func (a *app) refreshWith(b *browser, opts oidcsession.RefreshOptions) result {
	a.t.Helper()
	r := b.fetch(http.MethodPost, a.base+"/api/refresh-options", opts)
	if r.status != http.StatusOK {
		a.t.Fatalf("RefreshSession(%+v): %s", opts, r)
	}
	var res result
	r.json(a.t, &res)
	return res
}

// RefreshOptions.Scopes narrows the scopes of one refresh (RFC 6749
// section 6): the provider grants the subset, keeps the refresh token's
// own scopes, and a later plain refresh works.
func TestRefreshNarrowScopes(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		a := newApp(t, p, u, appSpec{})
		b := newBrowser(t, p, u)
		first := a.signIn(b)
		if first.IDClaims["email"] == nil && p.name == "dex" {
			t.Fatalf("Dex's ID token has no email claim with the email scope: %v", first.IDClaims)
		}

		res := a.refreshWith(b, oidcsession.RefreshOptions{Scopes: []string{oidc.ScopeOpenID, "profile"}})
		if res.Error != "" || res.Session == nil {
			t.Fatalf("narrowed refresh: %+v", res)
		}
		s := res.Session
		switch p.name {
		case "oidc-provider":
			// It answers with the narrowed scope.
			if s.Scope != "openid profile" {
				t.Errorf("scope after narrowing = %q, want %q", s.Scope, "openid profile")
			}
		case "dex":
			// Dex sends no scope in its token response, so the session
			// keeps the scope it had; the new ID token shows the
			// narrowing: no email claim without the email scope.
			if _, ok := s.IDClaims["email"]; ok {
				t.Errorf("Dex's ID token after narrowing to openid profile still has email: %v", s.IDClaims)
			}
		}
		if !s.HasRefreshToken || s.AccessToken == first.AccessToken {
			t.Errorf("narrowed refresh left %+v", s)
		}

		// The refresh token keeps the whole grant.
		res = a.refreshWith(b, oidcsession.RefreshOptions{})
		if res.Error != "" || res.Session == nil {
			t.Fatalf("plain refresh after narrowing: %+v", res)
		}
		if p.name == "oidc-provider" && !strings.Contains(res.Session.Scope, "email") {
			t.Errorf("plain refresh after narrowing: scope %q, want the original grant's", res.Session.Scope)
		}
		if c := p.counts(t, u); c.RefreshGrants != 2 || len(c.RefreshErrors) != 0 {
			t.Errorf("provider counted %d refresh grants, errors %q; want 2 and none", c.RefreshGrants, c.RefreshErrors)
		}
	})
}

// Asking for a scope the grant does not hold: oidc-provider refuses with
// invalid_scope before spending the refresh token, so the package keeps
// the session and its refresh token (RefreshRejected). Dex refuses with
// invalid_request (RFC 6749 section 5.2 says invalid_scope): the request's
// options were refused, but nothing says whether the token was spent, so
// the session is kept without its refresh token (RefreshRejected) and the
// token is never presented again.
func TestRefreshWiderScope(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		a := newApp(t, p, u, appSpec{scopes: []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess}})
		b := newBrowser(t, p, u)
		a.signIn(b)

		res := a.refreshWith(b, oidcsession.RefreshOptions{Scopes: []string{oidc.ScopeOpenID, "profile", "email"}})
		switch p.name {
		case "oidc-provider":
			if res.Class != "rejected" || res.Code != "invalid_scope" || res.Session == nil || !res.Session.HasRefreshToken {
				t.Fatalf("wider scope: %+v; want rejected, invalid_scope, the session kept with its refresh token", res)
			}
			if res := a.refreshWith(b, oidcsession.RefreshOptions{}); res.Error != "" {
				t.Fatalf("plain refresh after the refusal: %+v", res)
			}
			c := p.counts(t, u)
			if c.RefreshGrants != 1 || c.Consumed != 1 || c.Revoked != 0 || len(c.RefreshErrors) != 1 ||
				!strings.HasPrefix(c.RefreshErrors[0], "invalid_scope") {
				t.Errorf("provider: %d grants, %d consumed, %d revoked, errors %q; want 1, 1, 0, [invalid_scope]",
					c.RefreshGrants, c.Consumed, c.Revoked, c.RefreshErrors)
			}
		case "dex":
			if res.Class != "rejected" || res.Code != "invalid_request" || res.Session == nil || res.Session.HasRefreshToken {
				t.Fatalf("wider scope at Dex: %+v; want rejected, invalid_request, the session kept without its refresh token", res)
			}
			if s, r := a.me(b); s == nil || r.status != http.StatusOK || s.HasRefreshToken {
				t.Errorf("after Dex's refusal the session goes on with its access token only: %s", r)
			}
			if c := p.counts(t, u); c.RefreshGrants != 0 {
				t.Errorf("Dex counted %d refresh grants; want none", c.RefreshGrants)
			}
		}
	})
}

// RFC 8707 at oidc-provider: a resource the grant holds gives a JWT access
// token for it, kept beside the session's own (which stays as it was); an
// unknown one is refused with invalid_target after the provider has spent
// the refresh token, so the package drops it, keeps the session until its
// access token expires, and never presents the spent token (the provider
// sees no reuse).
func TestRefreshResource(t *testing.T) {
	p := need(t, "oidc-provider")
	t.Parallel()
	u := p.newUser(t)
	a := newApp(t, p, u, appSpec{
		scopes: []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess, apiScope},
		opts:   []oidcsession.Option{oidcsession.WithAuthParams(map[string]string{"resource": apiResource})},
	})
	b := newBrowser(t, p, u)
	first := a.signIn(b)
	if first.AccessClaims != nil {
		t.Fatalf("the sign-in's access token is a JWT %v; want the opaque userinfo token", first.AccessClaims)
	}

	res := a.refreshWith(b, oidcsession.RefreshOptions{Resource: []string{apiResource}})
	if res.Error != "" || res.Session == nil {
		t.Fatalf("refresh for %s: %+v", apiResource, res)
	}
	if s := res.Session; s.AccessToken != first.AccessToken || !s.HasRefreshToken ||
		len(s.Resources) != 1 || s.Resources[0].Resource != apiResource || s.Resources[0].Scope != apiScope {
		t.Errorf("session after the refresh for %s: own token %s (was %s), refresh token %v, resource tokens %+v; want its own token kept and one for %s (%s)",
			apiResource, s.AccessToken, first.AccessToken, s.HasRefreshToken, s.Resources, apiResource, apiScope)
	}
	tr, r := a.token(b, apiResource) // the token just obtained, without a grant
	if tr.Token == nil {
		t.Fatalf("Token(%s): %s", apiResource, r)
	}
	if at := tr.Token.Claims; at["aud"] != apiResource || at["scope"] != apiScope || at["sub"] != u.name {
		t.Errorf("access token for %s has claims %v; want aud %s, scope %s, sub %s", apiResource, at, apiResource, apiScope, u.name)
	}
	before := p.counts(t, u)
	if before.RefreshGrants != 1 || before.Consumed != 1 {
		t.Fatalf("provider: %d grants, %d consumed; want 1 and 1", before.RefreshGrants, before.Consumed)
	}

	unknown := "https://unknown.example.test/"
	res = a.refreshWith(b, oidcsession.RefreshOptions{Resource: []string{unknown}})
	if res.Class != "rejected" || res.Code != "invalid_target" || res.Session == nil || res.Session.HasRefreshToken {
		t.Fatalf("refresh for %s: %+v; want rejected, invalid_target, the session kept without a refresh token", unknown, res)
	}
	after := p.counts(t, u)
	if after.Consumed != 2 || len(after.RefreshErrors) != 1 || !strings.HasPrefix(after.RefreshErrors[0], "invalid_target") {
		t.Fatalf("provider: %d consumed, errors %q; want the refused request to have spent the token (2) and one invalid_target",
			after.Consumed, after.RefreshErrors)
	}

	// The session lasts until its access token expires, then ends: the
	// spent refresh token is never presented.
	if s, r := a.me(b); s == nil || s.HasRefreshToken {
		t.Fatalf("request after the refusal: %s", r)
	}
	waitUntilExpired(t, res.Session.ExpiresAt)
	r = b.fetch(http.MethodGet, a.base+"/app", nil)
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "session_expired") {
		t.Errorf("request after expiry without a refresh token: %s", r)
	}
	end := p.counts(t, u)
	if end.RefreshGrants != 1 || end.Consumed != 2 || end.Revoked != 0 || !slices.Equal(end.RefreshErrors, after.RefreshErrors) {
		t.Errorf("provider after the session ended: %d grants, %d consumed, %d revoked, errors %q; want no further refresh attempt",
			end.RefreshGrants, end.Consumed, end.Revoked, end.RefreshErrors)
	}
}
