package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/oidcsession/oidcsession"
)

// apiScopes signs in for both APIs: oidc-provider's authorization request
// then holds both resources (see provider.mjs), which a refresh token can
// then be spent for, one at a time.
var apiScopes = []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess, apiScope, ordersScope}

// Token with RFC 8707 resource indicators at oidc-provider: each resource
// gets a JWT access token with that audience, kept beside the session's
// own token, which stays as it was. A second call returns the same token
// without a grant; two resources are two tokens; once they expire, the
// rotated refresh token serves both. Then a storm of concurrent calls from
// one browser, for both resources and the session's own token, all with
// the same expired cookie: exactly one grant for each, and no refresh
// token presented twice. In cookies and in a Store.
func TestTokenPerResource(t *testing.T) {
	p := need(t, "oidc-provider")
	t.Parallel()
	const storm = 30 // 10 each for the own token and the two resources
	for _, sh := range []struct {
		name string
		opts []oidcsession.Option
	}{
		{"cookies", nil},
		{"store", []oidcsession.Option{oidcsession.WithStore(oidcsession.NewMemoryStore())}},
	} {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			u := p.newUser(t)
			a := newApp(t, p, u, appSpec{scopes: apiScopes, opts: sh.opts})
			b := newBrowser(t, p, u)
			first := a.signIn(b)
			if first.AccessClaims != nil || len(first.Resources) != 0 {
				t.Fatalf("signed in with access token claims %v and resource tokens %v; want the opaque userinfo token alone", first.AccessClaims, first.Resources)
			}
			wantGrants := func(n int) {
				t.Helper()
				if c := p.counts(t, u); c.RefreshGrants != n || c.Consumed != n || len(c.RefreshErrors) != 0 || c.Revoked != 0 {
					t.Fatalf("provider: %d refresh grants, %d refresh tokens consumed, errors %q, %d grants revoked; want %d, %d, none, 0",
						c.RefreshGrants, c.Consumed, c.RefreshErrors, c.Revoked, n, n)
				}
			}

			api := tokenFor(t, a, b, apiResource, apiScope, u)
			if api.Session.AccessToken != first.AccessToken || !api.Session.HasRefreshToken {
				t.Errorf("after Token(%s) the session's own token is %s (was %s), refresh token %v; want it unchanged", apiResource, api.Session.AccessToken, first.AccessToken, api.Session.HasRefreshToken)
			}
			wantGrants(1)
			if again := tokenFor(t, a, b, apiResource, apiScope, u); again.Token.Hash != api.Token.Hash {
				t.Errorf("a second Token(%s) gave another token", apiResource)
			}
			wantGrants(1)
			orders := tokenFor(t, a, b, ordersResource, ordersScope, u)
			if orders.Token.Hash == api.Token.Hash || orders.Session.AccessToken != first.AccessToken || len(orders.Session.Resources) != 2 {
				t.Errorf("Token(%s): session's own token %s (was %s), resource tokens %+v; want a second token, kept beside the first and the session's own",
					ordersResource, orders.Session.AccessToken, first.AccessToken, orders.Session.Resources)
			}
			wantGrants(2)
			if own, r := a.token(b, ""); own.Token == nil || own.Token.Hash != first.AccessToken {
				t.Errorf("Token() for the session's own token: %s; want the sign-in's", r)
			}
			wantGrants(2)

			// Everything expires: the session's own token is refreshed
			// (Require), and the rotated refresh token serves both APIs.
			waitUntilExpired(t, latest(orders.Session))
			api2 := tokenFor(t, a, b, apiResource, apiScope, u)
			orders2 := tokenFor(t, a, b, ordersResource, ordersScope, u)
			if api2.Token.Hash == api.Token.Hash || orders2.Token.Hash == orders.Token.Hash || orders2.Session.AccessToken == first.AccessToken ||
				orders2.Session.AccessToken != api2.Session.AccessToken {
				t.Errorf("after expiry: want new tokens for both APIs and one new token of the session's own")
			}
			wantGrants(5)

			// The storm, with the cookie the browser holds now.
			waitUntilExpired(t, latest(orders2.Session))
			got := stormTokens(t, a, b.cookieHeader(a.base), storm)
			for resource, hashes := range got {
				old := map[string]string{"": orders2.Session.AccessToken, apiResource: api2.Token.Hash, ordersResource: orders2.Token.Hash}[resource]
				if len(hashes) != 1 || hashes[old] != 0 {
					t.Errorf("the storm's answers for %q carried tokens %v; want one new token for all", resource, hashes)
				}
			}
			wantGrants(8)
			t.Logf("%d concurrent Token calls (own, %s, %s) with one expired session: 3 refresh grants at oidc-provider, 0 reuse", storm, apiResource, ordersResource)

			// The browser still holds the cookie from before the storm:
			// it is given the storm's outcome, without another grant.
			for _, res := range []string{"", apiResource, ordersResource} {
				if tr, r := a.token(b, res); tr.Token == nil || got[res][tr.Token.Hash] == 0 {
					t.Errorf("Token(%q) after the storm: %s; want the storm's token", res, r)
				}
			}
			wantGrants(8)
		})
	}
}

