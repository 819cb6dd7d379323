package oidcsession

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
	"golang.org/x/oauth2"
)

// loginApp is an application server using the login handlers against an
// in-process provider, with a fake clock shared by both.
type loginApp struct {
	t     *testing.T
	clock *fakeClock
	op    *oidcsessiontest.Provider
	m     *Middleware
	srv   *httptest.Server
	mux   *http.ServeMux
}

// newLoginApp starts a provider with pc (its Now is set to the shared
// clock) and an app with the handlers mounted as in the README:
//
//	GET /auth/login, GET /auth/callback, POST /auth/refresh, POST /auth/logout,
//	/app (Require), /api/me (Require(TryRefresh())), GET / (public).
func newLoginApp(t *testing.T, pc oidcsessiontest.Config, opts ...Option) *loginApp {
	t.Helper()
	return newLoginAppWith(t, pc, nil, opts...)
}

// newLoginAppWith is newLoginApp with a hook that may change the client's
// oauth2.Config (a wrong secret, say) before New.
func newLoginAppWith(t *testing.T, pc oidcsessiontest.Config, client func(*oauth2.Config), opts ...Option) *loginApp {
	t.Helper()
	clock := newFakeClock()
	pc.Now = clock.Now
	op := oidcsessiontest.New(t, pc)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	provider, err := oidc.NewProvider(context.Background(), op.Issuer())
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	base := []Option{WithKeys([]byte(rand.Text()+rand.Text()), []byte(rand.Text()[:16])), WithInsecureCookies(), WithClock(clock.Now)}
	oc := oauth2.Config{
		ClientID: op.ClientID(), ClientSecret: op.ClientSecret(),
		RedirectURL: srv.URL + "/auth/callback",
		Scopes:      []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}
	if client != nil {
		client(&oc)
	}
	m, err := New(provider, oc, append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux.Handle("GET /auth/login", m.LoginHandler())
	mux.Handle("GET /auth/callback", m.CallbackHandler())
	mux.Handle("POST /auth/refresh", m.RefreshHandler())
	mux.Handle("POST /auth/logout", m.LogoutHandler())
	mux.Handle("/app", m.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := FromContext(r.Context())
		fmt.Fprintf(w, "hello %s", s.Subject())
	})))
	mux.Handle("/api/me", m.Require(TryRefresh())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := FromContext(r.Context())
		var ui map[string]any
		_, _ = s.UserInfo(&ui)
		writeJSON(w, http.StatusOK, map[string]any{"sub": s.Subject(), "userinfo": ui})
	})))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "home") })
	return &loginApp{t: t, clock: clock, op: op, m: m, srv: srv, mux: mux}
}

// browser is an http.Client with a cookie jar that follows redirects
// across the app and the provider and records every URL it visited.
type browser struct {
	*http.Client
	mu      sync.Mutex
	visited []*url.URL
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{}
	b.Client = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > 15 {
			return fmt.Errorf("redirect loop: %d redirects", len(via))
		}
		b.record(req.URL)
		return nil
	}}
	return b
}

// noFollow returns a client sharing b's jar that stops at the first
// redirect.
func (b *browser) noFollow() *http.Client {
	return &http.Client{Jar: b.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (b *browser) record(u *url.URL) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.visited = append(b.visited, u)
}

// authorizeRequests returns the authorization requests visited so far.
func (b *browser) authorizeRequests() []*url.URL {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*url.URL
	for _, u := range b.visited {
		if u.Path == "/authorize" {
			out = append(out, u)
		}
	}
	return out
}

// callbacks returns the callback URLs visited so far.
func (b *browser) callbacks() []*url.URL {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*url.URL
	for _, u := range b.visited {
		if u.Path == "/auth/callback" {
			out = append(out, u)
		}
	}
	return out
}

// flowResp is what a login test needs of an answer.
type flowResp struct {
	status int
	header http.Header
	body   string
	url    *url.URL
}

func (r flowResp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return m
}

// do sends a request with c; accept sets the Accept header, and POSTs
// carry the CSRF header unless noCSRF.
func send(t *testing.T, c *http.Client, method, target, accept string, header http.Header) flowResp {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return flowResp{status: resp.StatusCode, header: resp.Header, body: string(body), url: resp.Request.URL}
}

const pageAccept = "text/html,application/xhtml+xml,*/*;q=0.8"

var csrfHeader = http.Header{RefreshHeader: {"1"}}

// page GETs a page like a browser navigation.
func (b *browser) page(t *testing.T, target string) flowResp {
	t.Helper()
	return send(t, b.Client, http.MethodGet, target, pageAccept, nil)
}

// signIn signs b in through the login handler and checks it landed on
// /app.
func (a *loginApp) signIn(b *browser) {
	a.t.Helper()
	r := b.page(a.t, a.srv.URL+"/auth/login?return_to=/app")
	if r.status != http.StatusOK || r.body != "hello user-1" {
		a.t.Fatalf("sign-in ended at %s with %d %q", r.url, r.status, r.body)
	}
}

// cookieNames lists the names of the cookies b would send to the app.
func (a *loginApp) cookieNames(b *browser) []string {
	u, _ := url.Parse(a.srv.URL)
	var names []string
	for _, c := range b.Jar.Cookies(u) {
		names = append(names, c.Name)
	}
	return names
}

// hasCookie reports whether b holds a cookie for the app whose name starts
// with prefix.
func (a *loginApp) hasCookie(b *browser, prefix string) bool {
	for _, n := range a.cookieNames(b) {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// startLogin GETs the login URL without following the redirect and returns
// the authorization URL.
func (a *loginApp) startLogin(b *browser, query string) *url.URL {
	a.t.Helper()
	r := send(a.t, b.noFollow(), http.MethodGet, a.srv.URL+"/auth/login"+query, pageAccept, nil)
	if r.status != http.StatusFound {
		a.t.Fatalf("login: %d %s", r.status, r.body)
	}
	u, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(u.String(), a.op.Issuer()+"/authorize") {
		a.t.Fatalf("login redirected to %q", r.header.Get("Location"))
	}
	return u
}

// authorize runs the provider leg of an authorization URL with b's jar and
// returns the callback URL the provider redirected to, without calling it.
func (a *loginApp) authorize(b *browser, authURL string) *url.URL {
	a.t.Helper()
	r := send(a.t, b.noFollow(), http.MethodGet, authURL, pageAccept, nil)
	if r.status != http.StatusFound {
		a.t.Fatalf("authorize: %d %s", r.status, r.body)
	}
	u, err := url.Parse(r.header.Get("Location"))
	if err != nil || u.Path != "/auth/callback" {
		a.t.Fatalf("authorize redirected to %q", r.header.Get("Location"))
	}
	return u
}

// httptestServer serves h on a fresh test server and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// setCookiesFor stores the Set-Cookie lines of hdr in b's jar as if the
// app at base had sent them.
func setCookiesFor(t *testing.T, b *browser, base string, hdr http.Header) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	b.Jar.SetCookies(u, (&http.Response{Header: hdr}).Cookies())
}

// mustURL parses a URL the test built itself.
func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// discover runs OIDC discovery against op.
func discover(t *testing.T, op *oidcsessiontest.Provider) *oidc.Provider {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), op.Issuer())
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	return p
}
