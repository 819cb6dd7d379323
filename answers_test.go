package oidcsession_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

func TestSessionCookieAttributes(t *testing.T) {
	h := newHarness(t, setup{})
	r := h.b.get("/test/signin", nil)
	lines := setCookies(r, cookieName)
	if len(lines) != 1 {
		t.Fatalf("want one session cookie, got %v", lines)
	}
	for _, attr := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age="} {
		if !strings.Contains(lines[0], "; "+attr) {
			t.Errorf("cookie lacks %s: %.80s…", attr, lines[0])
		}
	}
	if strings.Contains(lines[0], "Domain=") || len(lines[0]) > 4096 {
		t.Errorf("cookie: %d bytes, %.80s", len(lines[0]), lines[0])
	}
}

// TestInlineRefreshHandlerSeesNewSession: the handler behind Require runs
// with the refreshed session, not the one the request came with.
func TestInlineRefreshHandlerSeesNewSession(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	before := h.b.me()
	h.clock.Advance(6 * time.Minute)
	after := h.b.me()
	if after.AccessToken == before.AccessToken || after.ExpiresAt == before.ExpiresAt {
		t.Fatal("the handler saw the old token")
	}
}

func TestTryRefreshAnswer(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	h.clock.Advance(6 * time.Minute)
	r := h.b.get("/api/me", nil)
	if r.status != 401 || r.json(t)["error"] != "try_refresh" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("expired: %d %s", r.status, r.body)
	}
	if w := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(w, `Bearer error="invalid_token", error_description="`) {
		t.Fatalf("WWW-Authenticate %q", w)
	}
	rr := h.b.refresh()
	body := rr.json(t)
	exp, err1 := time.Parse(time.RFC3339, body["expires_at"].(string))
	at, err2 := time.Parse(time.RFC3339, body["refresh_at"].(string))
	if rr.status != 200 || err1 != nil || err2 != nil || !exp.After(h.clock.Now()) || !at.Before(exp) || len(body) != 2 {
		t.Fatalf("refresh: %d %s", rr.status, rr.body)
	}
	if exp.Sub(at) != 30*time.Second {
		t.Fatalf("refresh_at is %s before expiry, want the refresh window (30s)", exp.Sub(at))
	}
	if r := h.b.get("/api/me", nil); r.status != 200 {
		t.Fatalf("retry after refresh: %d %s", r.status, r.body)
	}
}

func TestUnauthenticatedPages(t *testing.T) {
	h := newHarness(t, setup{})
	r := h.b.get("/app?q=1", pageAccept)
	if r.status != 302 || r.header.Get("Location") != "/auth/login?return_to=%2Fapp%3Fq%3D1" {
		t.Fatalf("page: %d %q", r.status, r.header.Get("Location"))
	}
	if r := h.b.post("/app", pageAccept); r.status != 401 || r.json(t)["error"] != "unauthenticated" {
		t.Fatalf("POST to a page: %d %s", r.status, r.body)
	}
	h.b.startSession()
	h.clock.Advance(6 * time.Minute)
	h.op.FailNextRefreshes(1, 400, "invalid_grant")
	r = h.b.get("/app", pageAccept)
	if r.status != 302 || !strings.HasPrefix(r.header.Get("Location"), "/auth/login?return_to=") || !clears(r, cookieName) {
		t.Fatalf("ended session on a page: %d %q", r.status, r.header.Get("Location"))
	}
}

func TestCustomErrorHandlers(t *testing.T) {
	var seen error
	h := newHarness(t, setup{opts: []oidcsession.Option{
		oidcsession.WithLoginURL("/signin?from=mw"),
		oidcsession.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			seen = err
			w.WriteHeader(http.StatusTeapot)
		}),
	}})
	if r := h.b.get("/api/me", nil); r.status != http.StatusTeapot || !errors.Is(seen, oidcsession.ErrNoSession) {
		t.Fatalf("%d, handler got %v", r.status, seen)
	}
	// Per-Require override, falling back to WriteError.
	only := h.m.Require(oidcsession.OnError(h.m.WriteError))(http.NotFoundHandler())
	rec := serve(only, "GET", "/x", pageAccept)
	if rec.Code != 302 || rec.Header().Get("Location") != "/signin?from=mw&return_to=%2Fx" {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("Location"))
	}
}