// tokenFor calls Token for resource through the app and checks the token
// is a JWT for that audience and scope, for u, issued to the app's client.
func tokenFor(t *testing.T, a *app, b *browser, resource, scope string, u user) tokenResult {
	t.Helper()
	tr, r := a.token(b, resource)
	if tr.Token == nil || tr.Error != "" || tr.Session == nil {
		t.Fatalf("Token(%s): %s", resource, r)
	}
	if c := tr.Token.Claims; c["aud"] != resource || c["scope"] != scope || c["sub"] != u.name || c["client_id"] != a.c.id || c["iss"] != a.p.issuer {
		t.Errorf("Token(%s) has claims %v; want aud %s, scope %s, sub %s, client_id %s", resource, c, resource, scope, u.name, a.c.id)
	}
	if !slices.ContainsFunc(tr.Session.Resources, func(ri resourceInfo) bool { return ri.Resource == resource && ri.Scope == scope }) {
		t.Errorf("after Token(%s) the session keeps %+v; want that token among them", resource, tr.Session.Resources)
	}
	return tr
}

// latest is when the last of s's access tokens expires.
func latest(s *session) time.Time {
	exp := s.ExpiresAt
	for _, r := range s.Resources {
		if r.ExpiresAt.After(exp) {
			exp = r.ExpiresAt
		}
	}
	return exp
}

// stormTokens sends n concurrent Token calls with cookie, for the
// session's own token and the two APIs in turn, and returns, per resource
// ("" for the own token), how many answers carried each token. Every
// answer must be 200 without an error.
func stormTokens(t *testing.T, a *app, cookie string, n int) map[string]map[string]int {
	t.Helper()
	resources := []string{"", apiResource, ordersResource}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()
	results := make([]tokenResult, n)
	errs := make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, a.base+"/api/token?resource="+url.QueryEscape(resources[i%3]), nil)
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Cookie", cookie)
			<-start
			resp, err := client.Do(req)
			if err != nil {
				errs[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &results[i]) != nil || results[i].Token == nil || results[i].Error != "" {
				errs[i] = resp.Status + " " + truncate(string(body), 300)
			}
		})
	}
	close(start)
	wg.Wait()
	got := map[string]map[string]int{}
	for i, res := range results {
		if errs[i] != "" {
			t.Errorf("storm request %d (Token(%q)): %s", i, resources[i%3], errs[i])
			continue
		}
		if got[resources[i%3]] == nil {
			got[resources[i%3]] = map[string]int{}
		}
		got[resources[i%3]][res.Token.Hash]++
	}
	return got
}

