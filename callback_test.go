package oidcsession_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
)

// sessionSet reports whether a response wrote a session cookie.
func sessionSet(r response) bool {
	for _, c := range setCookies(r, cookieName) {
		if !strings.HasPrefix(c, cookieName+"-flow.") && !strings.Contains(c, "Max-Age=0") {
			return true
		}
	}
	return false
}

// with returns u with query parameters set and deleted.
func with(u *url.URL, set url.Values, del ...string) string {
	q := u.Query()
	for k, v := range set {
		q[k] = v
	}
	for _, k := range del {
		q.Del(k)
	}
	v := *u
	v.RawQuery = q.Encode()
	return v.String()
}

// TestCallbackRefusals checks that every callback that does not complete
// a flow this browser started gets a clear 4xx and no session.
func TestCallbackRefusals(t *testing.T) {
	h := newHarness(t, setup{})
	prepared := func() (*browser, *url.URL) {
		b := h.newBrowser()
		return b, b.authorize(b.startLogin("?return_to=/app").String())
	}
	tests := []struct {
		name       string
		call       func() (*browser, string)
		wantStatus int
		wantCode   string
		wantText   string
	}{
		{"state mismatch", func() (*browser, string) {
			b, cb := prepared()
			return b, with(cb, url.Values{"state": {"ZZZZZZZZZZZZZZZZZZZZZZZZZZ"}})
		}, 400, "invalid_request", "no sign-in is in progress"},
		{"state with the same prefix", func() (*browser, string) {
			b, cb := prepared()
			s := cb.Query().Get("state")
			return b, with(cb, url.Values{"state": {s[:12] + strings.Repeat("A", len(s)-12)}})
		}, 400, "invalid_request", "state parameter does not match"},
		{"state missing", func() (*browser, string) { b, cb := prepared(); return b, with(cb, nil, "state") }, 400, "invalid_request", "state parameter is missing"},
		{"state repeated", func() (*browser, string) { b, cb := prepared(); return b, cb.String() + "&state=x" }, 400, "invalid_request", "missing or repeated"},
		{"missing flow cookie", func() (*browser, string) { _, cb := prepared(); return h.newBrowser(), cb.String() }, 400, "invalid_request", "began in another browser"},
		{"expired flow", func() (*browser, string) {
			b, cb := prepared()
			h.clock.Advance(10*time.Minute + time.Second)
			return b, cb.String()
		}, 400, "invalid_request", "took longer than"},
		{"iss mismatch", func() (*browser, string) {
			b, cb := prepared()
			return b, with(cb, url.Values{"iss": {"https://evil.example"}})
		}, 400, "invalid_request", "iss parameter does not name this provider"},
		{"iss missing", func() (*browser, string) { b, cb := prepared(); return b, with(cb, nil, "iss") }, 400, "invalid_request", "iss parameter is missing"},
		{"code missing", func() (*browser, string) { b, cb := prepared(); return b, with(cb, nil, "code") }, 400, "invalid_request", "code parameter is missing"},
		{"code not ours", func() (*browser, string) {
			b, cb := prepared()
			return b, with(cb, url.Values{"code": {"forged"}})
		}, 400, "invalid_request", "refused the request (invalid_grant)"},
		{"access_denied", func() (*browser, string) {
			b, cb := prepared()
			return b, with(cb, url.Values{"error": {"access_denied"}, "error_description": {"<script>alert(1)</script> call 555"}}, "code")
		}, 403, "access_denied", "refused the sign-in (access_denied)"},
		{"provider error with junk code", func() (*browser, string) {
			b, cb := prepared()
			return b, with(cb, url.Values{"error": {"<b>pwned</b>"}}, "code")
		}, 400, "invalid_request", "refused the sign-in (invalid_request)"},
		{"login_required without silent sign-in", func() (*browser, string) {
			b, cb := prepared()
			return b, with(cb, url.Values{"error": {"login_required"}}, "code")
		}, 401, "login_required", "login_required"},
		{"temporarily_unavailable", func() (*browser, string) {
			b, cb := prepared()
			return b, with(cb, url.Values{"error": {"temporarily_unavailable"}}, "code")
		}, 503, "temporarily_unavailable", "temporarily_unavailable"},
	}
	for _, tt := range tests {
		for _, accept := range []http.Header{jsonAccept, pageAccept} {
			t.Run(tt.name+"/"+strings.Split(accept.Get("Accept"), ",")[0], func(t *testing.T) {
				b, target := tt.call()
				r := send(t, b.noFollow(), http.MethodGet, target, accept)
				if r.status != tt.wantStatus || sessionSet(r) || r.header.Get("Cache-Control") != "no-store" {
					t.Fatalf("status %d, want %d (session set %t): %s", r.status, tt.wantStatus, sessionSet(r), r.body)
				}
				if accept.Get("Accept") == "application/json" {
					body := r.json(t)
					if body["error"] != tt.wantCode || !strings.Contains(body["error_description"].(string), tt.wantText) {
						t.Fatalf("body %s, want error %s mentioning %q", r.body, tt.wantCode, tt.wantText)
					}
				} else if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, "Sign-in failed") || !strings.Contains(r.body, `href="/auth/login"`) {
					t.Fatalf("page %q", r.body)
				}
				if strings.Contains(r.body, "<script>") || strings.Contains(r.body, "555") || strings.Contains(r.body, "pwned") {
					t.Fatalf("provider text echoed: %s", r.body)
				}
			})
		}
	}
}

