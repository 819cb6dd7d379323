package oidcsession_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

var (
	hashKey  = []byte("0123456789abcdef0123456789abcdef")
	blockKey = []byte("fedcba9876543210fedcba9876543210")
)

// cookieName is the session cookie's name under secure defaults.
const cookieName = "__Host-oidcsession"

// harness is an application using the package over real TLS, mounted as
// the README shows, against a real OpenID provider (oidcsessiontest) that
// shares its clock.
//
//	GET /auth/login, GET /auth/callback, POST /auth/refresh, POST /auth/logout,
//	/app (Require: inline), /api/me (Require(TryRefresh())), GET / (public),
//	GET /test/signin (StartSession with tokens from the provider),
//	GET /test/refresh (RefreshSession with ?scope= and ?resource=),
//	GET /test/token and /test/call (Token, Client; see apiRoutes),
//	/proxy/orders/, /proxy/own/, /proxy/down/ (Proxy).
type harness struct {
	t     *testing.T
	clock *oidcsessiontest.Clock
	op    *oidcsessiontest.Provider
	m     *oidcsession.Middleware
	app   *httptest.Server
	api   *resourceServer // an API the app calls with the user's tokens
	b     *browser        // a default browser
}

// setup describes a harness.
type setup struct {
	op   oidcsessiontest.Config
	opts []oidcsession.Option
	// client changes the client's oauth2.Config (a wrong secret, say).
	client func(*oauth2.Config)
	// opClockOffset sets the provider's clock off the application's.
	opClockOffset time.Duration
	// backChannel registers the app's back-channel logout handler with
	// the provider, which then posts logout tokens there.
	backChannel bool
}

func newHarness(t *testing.T, su setup) *harness {
	t.Helper()
	h := &harness{t: t, clock: oidcsessiontest.NewClock(time.Time{})}
	mux := h.listen()
	su.op.Now = func() time.Time { return h.clock.Now().Add(su.opClockOffset) }
	if su.backChannel {
		su.op.BackChannelLogoutURI, su.op.BackChannelLogoutClient = h.app.URL+"/auth/backchannel-logout", h.app.Client()
	}
	h.op = oidcsessiontest.New(t, su.op)
	h.start(mux, su)
	return h
}

// listen starts the app's TLS server, whose routes start adds.
func (h *harness) listen() *http.ServeMux {
	mux := http.NewServeMux()
	h.app = httptest.NewUnstartedServer(mux)
	// Handshakes the test's clients abandon at the end are not failures.
	h.app.Config.ErrorLog = log.New(io.Discard, "", 0)
	h.app.StartTLS()
	h.t.Cleanup(h.app.Close)
	return mux
}

// replica is another application server ("replica") of the same
// deployment: the same provider and clock, its own Middleware built with
// the harness's options and opts (which should share a Store or
// Coordinator with the others).
func (h *harness) replica(su setup) *harness {
	h.t.Helper()
	r := &harness{t: h.t, clock: h.clock, op: h.op}
	r.start(r.listen(), su)
	return r
}

// start builds the Middleware and serves the routes.
func (h *harness) start(mux *http.ServeMux, su setup) {
	t := h.t
	oc := oauth2.Config{
		ClientID: h.op.ClientID(), ClientSecret: h.op.ClientSecret(),
		RedirectURL: h.app.URL + "/auth/callback",
		Scopes:      []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}
	if su.client != nil {
		su.client(&oc)
	}
	opts := append([]oidcsession.Option{oidcsession.WithKeys(hashKey, blockKey), oidcsession.WithClock(h.clock.Now)}, su.opts...)
	var err error
	if h.m, err = oidcsession.New(discover(t, h.op), oc, opts...); err != nil {
		t.Fatalf("New: %v", err)
	}
	h.api = newResourceServer(t, h.op)
	h.routes(mux)
	h.apiRoutes(mux)
	h.b = h.newBrowser()
}

// discover runs OIDC discovery against op.
func discover(t testing.TB, op *oidcsessiontest.Provider) *oidc.Provider {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), op.Issuer())
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	return p
}

// whoami is what the protected handlers report about the session they saw.
type whoami struct {
	Subject         string         `json:"sub"`
	AccessToken     string         `json:"at_sha256"`
	ExpiresAt       string         `json:"expires_at"`
	CreatedAt       string         `json:"created_at"`
	HasRefreshToken bool           `json:"has_refresh_token"`
	Scope           string         `json:"scope"`
	UserInfo        map[string]any `json:"userinfo"`
	ID              string         `json:"id"`
	SID             string         `json:"sid"`
}

