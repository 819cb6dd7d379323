package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
)

// appSpec describes the app one test runs.
type appSpec struct {
	// role is the client, by role; default "basic". "backchannel" is the
	// client whose back-channel logout URI is this app's handler
	// (oidc-provider only).
	role   string
	scopes []string // default openid profile email offline_access
	// noConsentPrompt leaves out WithPrompt("consent"), which the apps
	// otherwise send where the provider grants offline_access only with it.
	noConsentPrompt bool
	// mount adds the test's own routes to the app's mux.
	mount func(mux *http.ServeMux, m *oidcsession.Middleware)
	// cookieName is the session cookie's name (WithCookieName); default
	// "oidcsession". Apps that one browser uses at once need their own:
	// cookies are shared across the ports of 127.0.0.1.
	cookieName string
	opts       []oidcsession.Option
}

// app is a web app using oidcsession, on one of the registered slots.
type app struct {
	t          *testing.T
	p          *provider
	c          clientReg
	m          *oidcsession.Middleware
	base       string
	cookieName string

	mu             sync.Mutex
	logoutTokens   []string // the logout tokens the back-channel handler received, in order
	logoutStatuses []int    // and what it answered
}

// backchannelPath is where every app mounts the package's back-channel
// logout handler.
const backchannelPath = "/auth/backchannel-logout"

// backchannelRole is the client whose back-channel logout URI is the
// handler of the app on slot s.
func backchannelRole(s *slot) string { return "backchannel-" + strconv.Itoa(s.index) }

// newApp starts an app for user u at provider p: the package's handlers
// mounted as its README shows, and a few test endpoints that report the
// session (never a token: hashes and decoded claims only).
func newApp(t *testing.T, p *provider, u user, spec appSpec) *app {
	t.Helper()
	mux := http.NewServeMux()
	s := takeSlot(t, mux)
	switch spec.role {
	case "":
		spec.role = "basic"
	case "backchannel":
		spec.role = backchannelRole(s)
	}
	c, ok := p.clients[spec.role]
	if !ok {
		t.Fatalf("%s has no %q client", p.name, spec.role)
	}
	if spec.scopes == nil {
		spec.scopes = []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}
	}
	if spec.cookieName == "" {
		spec.cookieName = "oidcsession"
	}
	a := &app{t: t, p: p, c: c, base: s.base, cookieName: spec.cookieName}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(ctx, p.issuer)
	if err != nil {
		t.Fatalf("discovery at %s: %v", p.issuer, err)
	}
	opts := []oidcsession.Option{
		oidcsession.WithKeys(randomBytes(32), randomBytes(32)),
		oidcsession.WithInsecureCookies(),
		oidcsession.WithLogger(testLogger(t)),
		oidcsession.WithPostLogoutRedirectURL(a.base + "/"),
		// Lets the provider name the account in events about requests
		// made before anyone signed in (prompt=none answered
		// login_required); it also fills in the username field.
		oidcsession.WithAuthParams(map[string]string{"login_hint": u.login}),
		oidcsession.WithCookieName(spec.cookieName),
	}
	if p.name == "dex" {
		opts = append(opts, oidcsession.WithHTTPClient(&http.Client{Transport: dexWire{account: u.name}}))
	}
	if p.consentForOffline && !spec.noConsentPrompt {
		opts = append(opts, oidcsession.WithPrompt("consent"))
	}
	opts = append(opts, c.options()...)
	opts = append(opts, spec.opts...)
	a.m, err = oidcsession.New(op, oauth2.Config{
		ClientID:     c.id,
		ClientSecret: c.secret,
		RedirectURL:  a.base + "/auth/callback",
		Scopes:       spec.scopes,
	}, opts...)
	if err != nil {
		t.Fatalf("oidcsession.New: %v", err)
	}

	m := a.m
	mux.Handle("GET /auth/login", m.LoginHandler())
	mux.Handle("GET /auth/callback", m.CallbackHandler())
	mux.Handle("POST /auth/refresh", m.RefreshHandler())
	mux.Handle("POST /auth/logout", m.LogoutHandler())
	mux.Handle("POST "+backchannelPath, a.tapLogoutTokens(m.BackChannelLogoutHandler()))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "home")
	})
	// A page (inline refresh) and an API (try-refresh) that report the
	// session they were handed.
	mux.Handle("GET /app", m.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := oidcsession.FromContext(r.Context())
		writeJSON(w, describe(s))
	})))
	mux.Handle("GET /api/me", m.Require(oidcsession.TryRefresh())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := oidcsession.FromContext(r.Context())
		writeJSON(w, describe(s))
	})))
	// RefreshSession with the options in the body.
	mux.HandleFunc("POST /api/refresh-options", func(w http.ResponseWriter, r *http.Request) {
		var o oidcsession.RefreshOptions
		if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s, err := m.RefreshSession(w, r, o)
		writeJSON(w, outcome(s, err))
	})
	// RefetchUserInfo behind Require.
	mux.Handle("POST /api/userinfo", m.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := m.RefetchUserInfo(w, r)
		writeJSON(w, outcome(s, err))
	})))
	// Token behind Require, for the resource and scopes in the query
	// (none: the session's own token); it reports the token (a hash and
	// its claims, never the token) and the session it left.
	mux.Handle("GET /api/token", m.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		tok, err := m.Token(w, r, oidcsession.TokenRequest{Resource: q.Get("resource"), Scopes: q["scope"]})
		s, _ := oidcsession.FromContext(r.Context())
		res := tokenResult{result: outcome(s, err)}
		if tok != nil {
			res.Token = describeToken(tok.AccessToken)
		}
		writeJSON(w, res)
	})))
	if spec.mount != nil {
		spec.mount(mux, m)
	}
	return a
}

