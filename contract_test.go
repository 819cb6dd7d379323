package oidcsession

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

const cookieName = "__Host-oidcsession"

var htmlAccept = http.Header{"Accept": {"text/html,application/xhtml+xml"}}

func TestValidSessionPassesWithoutSetCookie(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	for _, path := range []string{"/app/x", "/api/x"} {
		r := h.get(h.client, path, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, r.StatusCode, r.body)
		}
		if got := r.Header.Values("Set-Cookie"); len(got) != 0 {
			t.Fatalf("%s: unchanged session wrote %d cookies", path, len(got))
		}
		if !strings.Contains(r.Header.Get("Vary"), "Cookie") {
			t.Fatalf("%s: no Vary: Cookie", path)
		}
		if r.json(t)["sub"] != "user-1" {
			t.Fatalf("%s: handler saw %s", path, r.body)
		}
	}
	if n := h.op.Grants("refresh_token"); n != 0 {
		t.Fatalf("%d refresh grants for a valid session", n)
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.get(h.client, "/test/signin", nil)
	lines := setCookies(r, cookieName)
	if len(lines) != 1 {
		t.Fatalf("want one session cookie, got %v", lines)
	}
	for _, attr := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age="} {
		if !strings.Contains(lines[0], "; "+attr) {
			t.Errorf("cookie lacks %s: %.80s…", attr, lines[0])
		}
	}
	if strings.Contains(lines[0], "Domain=") {
		t.Error("__Host- cookie must not have a Domain")
	}
	if len(lines[0]) > maxSetCookie {
		t.Errorf("Set-Cookie is %d bytes", len(lines[0]))
	}
}

func TestInlineRefresh(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration // access tokens live 5m, the window is 30s
	}{
		{"expired", 6 * time.Minute},
		{"inside refresh window", 5*time.Minute - 10*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			h.signIn()
			before := h.get(h.client, "/app/x", nil).json(t)
			h.clock.Advance(tt.advance)
			r := h.get(h.client, "/app/x", nil)
			if r.StatusCode != 200 {
				t.Fatalf("%d %s", r.StatusCode, r.body)
			}
			if len(setCookies(r, cookieName)) == 0 || r.Header.Get("Cache-Control") != "no-store" {
				t.Fatal("refresh wrote no cookie or no Cache-Control")
			}
			if got := r.json(t); got["at_sha256"] == before["at_sha256"] {
				t.Fatal("handler saw the old access token")
			}
			if n := h.op.SuccessfulGrants("refresh_token"); n != 1 {
				t.Fatalf("%d grants, want 1", n)
			}
			if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 || len(r.Header.Values("Set-Cookie")) != 0 {
				t.Fatalf("after refresh: %d, %d cookies", r.StatusCode, len(r.Header.Values("Set-Cookie")))
			}
			if n := h.op.Grants("refresh_token"); n != 1 {
				t.Fatalf("the new cookie was not used: %d grants", n)
			}
		})
	}
}

func TestTryRefresh(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()

	h.clock.Advance(5*time.Minute - 10*time.Second)
	if r := h.get(h.client, "/api/x", nil); r.StatusCode != 200 {
		t.Fatalf("inside the window, not expired: %d %s", r.StatusCode, r.body)
	}

	h.clock.Advance(time.Minute)
	r := h.get(h.client, "/api/x", nil)
	if r.StatusCode != 401 || r.json(t)["error"] != "try_refresh" {
		t.Fatalf("expired: %d %s", r.StatusCode, r.body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if w := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(w, `Bearer error="invalid_token", error_description="`) {
		t.Fatalf("WWW-Authenticate %q", w)
	}
	if len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatal("try_refresh must keep the session")
	}
	if n := h.op.Grants("refresh_token"); n != 0 {
		t.Fatalf("try_refresh made %d grants", n)
	}

	rr := h.postRefresh(h.client, nil)
	if rr.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", rr.StatusCode, rr.body)
	}
	exp, err := time.Parse(time.RFC3339, rr.json(t)["expires_at"].(string))
	if err != nil || !exp.After(h.clock.Now()) {
		t.Fatalf("expires_at %v (%v)", exp, err)
	}
	if r := h.get(h.client, "/api/x", nil); r.StatusCode != 200 {
		t.Fatalf("retry after refresh: %d %s", r.StatusCode, r.body)
	}
}

