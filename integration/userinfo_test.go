package integration

import (
	"net/http"
	"testing"

	"github.com/oidcsession/oidcsession"
)

// RefetchUserInfo reads the provider's userinfo endpoint with the
// session's access token, checks its sub and keeps the claims in the
// session; WithUserInfoOnRefresh fetches them again after a refresh.
func TestUserInfo(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		a := newApp(t, p, u, appSpec{opts: []oidcsession.Option{oidcsession.WithUserInfoOnRefresh()}})
		b := newBrowser(t, p, u)
		first := a.signIn(b)
		if first.UserInfo["sub"] != first.Subject {
			t.Errorf("WithUserInfoOnRefresh: claims at sign-in %v, want the sub %s", first.UserInfo, first.Subject)
		}

		r := b.fetch(http.MethodPost, a.base+"/api/userinfo", nil)
		var res result
		if r.status != http.StatusOK {
			t.Fatalf("RefetchUserInfo: %s", r)
		}
		r.json(t, &res)
		if res.Error != "" || res.Session == nil {
			t.Fatalf("RefetchUserInfo: %+v", res)
		}
		claims := res.Session.UserInfo
		if claims["sub"] != first.Subject || claims["email"] != u.email || claims["name"] == nil {
			t.Errorf("userinfo claims %v; want sub %s, the account's email and a name", claims, first.Subject)
		}

		// Stored in the session: the next request has them.
		s, r := a.me(b)
		if s == nil || s.UserInfo["sub"] != first.Subject {
			t.Fatalf("next request: %s", r)
		}

		// And fetched again with the refreshed access token.
		waitUntilExpired(t, s.ExpiresAt)
		refreshed, r := a.me(b)
		if refreshed == nil || refreshed.AccessToken == s.AccessToken || refreshed.UserInfo["sub"] != first.Subject {
			t.Fatalf("request after expiry: %s", r)
		}
		if c := p.counts(t, u); c.RefreshGrants != 1 {
			t.Errorf("provider counted %d refresh grants, want 1", c.RefreshGrants)
		}
	})
}
