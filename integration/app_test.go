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
	role   string   // the client, by role; default "basic"
	scopes []string // default openid profile email offline_access
	// noConsentPrompt leaves out WithPrompt("consent"), which the apps
	// otherwise send where the provider grants offline_access only with it.
	noConsentPrompt bool
	opts            []oidcsession.Option
}

// app is a web app using oidcsession, on one of the registered slots.
type app struct {
	t    *testing.T
	p    *provider
	c    clientReg
	m    *oidcsession.Middleware
	base string
}

// newApp starts an app for user u at provider p: the package's handlers
// mounted as its README shows, and a few test endpoints that report the
// session (never a token: hashes and decoded claims only).
func newApp(t *testing.T, p *provider, u user, spec appSpec) *app {
	t.Helper()
	if spec.role == "" {
		spec.role = "basic"
	}
	c, ok := p.clients[spec.role]
	if !ok {
		t.Fatalf("%s has no %q client", p.name, spec.role)
	}
	if spec.scopes == nil {
		spec.scopes = []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}
	}
	a := &app{t: t, p: p, c: c}
	mux := http.NewServeMux()
	s := takeSlot(t, mux)
	a.base = s.base

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
	return a
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
}

func describe(s *oidcsession.Session) *session {
	if s == nil {
		return nil
	}
	at := s.AccessToken()
	sum := sha256.Sum256([]byte(at))
	d := &session{
		Subject:         s.Subject(),
		ExpiresAt:       s.Expiry(),
		CreatedAt:       s.CreatedAt(),
		HasRefreshToken: s.HasRefreshToken(),
		Scope:           s.Scope(),
		AccessToken:     hex.EncodeToString(sum[:6]),
	}
	d.AccessClaims, _ = jwtPart(at, 1)
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