func TestUnauthenticated(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	tests := []struct {
		name   string
		method string
		path   string
		hdr    http.Header
		status int
		want   string // JSON error or Location
	}{
		{"page redirects to login", "GET", "/app/x?q=1", htmlAccept, 302, "/auth/login?return_to=%2Fapp%2Fx%3Fq%3D1"},
		{"API gets 401", "GET", "/api/x", nil, 401, "unauthenticated"},
		{"POST to a page path gets 401", "POST", "/app/x", htmlAccept, 401, "unauthenticated"},
		{"refresh without session", "POST", "/auth/refresh", http.Header{RefreshHeader: {"1"}}, 401, "unauthenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(h.client, tt.method, tt.path, tt.hdr)
			if r.StatusCode != tt.status {
				t.Fatalf("%d %s", r.StatusCode, r.body)
			}
			if tt.status == 302 {
				if loc := r.Header.Get("Location"); loc != tt.want {
					t.Fatalf("Location %q", loc)
				}
				return
			}
			if got := r.json(t)["error"]; got != tt.want {
				t.Fatalf("error %v", got)
			}
		})
	}
}

func TestCustomErrorHandlers(t *testing.T) {
	var seen error
	h := newHarness(t, harnessConfig{opts: []Option{
		WithLoginURL("/signin?from=mw"),
		WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			seen = err
			w.WriteHeader(http.StatusTeapot)
		}),
	}})
	if r := h.get(h.client, "/api/x", nil); r.StatusCode != http.StatusTeapot || seen != ErrNoSession {
		t.Fatalf("%d, handler got %v", r.StatusCode, seen)
	}
	// Per-Require override, falling back to WriteError.
	only := h.m.Require(OnError(h.m.WriteError))(http.NotFoundHandler())
	rec := newRecorder(only, "GET", "/x", htmlAccept)
	if rec.Code != 302 || rec.Header().Get("Location") != "/signin?from=mw&return_to=%2Fx" {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestRefreshHandlerProtocol(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	tests := []struct {
		name   string
		method string
		hdr    http.Header
		status int
		errStr string
	}{
		{"GET is not allowed", "GET", http.Header{RefreshHeader: {"1"}}, 405, "method_not_allowed"},
		{"missing header", "POST", http.Header{}, 403, "csrf"},
		{"wrong header value", "POST", http.Header{RefreshHeader: {"true"}}, 403, "csrf"},
		{"cross-site fetch", "POST", http.Header{RefreshHeader: {"1"}, "Sec-Fetch-Site": {"cross-site"}}, 403, "csrf"},
		{"foreign Origin", "POST", http.Header{RefreshHeader: {"1"}, "Origin": {"https://evil.example"}}, 403, "csrf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.clock.Advance(10 * time.Minute)
			r := h.do(h.client, tt.method, "/auth/refresh", tt.hdr)
			if r.StatusCode != tt.status || r.json(t)["error"] != tt.errStr {
				t.Fatalf("%d %s", r.StatusCode, r.body)
			}
			if tt.status == 405 && r.Header.Get("Allow") != "POST" {
				t.Fatalf("Allow %q", r.Header.Get("Allow"))
			}
			if len(r.Header.Values("Set-Cookie")) != 0 {
				t.Fatal("a refused request changed cookies")
			}
		})
	}
	if n := h.op.Grants("refresh_token"); n != 0 {
		t.Fatalf("refused requests made %d grants", n)
	}

	t.Run("success", func(t *testing.T) {
		r := h.postRefresh(h.client, http.Header{"Sec-Fetch-Site": {"same-origin"}})
		if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "no-store" || len(setCookies(r, cookieName)) == 0 {
			t.Fatalf("%d Retry-After=%q %s", r.StatusCode, r.Header.Get("Retry-After"), r.body)
		}
		body := r.json(t)
		if len(body) != 2 || body["expires_at"] == nil || body["refresh_at"] == nil {
			t.Fatalf("body must hold only expires_at and refresh_at, got %s", r.body)
		}
	})
	t.Run("fresh token needs no grant", func(t *testing.T) {
		before := h.op.Grants("refresh_token")
		r := h.postRefresh(h.client, nil)
		if r.StatusCode != 200 || h.op.Grants("refresh_token") != before {
			t.Fatalf("%d, grants %d -> %d", r.StatusCode, before, h.op.Grants("refresh_token"))
		}
	})
}