func serve(h http.Handler, method, target string, hdr http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRefreshHandlerCSRF(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	h.clock.Advance(10 * time.Minute)
	tests := []struct {
		name   string
		method string
		hdr    http.Header
		status int
		code   string
	}{
		{"GET is not allowed", "GET", csrf, 405, "method_not_allowed"},
		{"missing header", "POST", jsonAccept, 403, "csrf"},
		{"wrong header value", "POST", http.Header{oidcsession.CSRFHeader: {"true"}}, 403, "csrf"},
		{"cross-site fetch", "POST", http.Header{oidcsession.CSRFHeader: {"1"}, "Sec-Fetch-Site": {"cross-site"}}, 403, "csrf"},
		{"foreign Origin", "POST", http.Header{oidcsession.CSRFHeader: {"1"}, "Origin": {"https://evil.example"}}, 403, "csrf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := send(t, h.b.noFollow(), tt.method, h.app.URL+"/auth/refresh", tt.hdr)
			if r.status != tt.status || r.json(t)["error"] != tt.code || len(r.header.Values("Set-Cookie")) != 0 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if tt.status == 405 && r.header.Get("Allow") != "POST" {
				t.Fatalf("Allow %q", r.header.Get("Allow"))
			}
		})
	}
	if n := h.stats().Grants["refresh_token"]; n != 0 {
		t.Fatalf("refused requests made %d grants", n)
	}
}

// TestTerminalFailures: every refusal of the refresh token ends the
// session, inline and through the handler.
func TestTerminalFailures(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		code   string
	}{{"invalid_client", 401, "invalid_client"}, {"unauthorized_client", 400, "unauthorized_client"}, {"bare 400", 400, ""}, {"403", 403, ""}} {
		for _, c := range []caller{inline, handler} {
			t.Run(tt.name+"/"+string(c), func(t *testing.T) {
				h := newHarness(t, setup{})
				h.b.startSession()
				h.clock.Advance(6 * time.Minute)
				h.op.FailNextRefreshes(1, tt.status, tt.code)
				r := h.b.call(c, nil)
				if r.status != 401 || r.json(t)["error"] != "session_expired" || !clears(r, cookieName) {
					t.Fatalf("%d %s", r.status, r.body)
				}
			})
		}
	}
}

// TestTransientFailures: every kind of provider outage that answers keeps
// the session: 503 with Retry-After now, success on the next try. (A
// request that got no answer may have been carried out:
// TestUnansweredRefreshNeverRepresentsToken.)
func TestTransientFailures(t *testing.T) {
	for _, tt := range []struct {
		name   string
		inject func(p *oidcsessiontest.Provider)
	}{
		{"500 JSON", func(p *oidcsessiontest.Provider) { p.FailNextRefreshes(1, 500, "server_error") }},
		{"429", func(p *oidcsessiontest.Provider) { p.FailNextRefreshes(1, 429, "") }},
		{"temporarily_unavailable in a 400", func(p *oidcsessiontest.Provider) { p.FailNextRefreshes(1, 400, "temporarily_unavailable") }},
	} {
		for _, c := range []caller{inline, handler} {
			t.Run(tt.name+"/"+string(c), func(t *testing.T) {
				h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithRefreshTimeout(300 * time.Millisecond)}})
				h.b.startSession()
				h.clock.Advance(6 * time.Minute)
				tt.inject(h.op)
				r := h.b.call(c, nil)
				if r.status != 503 || r.header.Get("Retry-After") != "5" || r.json(t)["error"] != "temporarily_unavailable" || len(r.header.Values("Set-Cookie")) != 0 {
					t.Fatalf("%d Retry-After=%q %s", r.status, r.header.Get("Retry-After"), r.body)
				}
				if r := h.b.call(c, nil); r.status != 200 {
					t.Fatalf("retry: %d %s", r.status, r.body)
				}
			})
		}
	}
}