// tapLogoutTokens keeps the logout tokens the provider posts to h, and
// h's answers, so tests can replay them.
func (a *app) tapLogoutTokens(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.PostFormValue("logout_token") // parsed once: h reads the same form
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		a.mu.Lock()
		defer a.mu.Unlock()
		a.logoutTokens = append(a.logoutTokens, tok)
		a.logoutStatuses = append(a.logoutStatuses, rec.status)
	})
}

// received returns the logout tokens the app's handler got, and its
// answers.
func (a *app) received() ([]string, []int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.logoutTokens), slices.Clone(a.logoutStatuses)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// session is what the test endpoints report about a session.
type session struct {
	Subject         string         `json:"sub"`
	ExpiresAt       time.Time      `json:"expires_at"`
	CreatedAt       time.Time      `json:"created_at"`
	HasRefreshToken bool           `json:"has_refresh_token"`
	Scope           string         `json:"scope"`
	AccessToken     string         `json:"access_token_sha256"` // a prefix of the hash: tells tokens apart
	AccessClaims    map[string]any `json:"access_token_claims"` // when the access token is a JWT
	IDTokenAlg      string         `json:"id_token_alg"`
	IDClaims        map[string]any `json:"id_token_claims"`
	UserInfo        map[string]any `json:"userinfo"`
	// Resources are the tokens the session keeps beside its own (Token,
	// RefreshSession with a resource), without their values.
	Resources []resourceInfo `json:"resources"`
}

// resourceInfo is one of Session.Tokens beside the session's own.
type resourceInfo struct {
	Resource  string    `json:"resource"`
	Scope     string    `json:"scope"` // as granted
	ExpiresAt time.Time `json:"expires_at"`
}

// token is what the test endpoints report about an access token.
type token struct {
	Hash   string         `json:"sha256"` // a prefix of the hash: tells tokens apart
	Claims map[string]any `json:"claims"` // when it is a JWT
}

func describeToken(tok string) *token {
	sum := sha256.Sum256([]byte(tok))
	t := &token{Hash: hex.EncodeToString(sum[:6])}
	t.Claims, _ = jwtPart(tok, 1)
	return t
}

// tokenResult is what /api/token answers: the token, and the session and
// error as /api/refresh-options reports them.
type tokenResult struct {
	result
	Token *token `json:"token"`
}

