package oidcsession

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// failPath is a transport that fails requests to one path and passes the
// rest to http.DefaultTransport.
type failPath string

func (p failPath) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == string(p) {
		return nil, errors.New("injected network failure")
	}
	return http.DefaultTransport.RoundTrip(req)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sessionOf returns the session b holds at the app.
func (a *loginApp) sessionOf(b *browser) *Session {
	a.t.Helper()
	u, _ := url.Parse(a.srv.URL)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range b.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	s, err := a.m.store.load(req)
	if err != nil {
		a.t.Fatalf("no session: %v", err)
	}
	return s
}

func TestLogout(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		a := newLoginApp(t, oidcsessiontest.Config{}, WithPostLogoutRedirectURL("http://app.example/bye"))
		b := newBrowser(t)
		a.signIn(b)
		r := send(t, b.Client, http.MethodPost, a.srv.URL+"/auth/logout", "application/json", csrfHeader)
		if r.status != http.StatusOK {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
		to, _ := url.Parse(r.json(t)["redirect_to"].(string))
		q := to.Query()
		if to.Path != "/end_session" || q.Get("post_logout_redirect_uri") != "http://app.example/bye" || q.Get("id_token_hint") == "" || q.Get("client_id") != a.op.ClientID() {
			t.Fatalf("redirect_to %s", to)
		}
		if a.op.Revocations() != 1 || a.hasCookie(b, "oidcsession") {
			t.Fatalf("revocations %d, cookies %v", a.op.Revocations(), a.cookieNames(b))
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
		}
	})
	t.Run("provider sends the browser back", func(t *testing.T) {
		// a is only the landing page after the provider's logout.
		a := newLoginApp(t, oidcsessiontest.Config{})
		a2 := newLoginApp(t, oidcsessiontest.Config{}, WithPostLogoutRedirectURL(a.srv.URL+"/"))
		b := newBrowser(t)
		a2.signIn(b)
		r := send(t, b.Client, http.MethodPost, a2.srv.URL+"/auth/logout", pageAccept, csrfHeader)
		if r.status != http.StatusOK || r.body != "home" || a2.op.EndSessions() != 1 {
			t.Fatalf("after logout at %s: %d %q", r.url, r.status, r.body)
		}
		// The app session is gone.
		if r := send(t, b.Client, http.MethodGet, a2.srv.URL+"/api/me", "application/json", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("after logout: %d", r.status)
		}
	})
	t.Run("no session", func(t *testing.T) {
		a := newLoginApp(t, oidcsessiontest.Config{})
		b := newBrowser(t)
		a.startLogin(b, "") // a flow cookie to clear
		r := send(t, b.noFollow(), http.MethodPost, a.srv.URL+"/auth/logout", pageAccept, csrfHeader)
		loc, _ := url.Parse(r.header.Get("Location"))
		if r.status != http.StatusSeeOther || loc.Path != "/end_session" || loc.Query().Has("id_token_hint") {
			t.Fatalf("logout: %d %s", r.status, loc)
		}
		if a.op.Revocations() != 0 || a.hasCookie(b, "oidcsession") {
			t.Fatalf("revocations %d, cookies %v", a.op.Revocations(), a.cookieNames(b))
		}
	})
	t.Run("provider without revocation or end_session", func(t *testing.T) {
		for _, tt := range []struct{ name, after, want string }{
			{"default", "", "/"},
			{"configured", "https://app.example/bye", "https://app.example/bye"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				var opts []Option
				if tt.after != "" {
					opts = append(opts, WithPostLogoutRedirectURL(tt.after))
				}
				a := newLoginApp(t, oidcsessiontest.Config{DisableRevocation: true, DisableEndSession: true}, opts...)
				b := newBrowser(t)
				a.signIn(b)
				r := send(t, b.noFollow(), http.MethodPost, a.srv.URL+"/auth/logout", pageAccept, csrfHeader)
				if r.status != http.StatusSeeOther || r.header.Get("Location") != tt.want || a.hasCookie(b, "oidcsession") {
					t.Fatalf("logout: %d %q %v", r.status, r.header.Get("Location"), a.cookieNames(b))
				}
			})
		}
	})
	t.Run("csrf", func(t *testing.T) {
		a := newLoginApp(t, oidcsessiontest.Config{})
		b := newBrowser(t)
		a.signIn(b)
		h := a.m.LogoutHandler()
		for _, tt := range []struct {
			name   string
			method string
			hdr    http.Header
			want   int
		}{
			{"GET", http.MethodGet, csrfHeader, http.StatusMethodNotAllowed},
			{"no header", http.MethodPost, nil, http.StatusForbidden},
			{"cross-site", http.MethodPost, http.Header{RefreshHeader: {"1"}, "Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		} {
			t.Run(tt.name, func(t *testing.T) {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(tt.method, "/auth/logout", nil)
				for k, v := range tt.hdr {
					req.Header[k] = v
				}
				h.ServeHTTP(rec, req)
				if rec.Code != tt.want || len(rec.Header().Values("Set-Cookie")) != 0 {
					t.Fatalf("%d %v", rec.Code, rec.Header())
				}
			})
		}
		if a.op.Revocations() != 0 {
			t.Fatal("a refused logout revoked the token")
		}
	})
	t.Run("revocation failure", func(t *testing.T) {
		logs := &syncBuffer{}
		a := newLoginApp(t, oidcsessiontest.Config{},
			WithHTTPClient(&http.Client{Transport: failPath("/revoke")}),
			WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
		b := newBrowser(t)
		a.signIn(b)
		rt := a.sessionOf(b).refreshToken
		r := send(t, b.noFollow(), http.MethodPost, a.srv.URL+"/auth/logout", pageAccept, csrfHeader)
		if r.status != http.StatusSeeOther || a.hasCookie(b, "oidcsession") {
			t.Fatalf("logout: %d %v", r.status, a.cookieNames(b))
		}
		if !strings.Contains(logs.String(), "revocation at sign-out failed") || strings.Contains(logs.String(), rt) {
			t.Fatalf("log: %s", logs)
		}
	})
	t.Run("client_secret_post", func(t *testing.T) {
		logs := &syncBuffer{}
		a := newLoginApp(t, oidcsessiontest.Config{TokenEndpointAuthMethods: []string{"client_secret_post"}},
			WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
		b := newBrowser(t)
		a.signIn(b)
		send(t, b.noFollow(), http.MethodPost, a.srv.URL+"/auth/logout", pageAccept, csrfHeader)
		if !strings.Contains(logs.String(), "signed out") || strings.Contains(logs.String(), "failed") {
			t.Fatalf("log: %s", logs)
		}
	})
}

func TestPrefersJSON(t *testing.T) {
	for _, tt := range []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"application/json", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false},
		{"application/json, text/plain, */*", true},
		{"text/html;q=0.5, application/json", true},
		{"application/json;q=0.5, text/html", false},
		{"application/json;q=0", false},
		{"*/*", false},
	} {
		t.Run(tt.accept, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Header.Set("Accept", tt.accept)
			if got := prefersJSON(r); got != tt.want {
				t.Fatalf("prefersJSON(%q) = %v", tt.accept, got)
			}
		})
	}
}
