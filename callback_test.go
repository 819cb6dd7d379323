package oidcsession

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
	"golang.org/x/oauth2"
)

// sessionSet reports whether a response wrote a session cookie.
func sessionSet(r flowResp) bool {
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "oidcsession=") || strings.HasPrefix(c, "oidcsession.0=") {
			if !strings.Contains(c, "Max-Age=0") {
				return true
			}
		}
	}
	return false
}

// TestCallbackRefusals checks that every callback that does not complete
// a flow this browser started gets a clear 4xx and no session.
func TestCallbackRefusals(t *testing.T) {
	a := newLoginApp(t, oidcsessiontest.Config{})
	// prepared returns a browser with a flow in progress and the callback
	// URL the provider sent it to.
	prepared := func(t *testing.T) (*browser, *url.URL) {
		b := newBrowser(t)
		return b, a.authorize(b, a.startLogin(b, "?return_to=/app").String())
	}
	with := func(u *url.URL, set url.Values, del ...string) string {
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
	tests := []struct {
		name       string
		call       func(t *testing.T) (*browser, string)
		wantStatus int
		wantCode   string
		wantText   string
	}{
		{"state mismatch", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			return b, with(cb, url.Values{"state": {"ZZZZZZZZZZZZZZZZZZZZZZZZZZ"}})
		}, 400, "invalid_request", "no sign-in is in progress"},
		{"state with the same prefix", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			s := cb.Query().Get("state")
			return b, with(cb, url.Values{"state": {s[:flowIDLen] + strings.Repeat("A", len(s)-flowIDLen)}})
		}, 400, "invalid_request", "state parameter does not match"},
		{"state missing", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			return b, with(cb, nil, "state")
		}, 400, "invalid_request", "state parameter is missing"},
		{"state repeated", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			return b, cb.String() + "&state=x"
		}, 400, "invalid_request", "state parameter is missing or repeated"},
		{"missing flow cookie", func(t *testing.T) (*browser, string) {
			_, cb := prepared(t)
			return newBrowser(t), cb.String()
		}, 400, "invalid_request", "began in another browser"},
		{"expired flow", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			a.clock.Advance(flowLifetime + time.Second)
			return b, cb.String()
		}, 400, "invalid_request", "took longer than"},
		{"iss mismatch", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			return b, with(cb, url.Values{"iss": {"https://evil.example"}})
		}, 400, "invalid_request", "iss parameter does not name this provider"},
		{"iss missing", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			return b, with(cb, nil, "iss")
		}, 400, "invalid_request", "iss parameter is missing"},
		{"code missing", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			return b, with(cb, nil, "code")
		}, 400, "invalid_request", "code parameter is missing"},
		{"code not ours", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			return b, with(cb, url.Values{"code": {"forged"}})
		}, 400, "invalid_request", "refused the authorization code (invalid_grant)"},
		{"access_denied", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			return b, with(cb, url.Values{"error": {"access_denied"}, "error_description": {"<script>alert(1)</script> call 555"}}, "code")
		}, 403, "access_denied", "refused the sign-in (access_denied)"},
		{"provider error with junk code", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			return b, with(cb, url.Values{"error": {"<b>pwned</b>"}}, "code")
		}, 400, "invalid_request", "refused the sign-in (invalid_request)"},
		{"login_required without silent sign-in", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			return b, with(cb, url.Values{"error": {"login_required"}}, "code")
		}, 401, "login_required", "login_required"},
		{"temporarily_unavailable", func(t *testing.T) (*browser, string) {
			b, cb := prepared(t)
			return b, with(cb, url.Values{"error": {"temporarily_unavailable"}}, "code")
		}, 503, "temporarily_unavailable", "temporarily_unavailable"},
	}
	for _, tt := range tests {
		for _, accept := range []string{"application/json", pageAccept} {
			t.Run(tt.name+"/"+strings.Split(accept, ",")[0], func(t *testing.T) {
				b, target := tt.call(t)
				r := send(t, b.noFollow(), http.MethodGet, target, accept, nil)
				if r.status != tt.wantStatus {
					t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.body)
				}
				if sessionSet(r) {
					t.Fatal("a failed callback wrote a session cookie")
				}
				if r.header.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
				}
				if accept == "application/json" {
					body := r.json(t)
					if body["error"] != tt.wantCode || !strings.Contains(body["error_description"].(string), tt.wantText) {
						t.Fatalf("body %s, want error %s mentioning %q", r.body, tt.wantCode, tt.wantText)
					}
				} else {
					if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, "Sign-in failed") || !strings.Contains(r.body, `href="/auth/login"`) {
						t.Fatalf("page %q", r.body)
					}
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
	a := newLoginApp(t, oidcsessiontest.Config{})
	b := newBrowser(t)
	authURL := a.startLogin(b, "?return_to=/app")
	appURL, _ := url.Parse(a.srv.URL)
	flowCookies := b.Jar.Cookies(appURL)
	cb := a.authorize(b, authURL.String())
	if r := b.page(t, cb.String()); r.status != http.StatusOK || r.body != "hello user-1" {
		t.Fatalf("first callback: %d %q", r.status, r.body)
	}
	t.Run("flow cookie gone", func(t *testing.T) {
		r := send(t, b.noFollow(), http.MethodGet, cb.String(), "application/json", nil)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "already completed") {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
	})
	t.Run("flow cookie restored", func(t *testing.T) {
		b.Jar.SetCookies(appURL, flowCookies)
		r := send(t, b.noFollow(), http.MethodGet, cb.String(), "application/json", nil)
		if r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_request" || sessionSet(r) {
			t.Fatalf("replay with cookie: %d %s", r.status, r.body)
		}
	})
	if got := a.op.SuccessfulGrants("authorization_code"); got != 1 {
		t.Fatalf("successful code grants = %d, want 1", got)
	}
}

