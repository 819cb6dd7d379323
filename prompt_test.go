package oidcsession

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// consentOP is a provider that follows OIDC Core section 11, as
// oidc-provider does: offline_access, and so a refresh token, only with
// prompt=consent.
var consentOP = oidcsessiontest.Config{OfflineAccessRequiresConsent: true}

// hasRefreshToken reports whether b's session (read through the app)
// holds a refresh token.
func (a *loginApp) hasRefreshToken(b *browser) bool {
	a.t.Helper()
	return a.session(b).HasRefreshToken()
}

// TestPromptForInteractiveSignIn (issue 6.2): WithPrompt sets the prompt of
// interactive sign-ins, the fallback after a failed silent attempt
// included, so a provider that wants consent for offline_access issues a
// refresh token.
func TestPromptForInteractiveSignIn(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		a := newLoginApp(t, consentOP, WithPrompt("consent"))
		b := newBrowser(t)
		a.signIn(b)
		if reqs := b.authorizeRequests(); len(reqs) != 1 || reqs[0].Query().Get("prompt") != "consent" {
			t.Fatalf("authorize requests %v", reqs)
		}
		if !a.hasRefreshToken(b) {
			t.Fatal("no refresh token with prompt=consent")
		}
	})
	t.Run("fallback after silent", func(t *testing.T) {
		a := newLoginApp(t, consentOP, WithSilentSignIn(), WithPrompt("consent"))
		b := newBrowser(t)
		a.signIn(b)
		reqs := b.authorizeRequests()
		if len(reqs) != 2 || reqs[0].Query().Get("prompt") != "none" || reqs[1].Query().Get("prompt") != "consent" {
			t.Fatalf("authorize requests %v, want prompt=none then prompt=consent", reqs)
		}
		if !a.hasRefreshToken(b) {
			t.Fatal("no refresh token after the consent fallback")
		}
	})
	t.Run("the URL's prompt wins", func(t *testing.T) {
		a := newLoginApp(t, consentOP, WithPrompt("consent"))
		if got := a.startLogin(newBrowser(t), "?prompt=login").Query().Get("prompt"); got != "login" {
			t.Fatalf("prompt = %q", got)
		}
	})
}

// TestSilentRenewal (issue 6.2): with silent sign-in, a session without a
// refresh token whose access token expired is renewed on a page request by
// a prompt=none round trip, not ended: the old cookie is kept until the
// new session replaces it, and the absolute lifetime still counts from the
// first sign-in.
func TestSilentRenewal(t *testing.T) {
	a := newLoginApp(t, consentOP, WithSilentSignIn())
	a.op.SetLoggedIn(true)
	b := newBrowser(t)
	a.signIn(b)
	if a.hasRefreshToken(b) {
		t.Fatal("prompt=none got a refresh token from a section 11 provider")
	}
	created := a.session(b).CreatedAt()
	a.clock.Advance(6 * time.Minute)

	r := send(t, b.noFollow(), http.MethodGet, a.srv.URL+"/app?x=1", pageAccept, nil)
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || !strings.HasPrefix(loc.String(), a.op.Issuer()+"/authorize") || loc.Query().Get("prompt") != "none" {
		t.Fatalf("expired page: %d to %s, want a prompt=none authorization request", r.status, loc)
	}
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "oidcsession=") {
			t.Fatalf("the session was deleted before its renewal: %s", c)
		}
	}
	page := b.page(t, loc.String())
	if page.status != 200 || page.body != "hello user-1" || page.url.RequestURI() != "/app?x=1" {
		t.Fatalf("renewal ended at %s with %d %q", page.url, page.status, page.body)
	}
	s := a.session(b)
	if !s.CreatedAt().Equal(created) || !s.Expiry().After(a.clock.Now()) {
		t.Fatalf("renewed session created %s (was %s), expiry %s", s.CreatedAt(), created, s.Expiry())
	}
}

// session reads b's session as the app sees it.
func (a *loginApp) session(b *browser) *Session {
	a.t.Helper()
	u, _ := url.Parse(a.srv.URL)
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/", nil)
	for _, c := range b.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	s, err := a.m.store.load(req)
	if err != nil {
		a.t.Fatalf("no session: %v", err)
	}
	return s
}