// A resource the provider refuses (invalid_target): Token reports the
// refusal (RefreshRejected) and the session is kept without its refresh
// token, since oidc-provider spent it before checking the resource. The
// tokens the session holds are still served while they are fresh, and
// once the session's own token expires the session ends: the spent
// refresh token is never presented again.
func TestTokenRefusedResource(t *testing.T) {
	p := need(t, "oidc-provider")
	t.Parallel()
	u := p.newUser(t)
	a := newApp(t, p, u, appSpec{scopes: apiScopes})
	b := newBrowser(t, p, u)
	first := a.signIn(b)
	api := tokenFor(t, a, b, apiResource, apiScope, u)

	unknown := "https://unknown.example/"
	bad, r := a.token(b, unknown)
	if bad.Token != nil || bad.Class != "rejected" || bad.Code != "invalid_target" || bad.Session == nil || bad.Session.HasRefreshToken ||
		bad.Session.AccessToken != first.AccessToken || len(bad.Session.Resources) != 1 {
		t.Fatalf("Token(%s): %s; want rejected, invalid_target, the session kept with its tokens and without its refresh token", unknown, r)
	}
	c := p.counts(t, u)
	if c.RefreshGrants != 1 || c.Consumed != 2 || len(c.RefreshErrors) != 1 || !strings.HasPrefix(c.RefreshErrors[0], "invalid_target") {
		t.Fatalf("provider: %d grants, %d consumed, errors %q; want 1, 2 (the refused request spent the token), one invalid_target", c.RefreshGrants, c.Consumed, c.RefreshErrors)
	}
	if again, r := a.token(b, apiResource); again.Token == nil || again.Token.Hash != api.Token.Hash {
		t.Errorf("Token(%s) after the refusal: %s; want the token the session kept", apiResource, r)
	}

	waitUntilExpired(t, latest(api.Session))
	if s, r := a.me(b); s != nil || r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `"session_expired"`) {
		t.Errorf("the session once its tokens expired: %s; want 401 session_expired", r)
	}
	end := p.counts(t, u)
	if end.RefreshGrants != 1 || end.Consumed != 2 || end.Revoked != 0 || !slices.Equal(end.RefreshErrors, c.RefreshErrors) {
		t.Errorf("provider after the session ended: %d grants, %d consumed, %d revoked, errors %q; want no further refresh attempt",
			end.RefreshGrants, end.Consumed, end.Revoked, end.RefreshErrors)
	}
}

// upstream is an API behind the app's proxy: it accepts only JWT access
// tokens signed by the provider (its JWKS) for its own audience, refuses
// the tokens it is told to (as an API that revokes them itself), and
// records what reached it.
type upstream struct {
	t                  *testing.T
	srv                *httptest.Server
	verifier           *oidc.IDTokenVerifier
	revocationEndpoint string // the provider's

	mu      sync.Mutex
	seen    []upstreamRequest
	refused map[string]bool // by jti
}

// upstreamRequest is what one request brought to the API.
type upstreamRequest struct {
	method, uri, body string
	cookie, csrf      string // the Cookie and X-Session-Refresh headers: never forwarded
	raw               string // the bearer token
	token             *token
	status            int
}

func newUpstream(t *testing.T, p *provider, audience string) *upstream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(ctx, p.issuer)
	if err != nil {
		t.Fatal(err)
	}
	up := &upstream{
		t: t,
		// Signature (the provider's JWKS), iss, aud and exp; the
		// provider signs these JWT access tokens with ES256.
		verifier: op.Verifier(&oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{oidc.ES256}}),
		refused:  map[string]bool{},
	}
	var meta struct {
		RevocationEndpoint string `json:"revocation_endpoint"`
	}
	if err := op.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	up.revocationEndpoint = meta.RevocationEndpoint
	up.srv = httptest.NewServer(http.HandlerFunc(up.serve))
	t.Cleanup(up.srv.Close)
	return up
}