// TestCallbackWrongNonce plants a flow whose nonce the provider never saw:
// the ID token carries another nonce and the sign-in is refused.
func TestCallbackWrongNonce(t *testing.T) {
	a := newLoginApp(t, oidcsessiontest.Config{})
	b := newBrowser(t)
	f := newFlow("/app", "", false, false, a.clock.Now())
	name, _ := a.m.flowCookieName(f.state)
	value, err := a.m.flowSealer().seal(name, f.encode())
	if err != nil {
		t.Fatal(err)
	}
	appURL, _ := url.Parse(a.srv.URL)
	b.Jar.SetCookies(appURL, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
	authURL := a.m.oauth.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier), oauth2.SetAuthURLParam("nonce", "someone-elses-nonce"))
	cb := a.authorize(b, authURL)
	r := send(t, b.noFollow(), http.MethodGet, cb.String(), "application/json", nil)
	if r.status != http.StatusBadRequest || !strings.Contains(r.json(t)["error_description"].(string), "nonce") || sessionSet(r) {
		t.Fatalf("wrong nonce: %d %s", r.status, r.body)
	}
}

// TestCallbackErrorsAreInspectable checks errors reach a custom handler
// as data: sentinels and *AuthorizationError, with no provider text.
func TestCallbackErrorsAreInspectable(t *testing.T) {
	var got error
	a := newLoginApp(t, oidcsessiontest.Config{}, WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	}))
	b := newBrowser(t)
	cb := a.authorize(b, a.startLogin(b, "").String())
	q := cb.Query()
	q.Del("code")
	q.Set("error", "access_denied")
	q.Set("error_description", "secret-ish text")
	if r := send(t, b.noFollow(), http.MethodGet, a.srv.URL+"/auth/callback?"+q.Encode(), "", nil); r.status != http.StatusTeapot {
		t.Fatalf("status %d", r.status)
	}
	var ae *AuthorizationError
	if !errors.Is(got, ErrAuthorizationFailed) || !errors.As(got, &ae) || ae.Code != "access_denied" || ae.Description != "secret-ish text" {
		t.Fatalf("error %#v", got)
	}
	if strings.Contains(got.Error(), "secret-ish") {
		t.Fatalf("error string carries the description: %v", got)
	}
	if r := send(t, b.noFollow(), http.MethodGet, a.srv.URL+"/auth/callback?"+q.Encode(), "", nil); r.status != http.StatusTeapot || !errors.Is(got, ErrInvalidCallback) {
		t.Fatalf("replay: %d %v", r.status, got)
	}
}

// TestCallbackMethod checks the callback only answers GET.
func TestCallbackMethod(t *testing.T) {
	a := newLoginApp(t, oidcsessiontest.Config{})
	r := send(t, http.DefaultClient, http.MethodPost, a.srv.URL+"/auth/callback", "", nil)
	if r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", r.status)
	}
}