func TestTerminalRefreshFailureClearsSession(t *testing.T) {
	tests := []struct {
		name   string
		status int
		code   string
	}{
		{"invalid_grant", 400, "invalid_grant"},
		{"invalid_client", 401, "invalid_client"},
		{"unauthorized_client", 400, "unauthorized_client"},
		{"bare 400", 400, ""},
	}
	for _, tt := range tests {
		for _, path := range []string{"/app/x", "/auth/refresh"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				h := newHarness(t, harnessConfig{})
				h.signIn()
				h.clock.Advance(6 * time.Minute)
				h.op.FailNextRefreshes(1, tt.status, tt.code)
				var r response
				if path == "/auth/refresh" {
					r = h.postRefresh(h.client, nil)
				} else {
					r = h.get(h.client, path, nil)
				}
				if r.StatusCode != 401 || r.json(t)["error"] != "session_expired" {
					t.Fatalf("%d %s", r.StatusCode, r.body)
				}
				if !clearsSession(r, cookieName) {
					t.Fatal("cookies not cleared")
				}
				if r := h.get(h.client, "/api/x", nil); r.StatusCode != 401 || r.json(t)["error"] != "unauthenticated" {
					t.Fatalf("after clearing: %d %s", r.StatusCode, r.body)
				}
			})
		}
	}
}

func TestTerminalFailureRedirectsPages(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	h.clock.Advance(6 * time.Minute)
	h.op.FailNextRefreshes(1, 400, "invalid_grant")
	r := h.get(h.client, "/app/x", htmlAccept)
	if r.StatusCode != 302 || !strings.HasPrefix(r.Header.Get("Location"), "/auth/login?return_to=") || !clearsSession(r, cookieName) {
		t.Fatalf("%d %q cleared=%v", r.StatusCode, r.Header.Get("Location"), clearsSession(r, cookieName))
	}
}

func TestTransientRefreshFailureKeepsSession(t *testing.T) {
	tests := []struct {
		name   string
		inject func(p *oidcsessiontest.Provider)
	}{
		{"503", func(p *oidcsessiontest.Provider) { p.FailNextRefreshes(1, 503, "") }},
		{"500 JSON", func(p *oidcsessiontest.Provider) { p.FailNextRefreshes(1, 500, "server_error") }},
		{"429", func(p *oidcsessiontest.Provider) { p.FailNextRefreshes(1, 429, "") }},
		{"temporarily_unavailable in a 400", func(p *oidcsessiontest.Provider) { p.FailNextRefreshes(1, 400, "temporarily_unavailable") }},
		{"connection dropped", func(p *oidcsessiontest.Provider) { p.DropNextRefreshes(1) }},
		{"timeout", func(p *oidcsessiontest.Provider) { p.DelayNextRefreshes(1, 2*time.Second) }},
	}
	for _, tt := range tests {
		for _, path := range []string{"/app/x", "/auth/refresh"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				h := newHarness(t, harnessConfig{opts: []Option{WithRefreshTimeout(300 * time.Millisecond)}})
				h.signIn()
				h.clock.Advance(6 * time.Minute)
				tt.inject(h.op)
				call := func() response {
					if path == "/auth/refresh" {
						return h.postRefresh(h.client, nil)
					}
					return h.get(h.client, path, nil)
				}
				r := call()
				if r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || r.json(t)["error"] != "temporarily_unavailable" {
					t.Fatalf("%d Retry-After=%q %s", r.StatusCode, r.Header.Get("Retry-After"), r.body)
				}
				if len(r.Header.Values("Set-Cookie")) != 0 {
					t.Fatal("a transient failure changed cookies")
				}
				if r := call(); r.StatusCode != 200 {
					t.Fatalf("retry: %d %s", r.StatusCode, r.body)
				}
			})
		}
	}
}

