package oidcsession

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// TestSignInFailuresAreLogged (issue 6.3): an operator must see why
// sign-ins fail, with the failure's class and OAuth error code, and never
// a code, token or secret.
func TestSignInFailuresAreLogged(t *testing.T) {
	tests := []struct {
		name      string
		client    func(*oauth2.Config)
		breakIt   func(a *loginApp, cb *url.URL) string // returns the callback URL to call
		wantClass string
		wantCode  string
		status    int
	}{
		{"wrong client secret", func(c *oauth2.Config) { c.ClientSecret = "not-the-secret" },
			func(_ *loginApp, cb *url.URL) string { return cb.String() }, "refused", "invalid_client", 400},
		{"refused code", nil, func(_ *loginApp, cb *url.URL) string {
			q := cb.Query()
			q.Set("code", "forged-code")
			u := *cb
			u.RawQuery = q.Encode()
			return u.String()
		}, "refused", "invalid_grant", 400},
		{"provider down", nil, func(a *loginApp, cb *url.URL) string {
			a.op.Close()
			return cb.String()
		}, "unavailable", "", 503},
		{"provider error", nil, func(a *loginApp, cb *url.URL) string {
			q := url.Values{"state": {cb.Query().Get("state")}, "error": {"access_denied"}, "iss": {a.op.Issuer()}}
			return a.srv.URL + "/auth/callback?" + q.Encode()
		}, "authorization", "access_denied", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logRecords{}
			a := newLoginAppWith(t, oidcsessiontest.Config{}, tt.client, WithLogger(slog.New(logs)))
			b := newBrowser(t)
			cb := a.authorize(b, a.startLogin(b, "?return_to=/app").String())
			code := cb.Query().Get("code")
			r := send(t, b.noFollow(), http.MethodGet, tt.breakIt(a, cb), pageAccept, nil)
			if r.status != tt.status {
				t.Fatalf("callback: %d %s", r.status, r.body)
			}
			attrs, ok := logs.find(slog.LevelWarn, "sign-in failed")
			if !ok {
				t.Fatalf("nothing logged at warn:\n%s", logs.text())
			}
			if attrs["class"] != tt.wantClass || attrs["error_code"] != tt.wantCode {
				t.Fatalf("logged %v, want class %q, error_code %q", attrs, tt.wantClass, tt.wantCode)
			}
			for _, secret := range []string{code, "not-the-secret", a.op.ClientSecret()} {
				if strings.Contains(logs.text(), secret) {
					t.Fatalf("log leaks %q:\n%s", secret, logs.text())
				}
			}
		})
	}
}

// TestUnreadableFlowCookie (issue 6.6): a flow cookie that no longer opens
// (a rolling deploy: it was sealed by a replica with a newer key) must not
// be taken for an invalid session: 400, the flow cookie deleted, the
// session kept, and the callback's parameters never put in a return_to.
func TestUnreadableFlowCookie(t *testing.T) {
	oldHash, oldBlock := []byte(strings.Repeat("o", 32)), []byte(strings.Repeat("b", 32))
	newHash, newBlock := []byte(strings.Repeat("n", 32)), []byte(strings.Repeat("c", 32))
	a := newLoginApp(t, oidcsessiontest.Config{}, WithKeys(oldHash, oldBlock))
	b := newBrowser(t)
	a.signIn(b)

	// The sign-in starts on a replica that already seals with the new key...
	newer, err := New(a.m.provider, a.m.oauth, WithKeys(newHash, newBlock, oldHash, oldBlock), WithInsecureCookies(), WithClock(a.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	login := httptestServer(t, newer.LoginHandler())
	r := send(t, b.noFollow(), http.MethodGet, login+"/auth/login?return_to=/app", pageAccept, nil)
	if r.status != http.StatusFound {
		t.Fatalf("login: %d", r.status)
	}
	setCookiesFor(t, b, a.srv.URL, r.header)
	cb := a.authorize(b, r.header.Get("Location"))

	// ...and returns to one that only knows the old key.
	r = send(t, b.noFollow(), http.MethodGet, cb.String(), pageAccept, nil)
	if r.status != http.StatusBadRequest {
		t.Fatalf("callback with an unreadable flow: %d, Location %q", r.status, r.header.Get("Location"))
	}
	var flowDeleted bool
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "oidcsession=") || strings.HasPrefix(c, "oidcsession.") {
			t.Fatalf("the session cookie was touched: %s", c)
		}
		flowDeleted = flowDeleted || strings.HasPrefix(c, "oidcsession-flow.") && strings.Contains(c, "Max-Age=0")
	}
	if !flowDeleted {
		t.Fatalf("the unreadable flow cookie was not deleted: %v", r.header.Values("Set-Cookie"))
	}
	if a.hasCookie(b, "oidcsession-flow.") {
		t.Fatal("the browser still holds the flow cookie")
	}
	if page := b.page(t, a.srv.URL+"/app"); page.status != 200 || page.body != "hello user-1" {
		t.Fatalf("the session did not survive: %d %q", page.status, page.body)
	}
}