func report(s *oidcsession.Session) whoami {
	sum := sha256.Sum256([]byte(s.AccessToken()))
	var ui map[string]any
	_, _ = s.UserInfo(&ui)
	return whoami{
		Subject: s.Subject(), AccessToken: hex.EncodeToString(sum[:8]), ExpiresAt: s.Expiry().UTC().Format(time.RFC3339),
		CreatedAt: s.CreatedAt().UTC().Format(time.RFC3339), HasRefreshToken: s.HasRefreshToken(), Scope: s.Scope(), UserInfo: ui,
		ID: s.ID(), SID: s.SID(),
	}
}

func (h *harness) routes(mux *http.ServeMux) {
	mux.Handle("GET /auth/login", h.m.LoginHandler())
	mux.Handle("GET /auth/callback", h.m.CallbackHandler())
	mux.Handle("/auth/refresh", h.m.RefreshHandler())
	mux.Handle("/auth/logout", h.m.LogoutHandler())
	mux.Handle("/auth/backchannel-logout", h.m.BackChannelLogoutHandler())
	mux.HandleFunc("GET /test/sessions", func(w http.ResponseWriter, r *http.Request) {
		list, err := h.m.Sessions(r.Context(), r.URL.Query().Get("sub"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		_ = jsonEncode(w, list)
	})
	mux.HandleFunc("POST /test/revoke", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var err error
		n := 0
		if id := q.Get("id"); id != "" {
			err = h.m.RevokeSession(r.Context(), id)
		} else {
			n, err = h.m.RevokeSubject(r.Context(), q.Get("sub"))
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		fmt.Fprint(w, n)
	})
	who := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := oidcsession.FromContext(r.Context())
		if !ok {
			http.Error(w, "no session in context", 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(report(s))
	})
	mux.Handle("/app", h.m.Require()(who))
	mux.Handle("/api/me", h.m.Require(oidcsession.TryRefresh())(who))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "home") })
	mux.HandleFunc("GET /test/signin", func(w http.ResponseWriter, r *http.Request) {
		tok, err := h.op.IssueTokens(oidcsessiontest.IssueOptions{})
		if err == nil {
			_, err = h.m.StartSession(w, r, tok)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /test/refresh", h.refreshNow)
	mux.Handle("GET /app/refresh", h.m.Require()(http.HandlerFunc(h.refreshNow)))
}

// refreshNow calls RefreshSession with ?scope= and ?resource=. Behind
// Require it also reports (X-Context-Session) whether the request's
// context then holds the session RefreshSession returned.
func (h *harness) refreshNow(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s, err := h.m.RefreshSession(w, r, oidcsession.RefreshOptions{Scopes: strings.Fields(q.Get("scope")), Resource: q["resource"]})
	if cur, ok := oidcsession.FromContext(r.Context()); ok {
		w.Header().Set("X-Context-Session", fmt.Sprint(s != nil && cur == s))
	}
	if err != nil {
		// Report the class and the kept session in headers, and
		// answer as the package would.
		var re *oidcsession.RefreshError
		if errors.As(err, &re) {
			w.Header().Set("X-Refresh-Class", re.Class.String())
		}
		if s != nil {
			w.Header().Set("X-Kept-Refresh-Token", fmt.Sprint(s.HasRefreshToken()))
		}
		h.m.WriteError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(report(s))
}

// browser is an http.Client with a cookie jar that follows redirects
// across the app and the provider and records every URL it visited.
type browser struct {
	*http.Client
	h       *harness
	mu      sync.Mutex
	visited []*url.URL
}

func (h *harness) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{h: h}
	b.Client = &http.Client{Transport: h.app.Client().Transport, Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
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
	return &http.Client{Transport: b.Transport, Jar: b.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (b *browser) record(u *url.URL) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.visited = append(b.visited, u)
}

// visits returns the visited URLs with this path.
func (b *browser) visits(path string) []*url.URL {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*url.URL
	for _, u := range b.visited {
		if u.Path == path {
			out = append(out, u)
		}
	}
	return out
}

func (b *browser) forget() {
	b.mu.Lock()
	b.visited = nil
	b.mu.Unlock()
}

// response is what a test needs of an answer.
type response struct {
	status int
	header http.Header
	body   string
	url    *url.URL
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return v
}

func (r response) who(t *testing.T) whoami {
	t.Helper()
	var v whoami
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("%d: body %q is not a session report: %v", r.status, r.body, err)
	}
	return v
}

// send makes one request with c; hdr is added (Accept, Cookie, …).
func send(t *testing.T, c *http.Client, method, target string, hdr http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body), url: resp.Request.URL}
}

// Headers tests send.
var (
	pageAccept = http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}
	jsonAccept = http.Header{"Accept": {"application/json"}}
	csrf       = http.Header{oidcsession.CSRFHeader: {"1"}, "Accept": {"application/json"}}
)