func TestTransientFailureServesUnexpiredToken(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	h.clock.Advance(5*time.Minute - 10*time.Second)
	h.op.FailNextRefreshes(1, 503, "")
	if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("%d, %d Set-Cookie", r.StatusCode, len(r.Header.Values("Set-Cookie")))
	}
	if n := h.op.Grants("refresh_token"); n != 1 {
		t.Fatalf("%d grants", n)
	}
}

func TestRefreshedIDTokenMustKeepIdentity(t *testing.T) {
	tests := []struct {
		claim string
		value any
		want  error
	}{
		{"sub", "someone-else", ErrIDTokenMismatch},
		{"aud", "another-client", nil}, // go-oidc refuses it first
		{"iss", "https://evil.example", nil},
	}
	for _, tt := range tests {
		t.Run(tt.claim, func(t *testing.T) {
			failed := make(chan *RefreshError, 1)
			h := newHarness(t, harnessConfig{opts: []Option{WithOnRefreshFailed(func(_ context.Context, err *RefreshError) { failed <- err })}})
			h.signIn()
			h.clock.Advance(6 * time.Minute)
			h.op.OverrideNextRefreshIDTokenClaims(map[string]any{tt.claim: tt.value})
			r := h.get(h.client, "/app/x", nil)
			if r.StatusCode != 401 || r.json(t)["error"] != "session_expired" || !clearsSession(r, cookieName) {
				t.Fatalf("%d %s", r.StatusCode, r.body)
			}
			err := <-failed
			if err.Class != RefreshTerminal || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("hook got %v", err)
			}
		})
	}
}

func TestSameIdentityChecksAudienceSet(t *testing.T) {
	old := &Session{subject: "u", idToken: newToken(fakeJWT(`{"iss":"https://op","sub":"u","aud":["a","b"]}`, 0))}
	tests := []struct {
		name string
		idt  oidc.IDToken
		ok   bool
	}{
		{"same, reordered", oidc.IDToken{Issuer: "https://op", Subject: "u", Audience: []string{"b", "a"}}, true},
		{"audience dropped", oidc.IDToken{Issuer: "https://op", Subject: "u", Audience: []string{"a"}}, false},
		{"issuer changed", oidc.IDToken{Issuer: "https://other", Subject: "u", Audience: []string{"a", "b"}}, false},
		{"subject changed", oidc.IDToken{Issuer: "https://op", Subject: "v", Audience: []string{"a", "b"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sameIdentity(old, &tt.idt)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrIDTokenMismatch)) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func newRecorder(h http.Handler, method, path string, hdr http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestOptional(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	page := h.m.Require(Optional())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := FromContext(r.Context()); ok {
			_, _ = w.Write([]byte("hello " + s.Subject()))
			return
		}
		_, _ = w.Write([]byte("anonymous"))
	}))
	if rec := newRecorder(page, "GET", "/", htmlAccept); rec.Code != 200 || rec.Body.String() != "anonymous" {
		t.Fatalf("no session: %d %q", rec.Code, rec.Body.String())
	}
	bad := http.Header{"Cookie": {cookieName + "=garbage"}}
	rec := newRecorder(page, "GET", "/", bad)
	if rec.Code != 200 || rec.Body.String() != "anonymous" || !strings.Contains(rec.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("bad cookie: %d %q", rec.Code, rec.Body.String())
	}
	h.signIn()
	rec = newRecorder(page, "GET", "/", http.Header{"Cookie": {h.cookieHeader(h.client)}})
	if rec.Body.String() != "hello user-1" {
		t.Fatalf("signed in: %q", rec.Body.String())
	}
}

func TestTransientFailureOnPageIsHTML(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	h.clock.Advance(6 * time.Minute)
	h.op.FailNextRefreshes(1, 503, "")
	r := h.get(h.client, "/app/x?q=<b>", htmlAccept)
	if r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %q %q", r.StatusCode, r.Header.Get("Retry-After"), r.Header.Get("Content-Type"))
	}
	if !strings.Contains(r.body, `href="/app/x?q=&lt;b&gt;"`) || strings.Contains(r.body, "<b>") {
		t.Fatalf("page: %s", r.body)
	}
	if len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatal("a transient failure changed cookies")
	}
}