func describe(s *oidcsession.Session) *session {
	if s == nil {
		return nil
	}
	at := describeToken(s.AccessToken())
	d := &session{
		Subject:         s.Subject(),
		ExpiresAt:       s.Expiry(),
		CreatedAt:       s.CreatedAt(),
		HasRefreshToken: s.HasRefreshToken(),
		Scope:           s.Scope(),
		AccessToken:     at.Hash,
		AccessClaims:    at.Claims,
	}
	for _, ti := range s.Tokens() {
		if !ti.Primary {
			d.Resources = append(d.Resources, resourceInfo{Resource: ti.Resource, Scope: ti.Scope, ExpiresAt: ti.Expiry})
		}
	}
	if h, ok := jwtPart(s.IDToken(), 0); ok {
		d.IDTokenAlg, _ = h["alg"].(string)
	}
	_ = s.Claims(&d.IDClaims)
	_, _ = s.UserInfo(&d.UserInfo)
	return d
}

// jwtPart decodes the header (0) or payload (1) of a JWT; ok is false for
// anything else, such as an opaque access token.
func jwtPart(tok string, i int) (map[string]any, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		return nil, false
	}
	var v map[string]any
	return v, json.Unmarshal(b, &v) == nil
}

// result is what /api/refresh-options and /api/userinfo answer.
type result struct {
	Session *session `json:"session"`
	Error   string   `json:"error"`
	Class   string   `json:"class"`      // the RefreshError's class
	Code    string   `json:"oauth_code"` // the token endpoint's error code
}

func outcome(s *oidcsession.Session, err error) result {
	r := result{Session: describe(s)}
	if err != nil {
		r.Error = err.Error()
		var re *oidcsession.RefreshError
		if errors.As(err, &re) {
			r.Class = re.Class.String()
		}
		var oe *oauth2.RetrieveError
		if errors.As(err, &oe) {
			r.Code = oe.ErrorCode
		}
	}
	return r
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// signIn signs b in at a, starting from a page behind Require as a user
// would, and returns the session the app reports.
func (a *app) signIn(b *browser) *session {
	a.t.Helper()
	r := b.get(a.base + "/app")
	if r.status != http.StatusOK || r.url.String() != a.base+"/app" {
		a.t.Fatalf("sign-in: want 200 at %s/app, got %s", a.base, r)
	}
	var s session
	r.json(a.t, &s)
	if s.Subject == "" {
		a.t.Fatalf("sign-in: no subject in %s", r)
	}
	return &s
}

// me reads the session through the page (inline refresh) with a JSON
// Accept header, so a refused session answers 401 rather than a redirect
// to sign-in.
func (a *app) me(b *browser) (*session, *response) {
	a.t.Helper()
	r := b.fetch(http.MethodGet, a.base+"/app", nil)
	if r.status != http.StatusOK {
		return nil, r
	}
	var s session
	r.json(a.t, &s)
	return &s, r
}

// token asks the app for its access token for resource ("": the
// session's own) through Token, with a JSON Accept header.
func (a *app) token(b *browser, resource string) (tokenResult, *response) {
	a.t.Helper()
	r := b.fetch(http.MethodGet, a.base+"/api/token?resource="+url.QueryEscape(resource), nil)
	var res tokenResult
	if r.status == http.StatusOK {
		r.json(a.t, &res)
	}
	return res, r
}

// sessionCookies returns b's cookies of a's session (the cookie and its
// chunks), for replaying them later.
func (a *app) sessionCookies(b *browser) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range b.cookies(a.base) {
		if c.Name == a.cookieName || strings.HasPrefix(c.Name, a.cookieName+".") {
			out = append(out, &http.Cookie{Name: c.Name, Value: c.Value, Path: "/"})
		}
	}
	return out
}

// testLogger sends the package's log to the test's output, until the test
// ends: a detached grant may log after that.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{w: t.Output()}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	return w.w.Write(p)
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}

// beforeRefreshWindow reports whether the access token that expires at
// exp is still outside the package's refresh window (a quarter of the
// providers' token lifetime before expiry), so a request is served
// without a refresh.
func beforeRefreshWindow(exp time.Time) bool {
	return time.Now().Before(exp.Add(-tokenLifetime * time.Second / 4))
}

// waitUntilExpired sleeps until the access token that expires at exp has
// expired, with a small margin; bounded, since the providers issue 3 s
// tokens.
func waitUntilExpired(t *testing.T, exp time.Time) {
	t.Helper()
	d := time.Until(exp) + 150*time.Millisecond
	if d > 2*tokenLifetime*time.Second {
		t.Fatalf("access token expires in %s, want about %ds", d, tokenLifetime)
	}
	if d > 0 {
		time.Sleep(d)
	}
}
