package oidcsession_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// logoutAs is the logout POST with an Accept header.
func logoutAs(accept string) http.Header {
	return http.Header{oidcsession.CSRFHeader: {"1"}, "Accept": {accept}}
}

func TestLogout(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithPostLogoutRedirectURL("http://app.example/bye")}})
		h.b.signIn()
		r := h.b.post("/auth/logout", csrf)
		to, _ := url.Parse(r.json(t)["redirect_to"].(string))
		q := to.Query()
		if r.status != 200 || to.Path != "/end_session" || q.Get("post_logout_redirect_uri") != "http://app.example/bye" || q.Get("id_token_hint") == "" || q.Get("client_id") != h.op.ClientID() {
			t.Fatalf("%d redirect_to %s", r.status, to)
		}
		if h.stats().Revocations != 1 || strings.Contains(h.b.cookieHeader(), cookieName) || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("revocations %d, cookies %q, Cache-Control %q", h.stats().Revocations, h.b.cookieHeader(), r.header.Get("Cache-Control"))
		}
	})
	t.Run("provider sends the browser back", func(t *testing.T) {
		h := newHarness(t, setup{})
		h2 := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithPostLogoutRedirectURL(h.app.URL + "/")}})
		h2.b.signIn()
		r := send(t, h2.b.Client, "POST", h2.app.URL+"/auth/logout", logoutAs(pageAccept.Get("Accept")))
		if r.status != 200 || r.body != "home" || h2.stats().EndSessions != 1 {
			t.Fatalf("after logout at %s: %d %q", r.url, r.status, r.body)
		}
		if r := h2.b.get("/api/me", nil); r.status != 401 {
			t.Fatalf("after logout: %d", r.status)
		}
	})
	t.Run("no session", func(t *testing.T) {
		h := newHarness(t, setup{})
		h.b.startLogin("") // a flow cookie to clear
		r := h.b.post("/auth/logout", logoutAs("text/html"))
		loc, _ := url.Parse(r.header.Get("Location"))
		if r.status != http.StatusSeeOther || loc.Path != "/end_session" || loc.Query().Has("id_token_hint") {
			t.Fatalf("logout: %d %s", r.status, loc)
		}
		if h.stats().Revocations != 0 || strings.Contains(h.b.cookieHeader(), cookieName) {
			t.Fatalf("revocations %d, cookies %q", h.stats().Revocations, h.b.cookieHeader())
		}
	})
	t.Run("provider without revocation or end_session", func(t *testing.T) {
		for _, tt := range []struct{ name, after, want string }{{"default", "", "/"}, {"configured", "https://app.example/bye", "https://app.example/bye"}} {
			t.Run(tt.name, func(t *testing.T) {
				var opts []oidcsession.Option
				if tt.after != "" {
					opts = append(opts, oidcsession.WithPostLogoutRedirectURL(tt.after))
				}
				h := newHarness(t, setup{op: oidcsessiontest.Config{DisableRevocation: true, DisableEndSession: true}, opts: opts})
				h.b.signIn()
				if r := h.b.post("/auth/logout", logoutAs("text/html")); r.status != http.StatusSeeOther || r.header.Get("Location") != tt.want || strings.Contains(h.b.cookieHeader(), cookieName) {
					t.Fatalf("logout: %d %q %q", r.status, r.header.Get("Location"), h.b.cookieHeader())
				}
			})
		}
	})
	t.Run("csrf", func(t *testing.T) {
		h := newHarness(t, setup{})
		h.b.signIn()
		for _, tt := range []struct {
			name   string
			method string
			hdr    http.Header
			want   int
		}{
			{"GET", http.MethodGet, csrf, http.StatusMethodNotAllowed},
			{"no header", http.MethodPost, nil, http.StatusForbidden},
			{"cross-site", http.MethodPost, http.Header{oidcsession.CSRFHeader: {"1"}, "Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if r := send(t, h.b.noFollow(), tt.method, h.app.URL+"/auth/logout", tt.hdr); r.status != tt.want || len(r.header.Values("Set-Cookie")) != 0 {
					t.Fatalf("%d %v", r.status, r.header)
				}
			})
		}
		if h.stats().Revocations != 0 {
			t.Fatal("a refused logout revoked the token")
		}
	})
	t.Run("revocation failure", func(t *testing.T) {
		logs := &logRecords{}
		tr := &failRevocation{}
		h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithHTTPClient(&http.Client{Transport: tr}), oidcsession.WithLogger(slog.New(logs))}})
		h.b.signIn()
		if r := h.b.post("/auth/logout", logoutAs("text/html")); r.status != http.StatusSeeOther || strings.Contains(h.b.cookieHeader(), cookieName) {
			t.Fatalf("logout: %d %q", r.status, h.b.cookieHeader())
		}
		if _, ok := logs.find(slog.LevelWarn, "revocation failed"); !ok || tr.token() == "" || strings.Contains(logs.text(), tr.token()) {
			t.Fatalf("log: %s", logs.text())
		}
	})
	t.Run("prefers JSON", func(t *testing.T) {
		h := newHarness(t, setup{})
		for accept, wantJSON := range map[string]bool{
			"": false, "application/json": true, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": false,
			"application/json, text/plain, */*": true, "text/html;q=0.5, application/json": true,
			"application/json;q=0.5, text/html": false, "application/json;q=0": false, "*/*": false,
		} {
			if r := h.b.post("/auth/logout", logoutAs(accept)); (r.status == 200) != wantJSON {
				t.Errorf("Accept %q: %d", accept, r.status)
			}
		}
	})
}

// failRevocation fails requests to /revoke, remembering the token they
// carried, and passes the rest on.
type failRevocation struct {
	mu  sync.Mutex
	tok string
}

func (f *failRevocation) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == "/revoke" {
		b, _ := io.ReadAll(req.Body)
		q, _ := url.ParseQuery(string(b))
		f.mu.Lock()
		f.tok = q.Get("token")
		f.mu.Unlock()
		return nil, errors.New("injected network failure")
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (f *failRevocation) token() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tok
}