// TestCallbackReplay checks a callback works once: the flow cookie is
// gone after the first use, and even with it restored the code is spent.
func TestCallbackReplay(t *testing.T) {
	h := newHarness(t, setup{})
	b := h.b
	authURL := b.startLogin("?return_to=/app")
	flows := b.Jar.Cookies(mustURL(t, h.app.URL))
	cb := b.authorize(authURL.String())
	if r := b.page(cb.String()); r.status != http.StatusOK || r.url.Path != "/app" {
		t.Fatalf("first callback: %d %q", r.status, r.body)
	}
	if r := send(t, b.noFollow(), "GET", cb.String(), jsonAccept); r.status != http.StatusBadRequest || !strings.Contains(r.body, "already completed") {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	b.Jar.SetCookies(mustURL(t, h.app.URL), flows)
	if r := send(t, b.noFollow(), "GET", cb.String(), jsonAccept); r.status != http.StatusBadRequest || sessionSet(r) {
		t.Fatalf("replay with the flow cookie restored: %d %s", r.status, r.body)
	}
	if got := h.stats().SuccessfulGrants["authorization_code"]; got != 1 {
		t.Fatalf("successful code grants = %d, want 1", got)
	}
}

// TestCallbackWrongNonce: the provider is asked for another nonce than the
// flow's, so its ID token carries that one and the sign-in is refused.
func TestCallbackWrongNonce(t *testing.T) {
	h := newHarness(t, setup{})
	b := h.b
	cb := b.authorize(with(b.startLogin(""), url.Values{"nonce": {"someone-elses-nonce"}}))
	r := send(t, b.noFollow(), "GET", cb.String(), jsonAccept)
	if r.status != http.StatusBadRequest || !strings.Contains(r.json(t)["error_description"].(string), "nonce") || sessionSet(r) {
		t.Fatalf("wrong nonce: %d %s", r.status, r.body)
	}
}

// TestCallbackErrorsAreInspectable checks errors reach a custom handler as
// data: a *ProviderError with kind, code and the untrusted description
// kept out of its message.
func TestCallbackErrorsAreInspectable(t *testing.T) {
	var got error
	h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	})}})
	cb := h.b.authorize(h.b.startLogin("").String())
	target := with(cb, url.Values{"error": {"access_denied"}, "error_description": {"secret-ish text"}}, "code")
	if r := send(t, h.b.noFollow(), "GET", target, nil); r.status != http.StatusTeapot {
		t.Fatalf("status %d", r.status)
	}
	var pe *oidcsession.ProviderError
	if !errors.Is(got, oidcsession.ErrAuthorizationFailed) || !errors.As(got, &pe) || pe.Code != "access_denied" || pe.Description != "secret-ish text" || strings.Contains(got.Error(), "secret-ish") {
		t.Fatalf("error %#v", got)
	}
	if r := send(t, h.b.noFollow(), "GET", target, nil); r.status != http.StatusTeapot || !errors.Is(got, oidcsession.ErrInvalidCallback) {
		t.Fatalf("replay: %d %v", r.status, got)
	}
	cb = h.b.authorize(h.b.startLogin("").String())
	_ = send(t, h.b.noFollow(), "GET", with(cb, url.Values{"code": {"forged"}}), nil)
	var re *oauth2.RetrieveError
	if !errors.As(got, &pe) || pe.Status != 400 || pe.Code != "invalid_grant" || !errors.As(got, &re) {
		t.Fatalf("refused code: %#v", got)
	}
}