func TestTransientFailureOnPageIsHTML(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	h.clock.Advance(6 * time.Minute)
	h.op.FailNextRefreshes(1, 503, "")
	r := h.b.get("/app?q=<b>", pageAccept)
	if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %q %q", r.status, r.header.Get("Retry-After"), r.header.Get("Content-Type"))
	}
	if !strings.Contains(r.body, `href="/app?q=&lt;b&gt;"`) || strings.Contains(r.body, "<b>") || len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("page: %s", r.body)
	}
}

// TestTryAgainLinkIsLocal (issue 6.12): the transient page's link must be a
// local path even when a router passes an unclean one through.
func TestTryAgainLinkIsLocal(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	h.clock.Advance(6 * time.Minute)
	h.op.FailNextRefreshes(1, 503, "")
	rec := serve(h.m.Require()(http.NotFoundHandler()), "GET", "https://app.test//evil.example/x", withCookie(h.b.cookieHeader(), pageAccept))
	if body := rec.Body.String(); rec.Code != 503 || strings.Contains(body, `href="//`) || !strings.Contains(body, `href="/"`) {
		t.Fatalf("%d: %s", rec.Code, body)
	}
}

func TestRefreshedIDTokenMustKeepIdentity(t *testing.T) {
	for _, claim := range []string{"sub", "aud", "iss"} {
		t.Run(claim, func(t *testing.T) {
			failed := make(chan *oidcsession.RefreshError, 1)
			h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithOnRefreshFailed(func(_ context.Context, err *oidcsession.RefreshError) { failed <- err })}})
			h.b.startSession()
			h.clock.Advance(6 * time.Minute)
			h.op.OverrideNextRefreshIDTokenClaims(map[string]any{claim: "someone-else"})
			r := h.b.get("/app", nil)
			if r.status != 401 || r.json(t)["error"] != "session_expired" || !clears(r, cookieName) {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if err := <-failed; err.Class != oidcsession.RefreshTerminal || claim == "sub" && !errors.Is(err, oidcsession.ErrIDTokenMismatch) {
				t.Fatalf("hook got %v", err)
			}
		})
	}
}

func TestOptional(t *testing.T) {
	h := newHarness(t, setup{})
	page := h.m.Require(oidcsession.Optional())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := oidcsession.FromContext(r.Context()); ok {
			_, _ = w.Write([]byte("hello " + s.Subject()))
			return
		}
		_, _ = w.Write([]byte("anonymous"))
	}))
	if rec := serve(page, "GET", "/", pageAccept); rec.Code != 200 || rec.Body.String() != "anonymous" {
		t.Fatalf("no session: %d %q", rec.Code, rec.Body.String())
	}
	rec := serve(page, "GET", "/", withCookie(cookieName+"=garbage"))
	if rec.Code != 200 || rec.Body.String() != "anonymous" || !strings.Contains(rec.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("bad cookie: %d %q", rec.Code, rec.Body.String())
	}
	h.b.startSession()
	if rec := serve(page, "GET", "/", withCookie(h.b.cookieHeader())); rec.Body.String() != "hello user-1" {
		t.Fatalf("signed in: %q", rec.Body.String())
	}
}

// TestNoStoreWhenCookiesAreSet (issue 6.14): a response that carries
// session cookies must not be stored by a shared cache, whatever
// Cache-Control the handler sets, and the handler keeps its Flusher.
func TestNoStoreWhenCookiesAreSet(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	public := h.m.Require(oidcsession.Optional())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write([]byte("hello"))
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}))
	if rec := serve(public, "GET", "/", withCookie(h.b.cookieHeader())); rec.Header().Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("an unchanged session overrode the handler: %q", rec.Header().Get("Cache-Control"))
	}
	h.clock.Advance(6 * time.Minute)
	rec := serve(public, "GET", "/", withCookie(h.b.cookieHeader()))
	if len(rec.Header().Values("Set-Cookie")) == 0 || rec.Header().Get("Cache-Control") != "no-store" || rec.Body.String() != "hello" || !rec.Flushed {
		t.Fatalf("refreshed: Cache-Control %q, cookies %d, body %q, flushed %t", rec.Header().Get("Cache-Control"), len(rec.Header().Values("Set-Cookie")), rec.Body, rec.Flushed)
	}
}
