package integration

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Every client authentication method the provider offers that the
// package implements, and every ID-token algorithm the clients are
// registered with: the code exchange, a refresh and the revocation at
// sign-out each authenticate with the client's method (a provider that
// enforces the registration refuses any other), and the ID tokens verify.
//
// oidc-provider: client_secret_basic, client_secret_post, none (public,
// PKCE), private_key_jwt with an ES256 and with a PS256 key; ID tokens
// RS256, ES256 and PS256. (It also offers client_secret_jwt, which the
// package does not implement.) Dex: client_secret_basic and
// client_secret_post on one client, and a public client; RS256 only.
func TestClientAuthentication(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		for _, role := range slices.Sorted(maps.Keys(p.clients)) {
			c := p.clients[role]
			t.Run(role, func(t *testing.T) {
				t.Parallel()
				u := p.newUser(t)
				a := newApp(t, p, u, appSpec{role: role})
				b := newBrowser(t, p, u)
				first := a.signIn(b)
				if first.IDTokenAlg != c.idTokenAlg || first.IDClaims["aud"] != c.id {
					t.Errorf("ID token alg %s, aud %v; want %s, %s", first.IDTokenAlg, first.IDClaims["aud"], c.idTokenAlg, c.id)
				}
				waitUntilExpired(t, first.ExpiresAt)
				s, r := a.me(b)
				if s == nil || s.IDTokenAlg != c.idTokenAlg {
					t.Fatalf("refresh as %s (%s): %s", c.id, c.auth, r)
				}
				if got := p.counts(t, u); got.SignIns != 1 || got.RefreshGrants != 1 || len(got.RefreshErrors) != 0 {
					t.Errorf("provider: %d sign-ins, %d refresh grants, errors %q; want 1, 1, none", got.SignIns, got.RefreshGrants, got.RefreshErrors)
				}

				// Sign-out from a script: JSON with where to go next.
				r = b.fetch(http.MethodPost, a.base+"/auth/logout", nil)
				var out struct {
					RedirectTo string `json:"redirect_to"`
				}
				if r.status != http.StatusOK {
					t.Fatalf("sign-out: %s", r)
				}
				r.json(t, &out)
				wantPrefix := a.base + "/"
				if p.endSession {
					wantPrefix = p.issuer + "/session/end?"
				}
				if !strings.HasPrefix(out.RedirectTo, wantPrefix) {
					t.Errorf("sign-out sends the browser to %q, want %s…", out.RedirectTo, wantPrefix)
				}
				if got := p.counts(t, u); p.revocation && !slices.Equal(got.RevokedBy, []string{"revocation"}) {
					t.Errorf("revocation as %s (%s): grants revoked by %q, want one revocation", c.id, c.auth, got.RevokedBy)
				}
			})
		}
	})
}
