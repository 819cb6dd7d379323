package integration

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/oidcsession/oidcsession"
)

// OpenID Connect Back-Channel Logout 1.0 with the package's own handler,
// at oidc-provider (Dex sends no logout tokens). Every app mounts
// BackChannelLogoutHandler, registered as its client's
// backchannel_logout_uri with sid required. One browser signs in to two
// apps, one keeping sessions in a Store and one in cookies; then the
// provider session ends, either on the provider's own sign-out page or
// through a third app's sign-out (RP-initiated, with logout=yes: every
// client of the provider session). The provider posts a logout token to
// each app, and each handler accepts it (the provider's backchannel.success
// event: it answered 200).
//
//   - Store: the session (and a copy of its cookie) is refused at once, and
//     its refresh token is revoked at the provider (RFC 7009), since
//     offline_access grants outlive the provider's logout there.
//   - Cookies: a cookie cannot be revoked, so the session is served until
//     its access token needs a refresh; that refresh is refused by the
//     package (the sid is on the Coordinator's revocation list) without
//     presenting the refresh token, which the provider still honours
//     (offline_access grants outlive the provider's logout there: OIDC
//     Back-Channel Logout 1.0 section 2.7).
//
// The same logout token posted again is refused (jti replay), and so are
// another app's token (audience) and a tampered one (signature).
func TestBackChannelLogout(t *testing.T) {
	p := need(t, "oidc-provider")
	t.Parallel()
	for _, via := range []string{"at the provider", "from another app"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			u := p.newUser(t)
			store := newApp(t, p, u, appSpec{role: "backchannel", cookieName: "oidcsession-store",
				opts: []oidcsession.Option{oidcsession.WithStore(oidcsession.NewMemoryStore())}})
			cookies := newApp(t, p, u, appSpec{role: "backchannel", cookieName: "oidcsession-cookies"})
			b := newBrowser(t, p, u)
			inStore := store.signIn(b)
			inCookies := cookies.signIn(b)
			for _, s := range []*session{inStore, inCookies} {
				if sid, _ := s.IDClaims["sid"].(string); sid == "" {
					t.Fatalf("ID token without sid (backchannel_logout_session_required): %v", s.IDClaims)
				}
			}
			storeCopy, cookiesCopy := store.sessionCookies(b), cookies.sessionCookies(b)
			b.pages = nil

			var apps int
			switch via {
			case "at the provider":
				r := b.get(p.issuer + "/session/end")
				if r.status != http.StatusOK || !strings.HasPrefix(r.url.String(), p.issuer) {
					t.Fatalf("the provider's sign-out: %s", r)
				}
				apps = 2
			case "from another app":
				other := newApp(t, p, u, appSpec{role: "backchannel", cookieName: "oidcsession-other"})
				other.signIn(b)
				b.pages = nil
				if r := b.submitLogout(other.base); r.status != http.StatusOK || r.url.String() != other.base+"/" {
					t.Fatalf("sign-out at the other app: %s", r)
				}
				apps = 3 // the other app's own session ended before its token came: accepted all the same
			}
			c := p.counts(t, u)
			if !slices.Equal(b.pages, []string{"logout"}) || c.EndSessions != 1 || c.Backchannel != apps || len(c.BackchannelErrors) != 0 {
				t.Fatalf("provider: pages %v, %d sessions ended, %d logout tokens accepted, errors %q; want its sign-out confirmation, 1, %d, none",
					b.pages, c.EndSessions, c.Backchannel, c.BackchannelErrors, apps)
			}

			// What each handler was given: a logout token of the app's own
			// client, for the user and the provider session of its sign-in.
			tokens := map[*app]string{}
			for _, a := range []*app{store, cookies} {
				got, statuses := a.received()
				if len(got) != 1 || statuses[0] != http.StatusOK {
					t.Fatalf("%s's handler got %d logout tokens and answered %v; want one, 200", a.cookieName, len(got), statuses)
				}
				tokens[a] = got[0]
				h, _ := jwtPart(got[0], 0)
				claims, _ := jwtPart(got[0], 1)
				events, _ := claims["events"].(map[string]any)
				s := map[*app]*session{store: inStore, cookies: inCookies}[a]
				if h["typ"] != "logout+jwt" || claims["iss"] != p.issuer || claims["aud"] != a.c.id || claims["sub"] != u.name ||
					claims["sid"] != s.IDClaims["sid"] || claims["jti"] == nil || claims["nonce"] != nil ||
					events["http://schemas.openid.net/event/backchannel-logout"] == nil {
					t.Errorf("%s's logout token: header %v, claims %v; want a logout+jwt for %s, sub %s, sid %v",
						a.cookieName, h, claims, a.c.id, u.name, s.IDClaims["sid"])
				}
			}

			// Store: refused at once, the cookie and a copy of it.
			if s, r := store.me(b); s != nil || r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `"session_expired"`) {
				t.Errorf("store session right after back-channel logout: %s; want 401 session_expired", r)
			}
			thief := newBrowser(t, p, u)
			thief.setCookies(store.base, storeCopy)
			if s, r := store.me(thief); s != nil || r.status != http.StatusUnauthorized {
				t.Errorf("a copy of the store session's cookie: %s; want 401", r)
			}
			if left, err := store.m.Sessions(context.Background(), u.name); err != nil || len(left) != 0 {
				t.Errorf("the store still lists %d sessions of %s (%v); want none", len(left), u.name, err)
			}

			// Cookies: served until the access token needs a refresh, which
			// is then refused without reaching the provider.
			if !beforeRefreshWindow(inCookies.ExpiresAt) {
				t.Logf("the cookie session is inside its refresh window already; not checked before its refresh")
			} else if s, r := cookies.me(b); s == nil || s.AccessToken != inCookies.AccessToken {
				t.Errorf("cookie session right after back-channel logout: %s; want it served until its access token needs a refresh", r)
			}
			waitUntilExpired(t, inCookies.ExpiresAt)
			if s, r := cookies.me(b); s != nil || r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `"session_expired"`) {
				t.Errorf("cookie session at its next refresh: %s; want 401 session_expired", r)
			}
			thief = newBrowser(t, p, u)
			thief.setCookies(cookies.base, cookiesCopy)
			if s, r := cookies.me(thief); s != nil || r.status != http.StatusUnauthorized {
				t.Errorf("a copy of the cookie session's cookie: %s; want 401", r)
			}
			c = p.counts(t, u)
			// The store app revoked its session's grant (RFC 7009):
			// offline_access grants survive the provider's logout. The
			// cookie app cannot reach its session's token.
			wantRevoked := 1
			if via == "from another app" {
				wantRevoked = 2 // and the other app's own sign-out revoked its grant
			}
			if c.RefreshGrants != 0 || len(c.RefreshErrors) != 0 || c.Revoked != wantRevoked {
				t.Errorf("provider: %d refresh grants, errors %q, %d grants revoked; want no refresh token presented, and %d revoked",
					c.RefreshGrants, c.RefreshErrors, c.Revoked, wantRevoked)
			}

			// Logout tokens the handler must refuse, each for its own reason;
			// nothing more is ended or accepted.
			tampered := tokens[store][:len(tokens[store])-4] + flip(tokens[store][len(tokens[store])-4:])
			for _, tc := range []struct {
				name, token, reason string
			}{
				{"the same token again", tokens[store], "jti already used"},
				{"another app's token", tokens[cookies], "audience"},
				{"a tampered signature", tampered, "signature"},
				{"no token", "", "no logout_token"},
			} {
				r := postLogoutToken(t, store.base, tc.token)
				if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"invalid_request"`) || !strings.Contains(string(r.body), tc.reason) {
					t.Errorf("%s: %s; want 400 invalid_request (%s)", tc.name, r, tc.reason)
				}
			}
			if r := postLogoutToken(t, cookies.base, tokens[cookies]); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "jti already used") {
				t.Errorf("the cookie app's token again: %s; want 400 (jti already used)", r)
			}
		})
	}
}

// postLogoutToken posts a logout token to the app's back-channel logout
// handler as a provider does.
func postLogoutToken(t *testing.T, appBase, tok string) *response {
	t.Helper()
	resp, err := http.PostForm(appBase+backchannelPath, url.Values{"logout_token": {tok}})
	if err != nil {
		t.Fatalf("posting a logout token: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return &response{status: resp.StatusCode, url: resp.Request.URL, header: resp.Header, body: body}
}

// flip changes every character of a base64url string into another one of
// the alphabet.
func flip(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}