func (up *upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	rec := upstreamRequest{method: r.Method, uri: r.URL.RequestURI(), body: string(body), cookie: r.Header.Get("Cookie"),
		csrf: r.Header.Get(oidcsession.CSRFHeader), raw: raw, token: describeToken(raw), status: http.StatusOK}
	defer func() {
		up.mu.Lock()
		up.seen = append(up.seen, rec)
		up.mu.Unlock()
	}()
	idt, err := up.verifier.Verify(r.Context(), raw)
	up.mu.Lock()
	refused := err == nil && up.refused[rec.token.Claims["jti"].(string)]
	up.mu.Unlock()
	if err != nil || refused {
		rec.status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "upstream", Value: "must-not-reach-the-browser", Path: "/"})
	writeJSON(w, map[string]string{"method": r.Method, "uri": rec.uri, "body": rec.body, "sub": idt.Subject})
}

// requests returns what reached the API so far.
func (up *upstream) requests() []upstreamRequest {
	up.mu.Lock()
	defer up.mu.Unlock()
	return slices.Clone(up.seen)
}

// refuse makes the API refuse tok from now on.
func (up *upstream) refuse(tok *token) {
	up.mu.Lock()
	defer up.mu.Unlock()
	up.refused[tok.Claims["jti"].(string)] = true
}