func TestCallbackMethod(t *testing.T) {
	h := newHarness(t, setup{})
	if rec := serve(h.m.CallbackHandler(), "POST", "/auth/callback", nil); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET" {
		t.Fatalf("POST: %d %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// TestUnreadableFlowCookie (issue 6.6): a flow cookie that no longer opens
// (a rolling deploy: it was sealed by a replica with a newer key) must not
// be taken for an invalid session: 400, the flow cookie deleted, the
// session kept, and the callback's parameters never put in a return_to.
func TestUnreadableFlowCookie(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.signIn()
	// The sign-in starts on a replica that already seals with a new key...
	newer := h.sibling(oidcsession.WithKeys([]byte(strings.Repeat("n", 32)), []byte(strings.Repeat("c", 32)), hashKey, blockKey))
	rec := serve(newer.LoginHandler(), "GET", "/auth/login?return_to=/app", nil)
	h.b.Jar.SetCookies(mustURL(t, h.app.URL), rec.Result().Cookies())
	cb := h.b.authorize(rec.Header().Get("Location"))
	// ...and comes back to one that only knows the old key.
	r := send(t, h.b.noFollow(), "GET", cb.String(), pageAccept)
	if r.status != http.StatusBadRequest {
		t.Fatalf("callback with an unreadable flow: %d, Location %q", r.status, r.header.Get("Location"))
	}
	flowDeleted := false
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, cookieName+"=") || strings.HasPrefix(c, cookieName+".") {
			t.Fatalf("the session cookie was touched: %s", c)
		}
		flowDeleted = flowDeleted || strings.HasPrefix(c, cookieName+"-flow.") && strings.Contains(c, "Max-Age=0")
	}
	if !flowDeleted || strings.Contains(h.b.cookieHeader(), "-flow.") {
		t.Fatalf("the unreadable flow cookie was not deleted: %v", r.header.Values("Set-Cookie"))
	}
	if who := h.b.me(); who.Subject != "user-1" {
		t.Fatal("the session did not survive")
	}
}

// TestSignInFailuresAreLogged (issue 6.3): an operator must see why
// sign-ins fail, with the failure's class and OAuth error code, and never
// a code, token or secret.
func TestSignInFailuresAreLogged(t *testing.T) {
	tests := []struct {
		name      string
		client    func(*oauth2.Config)
		breakIt   func(h *harness, cb *url.URL) string
		wantClass string
		wantCode  string
		status    int
	}{
		{"wrong client secret", func(c *oauth2.Config) { c.ClientSecret = "not-the-secret" },
			func(_ *harness, cb *url.URL) string { return cb.String() }, "refused", "invalid_client", 400},
		{"refused code", nil, func(_ *harness, cb *url.URL) string { return with(cb, url.Values{"code": {"forged-code"}}) }, "refused", "invalid_grant", 400},
		{"provider down", nil, func(h *harness, cb *url.URL) string { h.op.Close(); return cb.String() }, "unavailable", "", 503},
		{"provider error", nil, func(h *harness, cb *url.URL) string {
			return with(cb, url.Values{"error": {"access_denied"}}, "code")
		}, "authorization", "access_denied", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logRecords{}
			h := newHarness(t, setup{client: tt.client, opts: []oidcsession.Option{oidcsession.WithLogger(slog.New(logs))}})
			cb := h.b.authorize(h.b.startLogin("?return_to=/app").String())
			code := cb.Query().Get("code")
			if r := send(t, h.b.noFollow(), "GET", tt.breakIt(h, cb), pageAccept); r.status != tt.status {
				t.Fatalf("callback: %d %s", r.status, r.body)
			}
			attrs, ok := logs.find(slog.LevelWarn, "sign-in failed")
			if !ok || attrs["class"] != tt.wantClass || attrs["error_code"] != tt.wantCode {
				t.Fatalf("logged %v, want class %q, error_code %q:\n%s", attrs, tt.wantClass, tt.wantCode, logs.text())
			}
			for _, secret := range []string{code, "not-the-secret", h.op.ClientSecret()} {
				if strings.Contains(logs.text(), secret) {
					t.Fatalf("log leaks %q:\n%s", secret, logs.text())
				}
			}
		})
	}
}