// get and post talk to the app without following redirects, with b's
// cookies, or with only hdr's Cookie when it has one; page follows
// redirects like a navigation.
func (b *browser) get(path string, hdr http.Header) response {
	b.h.t.Helper()
	return send(b.h.t, b.clientFor(hdr), http.MethodGet, b.h.app.URL+path, hdr)
}

func (b *browser) post(path string, hdr http.Header) response {
	b.h.t.Helper()
	return send(b.h.t, b.clientFor(hdr), http.MethodPost, b.h.app.URL+path, hdr)
}

// clientFor is noFollow, or a client without cookie jar when hdr brings
// its own Cookie header.
func (b *browser) clientFor(hdr http.Header) *http.Client {
	c := b.noFollow()
	if _, own := hdr["Cookie"]; own {
		c.Jar = nil
	}
	return c
}

func (b *browser) page(target string) response {
	b.h.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.h.app.URL + target
	}
	return send(b.h.t, b.Client, http.MethodGet, target, pageAccept)
}

// refresh posts to the refresh handler as the browser helper does.
func (b *browser) refresh() response {
	b.h.t.Helper()
	return b.post("/auth/refresh", csrf)
}

// startSession gives b a session without the browser flow (StartSession).
func (b *browser) startSession() {
	b.h.t.Helper()
	if r := b.get("/test/signin", nil); r.status != http.StatusNoContent {
		b.h.t.Fatalf("sign-in: %d %s", r.status, r.body)
	}
}

// signIn signs b in through the login handler and the provider.
func (b *browser) signIn() {
	b.h.t.Helper()
	r := b.page("/auth/login?return_to=/app")
	if r.status != http.StatusOK || r.url.Path != "/app" || r.who(b.h.t).Subject != "user-1" {
		b.h.t.Fatalf("sign-in ended at %s with %d %q", r.url, r.status, r.body)
	}
}

// me reports b's session as /app sees it (inline mode: it may refresh).
func (b *browser) me() whoami {
	b.h.t.Helper()
	r := b.get("/app", nil)
	if r.status != http.StatusOK {
		b.h.t.Fatalf("/app: %d %s", r.status, r.body)
	}
	return r.who(b.h.t)
}

// refreshSession calls RefreshSession through /test/refresh.
func (b *browser) refreshSession(query string, hdr http.Header) response {
	b.h.t.Helper()
	return b.get("/test/refresh?"+query, hdr)
}

// cookieHeader is the Cookie header b sends to the app.
func (b *browser) cookieHeader() string {
	u, _ := url.Parse(b.h.app.URL)
	var parts []string
	for _, c := range b.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// cookieNames lists the names of the cookies b would send to the app.
func (b *browser) cookieNames() []string {
	u, _ := url.Parse(b.h.app.URL)
	var names []string
	for _, c := range b.Jar.Cookies(u) {
		names = append(names, c.Name)
	}
	return names
}

// withCookie is a header that sends exactly this Cookie header.
func withCookie(cookie string, more ...http.Header) http.Header {
	h := http.Header{"Cookie": {cookie}}
	for _, m := range more {
		for k, v := range m {
			h[k] = v
		}
	}
	return h
}

// startLogin GETs the login URL without following the redirect and returns
// the authorization URL.
func (b *browser) startLogin(query string) *url.URL {
	b.h.t.Helper()
	r := b.get("/auth/login"+query, pageAccept)
	if r.status != http.StatusFound {
		b.h.t.Fatalf("login: %d %s", r.status, r.body)
	}
	u, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(u.String(), b.h.op.Issuer()+"/authorize") {
		b.h.t.Fatalf("login redirected to %q", r.header.Get("Location"))
	}
	return u
}

// authorize runs the provider leg of an authorization URL and returns the
// callback URL the provider redirected to, without calling it.
func (b *browser) authorize(authURL string) *url.URL {
	b.h.t.Helper()
	r := send(b.h.t, b.noFollow(), http.MethodGet, authURL, pageAccept)
	if r.status != http.StatusFound {
		b.h.t.Fatalf("authorize: %d %s", r.status, r.body)
	}
	u, err := url.Parse(r.header.Get("Location"))
	if err != nil || u.Path != "/auth/callback" {
		b.h.t.Fatalf("authorize redirected to %q", r.header.Get("Location"))
	}
	return u
}

// setCookies returns the response's Set-Cookie lines whose name starts
// with prefix.
func setCookies(r response, prefix string) []string {
	var out []string
	for _, line := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}

// clears reports whether the response deletes every cookie it sets whose
// name starts with prefix, and sets at least one.
func clears(r response, prefix string) bool {
	lines := setCookies(r, prefix)
	for _, l := range lines {
		if !strings.Contains(l, "Max-Age=0") {
			return false
		}
	}
	return len(lines) > 0
}

// jsonEncode writes v as JSON.
func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// stats is the provider's counters.
func (h *harness) stats() oidcsessiontest.Stats { return h.op.Stats() }