// The backend-for-frontend proxy (Proxy) in front of an API that checks
// the provider's JWT access tokens for its audience: GET and POST reach it
// with the token for its resource and without the browser's cookies or
// the CSRF header, its Set-Cookie does not reach the browser, and a
// cross-origin POST is refused before anything is sent. When the API
// refuses the token (401 invalid_token), the proxy renews it with one
// grant and sends the request once more, body included.
//
// The API refuses the token itself, as an API with its own revocation
// list does: oidc-provider cannot revoke these tokens (its revocation
// endpoint answers unsupported_token_type for a JWT, checked here), and
// revoking an opaque access token there revokes every token of the grant,
// the refresh token included, which leaves nothing to renew with.
func TestProxy(t *testing.T) {
	p := need(t, "oidc-provider")
	t.Parallel()
	u := p.newUser(t)
	up := newUpstream(t, p, ordersResource)
	target, _ := url.Parse(up.srv.URL + "/v1")
	a := newApp(t, p, u, appSpec{scopes: apiScopes, mount: func(mux *http.ServeMux, m *oidcsession.Middleware) {
		proxy := m.Proxy(target, oidcsession.TokenRequest{Resource: ordersResource})
		mux.Handle("/api/orders/", m.Require(oidcsession.TryRefresh())(http.StripPrefix("/api/orders", proxy)))
	}})
	b := newBrowser(t, p, u)
	a.signIn(b)

	call := func(method, path string, body any) map[string]string {
		t.Helper()
		r := b.fetch(method, a.base+"/api/orders"+path, body)
		var got map[string]string
		if r.status != http.StatusOK {
			t.Fatalf("%s %s through the proxy: %s", method, path, r)
		}
		r.json(t, &got)
		for _, c := range r.header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "upstream=") {
				t.Errorf("%s %s: the API's cookie reached the browser: %s", method, path, c)
			}
		}
		return got
	}
	checkSeen := func(want int) []upstreamRequest {
		t.Helper()
		seen := up.requests()
		if len(seen) != want {
			t.Fatalf("the API got %d requests, want %d", len(seen), want)
		}
		for i, s := range seen {
			if s.cookie != "" || s.csrf != "" {
				// The cookies' names only: their values are credentials.
				var names []string
				for _, c := range strings.Split(s.cookie, ";") {
					name, _, _ := strings.Cut(strings.TrimSpace(c), "=")
					names = append(names, name)
				}
				t.Errorf("request %d reached the API with the cookies %q and %s %q; want neither", i, names, oidcsession.CSRFHeader, s.csrf)
			}
			if c := s.token.Claims; c["aud"] != ordersResource || c["sub"] != u.name || c["client_id"] != a.c.id {
				t.Errorf("request %d reached the API with token claims %v; want aud %s, sub %s, client_id %s", i, c, ordersResource, u.name, a.c.id)
			}
		}
		return seen
	}
	wantGrants := func(n int) {
		t.Helper()
		if c := p.counts(t, u); c.RefreshGrants != n || c.Consumed != n || len(c.RefreshErrors) != 0 || c.Revoked != 0 {
			t.Fatalf("provider: %d refresh grants, %d consumed, errors %q, %d grants revoked; want %d, %d, none, 0",
				c.RefreshGrants, c.Consumed, c.RefreshErrors, c.Revoked, n, n)
		}
	}

	if got := call(http.MethodGet, "/items?x=1", nil); got["method"] != "GET" || got["uri"] != "/v1/items?x=1" || got["sub"] != u.name {
		t.Errorf("GET through the proxy reached the API as %v; want GET /v1/items?x=1 for %s", got, u.name)
	}
	wantGrants(1)
	if got := call(http.MethodPost, "/items", map[string]string{"item": "pencils"}); got["method"] != "POST" || got["uri"] != "/v1/items" || got["body"] != `{"item":"pencils"}` {
		t.Errorf("POST through the proxy reached the API as %v", got)
	}
	seen := checkSeen(2)
	if seen[0].token.Hash != seen[1].token.Hash || seen[1].status != http.StatusOK {
		t.Errorf("the POST carried another token than the GET, or was refused (%d)", seen[1].status)
	}
	wantGrants(1)

	// A cross-origin POST: refused by the proxy, the API never sees it.
	req, _ := http.NewRequest(http.MethodPost, a.base+"/api/orders/items", strings.NewReader(`{"item":"forged"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := b.send(req); r.status != http.StatusForbidden || !strings.Contains(string(r.body), `"csrf"`) {
		t.Errorf("cross-origin POST through the proxy: %s; want 403 csrf", r)
	}
	checkSeen(2)

	// The provider will not revoke the token.
	revoke := url.Values{"token": {seen[0].raw}, "token_type_hint": {"access_token"}}
	rreq, _ := http.NewRequest(http.MethodPost, up.revocationEndpoint, strings.NewReader(revoke.Encode()))
	rreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rreq.SetBasicAuth(url.QueryEscape(a.c.id), url.QueryEscape(a.c.secret))
	if resp, err := http.DefaultClient.Do(rreq); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		c := p.counts(t, u)
		if resp.StatusCode != http.StatusBadRequest || len(c.RevocationErrors) != 1 || !strings.HasPrefix(c.RevocationErrors[0], "unsupported_token_type") {
			t.Errorf("revoking the JWT access token at oidc-provider: %s, provider errors %q; want 400 unsupported_token_type", resp.Status, c.RevocationErrors)
		}
	}

	// The API refuses the token: one renewal, the request sent once more.
	up.refuse(seen[1].token)
	if got := call(http.MethodPost, "/items", map[string]string{"item": "notebook"}); got["body"] != `{"item":"notebook"}` {
		t.Errorf("POST after the API refused the token reached it as %v", got)
	}
	seen = checkSeen(4)
	if seen[2].token.Hash != seen[1].token.Hash || seen[2].status != http.StatusUnauthorized ||
		seen[3].token.Hash == seen[1].token.Hash || seen[3].status != http.StatusOK || seen[3].body != seen[2].body {
		t.Errorf("after the API refused the token: it saw %d then %d, new token %v, same body %v; want the refused token, then one retry with a new token and the same body",
			seen[2].status, seen[3].status, seen[3].token.Hash != seen[1].token.Hash, seen[3].body == seen[2].body)
	}
	wantGrants(2)
	call(http.MethodGet, "/items", nil)
	if seen = checkSeen(5); seen[4].token.Hash != seen[3].token.Hash {
		t.Errorf("the next request carried another token than the renewed one")
	}
	wantGrants(2)
}