// TestClockTolerance (issue 6.5): ID tokens from a provider whose clock is
// off are accepted within the tolerance (default 60 s), at sign-in and at
// refresh, and refused beyond it.
func TestClockTolerance(t *testing.T) {
	tests := []struct {
		name   string
		offset time.Duration // the provider's clock minus ours; its ID tokens live 5 minutes
		opts   []oidcsession.Option
		ok     bool
	}{
		{"in sync", 0, nil, true},
		{"provider 5m30s behind, default tolerance", -(5*time.Minute + 30*time.Second), nil, true},
		{"provider 6m30s behind, default tolerance", -(6*time.Minute + 30*time.Second), nil, false},
		{"provider 6m behind, tolerance 7m", -6 * time.Minute, []oidcsession.Option{oidcsession.WithClockTolerance(7 * time.Minute)}, true},
		{"provider 6m behind, no tolerance", -6 * time.Minute, []oidcsession.Option{oidcsession.WithClockTolerance(0)}, false},
		{"provider 2m ahead (iat in the future), tolerance 3m", 2 * time.Minute, []oidcsession.Option{oidcsession.WithClockTolerance(3 * time.Minute)}, true},
		{"provider 2m ahead (iat in the future), default tolerance", 2 * time.Minute, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{opClockOffset: tt.offset, opts: tt.opts})
			if r := h.b.get("/test/signin", nil); (r.status == 204) != tt.ok {
				t.Fatalf("sign-in: %d %s", r.status, r.body)
			}
			if tt.ok {
				h.clock.Advance(6 * time.Minute)
				h.b.me()
			}
		})
	}
}

// TestUnmatchedCallbackLoggedAtInfo: a callback that matches no sign-in
// in progress (a replay, a stale tab, a probe) is common, so it is logged
// at info, not warn, with its class and without the code it carried.
func TestUnmatchedCallbackLoggedAtInfo(t *testing.T) {
	logs := &logRecords{}
	h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithLogger(slog.New(logs))}})
	r := send(t, h.b.noFollow(), "GET", h.app.URL+"/auth/callback?state=no-such-sign-in&code=probe-code-123", pageAccept)
	if r.status != 400 {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
	if _, warned := logs.find(slog.LevelWarn, "sign-in failed"); warned {
		t.Fatalf("logged at warn:\n%s", logs.text())
	}
	attrs, ok := logs.find(slog.LevelInfo, "sign-in failed")
	if !ok || attrs["class"] != "invalid_callback" || attrs["error_code"] != "" || strings.Contains(logs.text(), "probe-code-123") {
		t.Fatalf("logged %v:\n%s", attrs, logs.text())
	}
}

// TestIDTokenNotBefore: a refreshed ID token whose nbf is ahead of our
// clock is accepted within the clock tolerance and refused beyond it
// (go-oidc's own nbf check, with its fixed 5 minutes, is not used).
func TestIDTokenNotBefore(t *testing.T) {
	tests := []struct {
		name  string
		ahead time.Duration
		opts  []oidcsession.Option
		ok    bool
	}{
		{"nbf 30s ahead, default tolerance", 30 * time.Second, nil, true},
		{"nbf 2m ahead, default tolerance", 2 * time.Minute, nil, false},
		{"nbf 2m ahead, tolerance 3m", 2 * time.Minute, []oidcsession.Option{oidcsession.WithClockTolerance(3 * time.Minute)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{opts: tt.opts})
			h.b.startSession()
			h.clock.Advance(6 * time.Minute)
			h.op.OverrideNextRefreshIDTokenClaims(map[string]any{"nbf": h.clock.Now().Add(tt.ahead).Unix()})
			r := h.b.get("/api/me", nil)
			if r.status == 200 {
				t.Fatalf("an expired token passed try-refresh: %s", r.body)
			}
			r = h.b.post("/auth/refresh", csrf)
			if (r.status == 200) != tt.ok {
				t.Fatalf("refresh with nbf %v ahead: %d %s", tt.ahead, r.status, r.body)
			}
			if !tt.ok && r.json(t)["error"] != "session_expired" {
				t.Fatalf("refused ID token: %s", r.body)
			}
		})
	}
}
