package oidcsession

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

var (
	testHashKey  = []byte("0123456789abcdef0123456789abcdef")
	testBlockKey = []byte("fedcba9876543210fedcba9876543210")
)

// harness is an app using the middleware over real TLS, signed in through a
// real OpenID provider, with a browser-like cookie jar and a shared fake
// clock.
type harness struct {
	t      *testing.T
	clock  *fakeClock
	op     *oidcsessiontest.Provider
	m      *Middleware
	app    *httptest.Server
	client *http.Client
}

type harnessConfig struct {
	op   oidcsessiontest.Config
	opts []Option
	// opClockOffset sets the provider's clock off the app's, as a provider
	// with a skewed clock would be.
	opClockOffset time.Duration
}

func newHarness(t *testing.T, hc harnessConfig) *harness {
	t.Helper()
	h := &harness{t: t, clock: newFakeClock()}
	hc.op.Now = func() time.Time { return h.clock.Now().Add(hc.opClockOffset) }
	h.op = oidcsessiontest.New(t, hc.op)
	provider, err := oidc.NewProvider(context.Background(), h.op.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]Option{WithKeys(testHashKey, testBlockKey), WithClock(h.clock.Now)}, hc.opts...)
	h.m, err = New(provider, oauth2.Config{
		ClientID:     h.op.ClientID(),
		ClientSecret: h.op.ClientSecret(),
		Scopes:       []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h.app = httptest.NewTLSServer(h.routes())
	t.Cleanup(h.app.Close)
	h.client = h.newClient()
	return h
}

// newClient is a fresh browser: its own jar, no redirects followed.
func (h *harness) newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := h.app.Client()
	return &http.Client{
		Transport:     c.Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// refreshOutcome is what /test/refresh reports of one RefreshSession call.
type refreshOutcome struct {
	Class           string `json:"class"` // "" on success
	HasRefreshToken bool   `json:"has_refresh_token"`
	Scope           string `json:"scope"`
}

// refreshSession calls RefreshSession through /test/refresh with the
// client's cookies (or hdr's Cookie when given).
func (h *harness) refreshSession(c *http.Client, query string, hdr http.Header) (response, refreshOutcome) {
	h.t.Helper()
	r := h.get(c, "/test/refresh?"+query, hdr)
	var out refreshOutcome
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		h.t.Fatalf("/test/refresh: %d %q", r.StatusCode, r.body)
	}
	return r, out
}

// whoami is what the protected handlers report about the session they saw.
type whoami struct {
	Subject     string `json:"sub"`
	AccessToken string `json:"at_sha256"`
	ExpiresAt   string `json:"expires_at"`
}

func (h *harness) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /test/signin", func(w http.ResponseWriter, r *http.Request) {
		tok, err := h.op.IssueTokens(oidcsessiontest.IssueOptions{})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if _, err := h.m.StartSession(w, r, tok); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	report := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := FromContext(r.Context())
		if !ok {
			http.Error(w, "no session in context", 500)
			return
		}
		sum := sha256.Sum256([]byte(s.AccessToken()))
		_ = json.NewEncoder(w).Encode(whoami{s.Subject(), hex.EncodeToString(sum[:8]), s.Expiry().UTC().Format(time.RFC3339)})
	})
	mux.HandleFunc("/test/refresh", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s, err := h.m.RefreshSession(w, r, RefreshOptions{Scopes: strings.Fields(q.Get("scope")), Resource: q["resource"]})
		out := refreshOutcome{}
		var re *RefreshError
		if errors.As(err, &re) {
			out.Class = re.Class.String()
		} else if err != nil {
			out.Class = "error: " + err.Error()
		}
		if s != nil {
			out.HasRefreshToken, out.Scope = s.HasRefreshToken(), s.Scope()
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.Handle("/app/", h.m.Require()(report))
	mux.Handle("/api/", h.m.Require(TryRefresh())(report))
	mux.Handle("/auth/refresh", h.m.RefreshHandler())
	mux.Handle("/auth/logout", h.m.LogoutHandler())
	return mux
}

// signIn gives the harness's client a session.
func (h *harness) signIn() {
	h.t.Helper()
	resp := h.get(h.client, "/test/signin", nil)
	if resp.StatusCode != http.StatusNoContent {
		h.t.Fatalf("sign-in: %d %s", resp.StatusCode, resp.body)
	}
}

// cookieHeader is the Cookie header the client's jar sends to the app.
func (h *harness) cookieHeader(c *http.Client) string {
	req, _ := http.NewRequest("GET", h.app.URL+"/", nil)
	var parts []string
	for _, ck := range c.Jar.Cookies(req.URL) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

type response struct {
	*http.Response
	body string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return v
}

func (h *harness) do(c *http.Client, method, path string, hdr http.Header) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.app.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, string(b)}
}

func (h *harness) get(c *http.Client, path string, hdr http.Header) response {
	h.t.Helper()
	return h.do(c, http.MethodGet, path, hdr)
}

func (h *harness) postRefresh(c *http.Client, hdr http.Header) response {
	h.t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	if _, ok := hdr[RefreshHeader]; !ok {
		hdr.Set(RefreshHeader, "1")
	}
	return h.do(c, http.MethodPost, "/auth/refresh", hdr)
}

// setCookies returns the response's Set-Cookie lines for the session.
func setCookies(r response, name string) []string {
	var out []string
	for _, line := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name) {
			out = append(out, line)
		}
	}
	return out
}

// clearsSession reports whether every session cookie line deletes it.
func clearsSession(r response, name string) bool {
	lines := setCookies(r, name)
	if len(lines) == 0 {
		return false
	}
	for _, l := range lines {
		if !strings.Contains(l, "Max-Age=0") {
			return false
		}
	}
	return true
}
