package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// An expired access token is refreshed inline on the next page request:
// one refresh grant at the provider, a new access token, and no grant
// while the new one is fresh.
func TestInlineRefresh(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		a := newApp(t, p, u, appSpec{})
		b := newBrowser(t, p, u)
		first := a.signIn(b)
		waitUntilExpired(t, first.ExpiresAt)

		s, r := a.me(b)
		if s == nil {
			t.Fatalf("request after expiry: %s", r)
		}
		if s.AccessToken == first.AccessToken || !s.ExpiresAt.After(time.Now()) {
			t.Errorf("after expiry: access token %s (was %s), expires %s: want a new, valid token",
				s.AccessToken, first.AccessToken, s.ExpiresAt)
		}
		if !s.HasRefreshToken || s.Subject != first.Subject || !s.CreatedAt.Equal(first.CreatedAt) {
			t.Errorf("refreshed session %+v does not continue %+v", s, first)
		}
		if c := p.counts(t, u); c.RefreshGrants != 1 || len(c.RefreshErrors) != 0 {
			t.Errorf("provider counted %d refresh grants, errors %q; want 1 and none", c.RefreshGrants, c.RefreshErrors)
		}

		again, r := a.me(b)
		if again == nil || again.AccessToken != s.AccessToken {
			t.Fatalf("request with the refreshed session: %s", r)
		}
		if c := p.counts(t, u); c.RefreshGrants != 1 {
			t.Errorf("provider counted %d refresh grants after a request with a fresh token, want still 1", c.RefreshGrants)
		}
	})
}

// The try-refresh contract with a real provider: an API request with an
// expired token answers 401 try_refresh without a grant, the refresh
// handler makes one grant, and the retried request passes.
func TestTryRefresh(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		a := newApp(t, p, u, appSpec{})
		b := newBrowser(t, p, u)
		first := a.signIn(b)
		waitUntilExpired(t, first.ExpiresAt)

		r := b.fetch(http.MethodGet, a.base+"/api/me", nil)
		if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `"try_refresh"`) ||
			!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("API request after expiry: %s", r)
		}
		if c := p.counts(t, u); c.RefreshGrants != 0 {
			t.Fatalf("provider counted %d refresh grants before the refresh handler ran, want 0", c.RefreshGrants)
		}

		// Without the CSRF header: refused before anything happens.
		req, _ := http.NewRequest(http.MethodPost, a.base+"/auth/refresh", nil)
		if r := b.send(req); r.status != http.StatusForbidden {
			t.Errorf("refresh without X-Session-Refresh: %s", r)
		}

		r = b.fetch(http.MethodPost, a.base+"/auth/refresh", nil)
		var body struct {
			ExpiresAt time.Time `json:"expires_at"`
		}
		if r.status != http.StatusOK {
			t.Fatalf("refresh handler: %s", r)
		}
		r.json(t, &body)
		if !body.ExpiresAt.After(time.Now()) || strings.Contains(string(r.body), "token\"") {
			t.Errorf("refresh handler answered %s", r.body)
		}

		r = b.fetch(http.MethodGet, a.base+"/api/me", nil)
		var s session
		if r.status != http.StatusOK {
			t.Fatalf("retried API request: %s", r)
		}
		r.json(t, &s)
		if s.AccessToken == first.AccessToken {
			t.Errorf("retried request still has the expired access token")
		}

		// Another tab that saw the same try_refresh: no second grant.
		if r := b.fetch(http.MethodPost, a.base+"/auth/refresh", nil); r.status != http.StatusOK {
			t.Errorf("second refresh: %s", r)
		}
		if c := p.counts(t, u); c.RefreshGrants != 1 || len(c.RefreshErrors) != 0 {
			t.Errorf("provider counted %d refresh grants, errors %q; want 1 and none", c.RefreshGrants, c.RefreshErrors)
		}
	})
}

// Fifty requests arrive at once with the same expired session (tabs,
// parallel API calls), half on a page that refreshes inline and half on
// the refresh handler: all succeed with the same new session, and the
// provider sees exactly one refresh grant.
func TestRefreshStorm(t *testing.T) {
	const n = 50
	forEachProvider(t, func(t *testing.T, p *provider) {
		u := p.newUser(t)
		a := newApp(t, p, u, appSpec{})
		b := newBrowser(t, p, u)
		first := a.signIn(b)
		cookie := b.cookieHeader(a.base)
		waitUntilExpired(t, first.ExpiresAt)

		// A client without a jar, so every request carries the old cookie.
		client := &http.Client{
			Timeout:       30 * time.Second,
			Transport:     &http.Transport{MaxIdleConnsPerHost: n},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		type answer struct {
			status    int
			setCookie bool
			body      []byte
			err       error
		}
		answers := make([]answer, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var req *http.Request
				if i%2 == 0 {
					req, _ = http.NewRequest(http.MethodGet, a.base+"/app", nil)
					req.Header.Set("Accept", "application/json")
				} else {
					req, _ = http.NewRequest(http.MethodPost, a.base+"/auth/refresh", nil)
					req.Header.Set("X-Session-Refresh", "1")
				}
				req.Header.Set("Cookie", cookie)
				<-start
				resp, err := client.Do(req)
				if err != nil {
					answers[i].err = err
					return
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				answers[i] = answer{status: resp.StatusCode, setCookie: len(resp.Header.Values("Set-Cookie")) > 0, body: body}
			})
		}
		close(start)
		wg.Wait()

		tokens := map[string]int{}
		expiries := map[string]int{}
		for i, ans := range answers {
			switch {
			case ans.err != nil:
				t.Errorf("request %d: %v", i, ans.err)
				continue
			case ans.status != http.StatusOK || !ans.setCookie:
				t.Errorf("request %d: %d (new cookie: %v) %s", i, ans.status, ans.setCookie, ans.body)
				continue
			}
			if i%2 == 0 {
				var s session
				if err := json.Unmarshal(ans.body, &s); err != nil {
					t.Errorf("request %d: %v", i, err)
				}
				tokens[s.AccessToken]++
			} else {
				var e struct {
					ExpiresAt string `json:"expires_at"`
				}
				_ = json.Unmarshal(ans.body, &e)
				expiries[e.ExpiresAt]++
			}
		}
		if len(tokens) != 1 || tokens[first.AccessToken] != 0 || len(expiries) != 1 {
			t.Errorf("the storm saw access tokens %v and expiries %v; want one new token for all", tokens, expiries)
		}
		if c := p.counts(t, u); c.RefreshGrants != 1 || len(c.RefreshErrors) != 0 {
			t.Errorf("%d requests: provider counted %d refresh grants, errors %q; want exactly 1 and none", n, c.RefreshGrants, c.RefreshErrors)
		} else {
			t.Logf("%d concurrent requests with one expired session: %d refresh grant at %s", n, c.RefreshGrants, p.name)
		}
		if p.name == "oidc-provider" {
			if c := p.counts(t, u); c.Consumed != 1 || c.Revoked != 0 {
				t.Errorf("oidc-provider consumed %d refresh tokens and revoked %d grants, want 1 and 0", c.Consumed, c.Revoked)
			}
		}

		// The browser, which kept the old cookie too, carries on.
		if s, r := a.me(b); s == nil || !s.HasRefreshToken {
			t.Errorf("the browser's next request: %s", r)
		}
		if c := p.counts(t, u); c.RefreshGrants != 1 {
			t.Errorf("provider counted %d refresh grants after the storm, want 1", c.RefreshGrants)
		}
	})
}
