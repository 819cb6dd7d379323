package oidcsession_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// TestWholeFlow walks the README's contract end to end: sign in through
// the provider, a Require'd page, inline refresh after expiry, the
// try-refresh contract, and sign-out.
func TestWholeFlow(t *testing.T) {
	h := newHarness(t, setup{})
	b := h.b
	r := b.page("/app")
	if r.status != http.StatusOK || r.who(t).Subject != "user-1" || r.url.Path != "/app" {
		t.Fatalf("after sign-in: %s %d %q", r.url, r.status, r.body)
	}
	if got := len(b.visits("/authorize")); got != 1 {
		t.Fatalf("authorize requests = %d, want 1", got)
	}
	for _, n := range b.cookieNames() {
		if strings.Contains(n, "-flow.") {
			t.Errorf("flow cookie left after sign-in: %v", b.cookieNames())
		}
	}
	h.clock.Advance(6 * time.Minute)
	if r := b.page("/app"); r.status != http.StatusOK || h.stats().Grants["refresh_token"] != 1 {
		t.Fatalf("after expiry: %d, %d grants", r.status, h.stats().Grants["refresh_token"])
	}
	h.clock.Advance(6 * time.Minute)
	if r := b.get("/api/me", jsonAccept); r.status != 401 || r.json(t)["error"] != "try_refresh" {
		t.Fatalf("expired API call: %d %s", r.status, r.body)
	}
	if r := b.refresh(); r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	if r := b.get("/api/me", jsonAccept); r.status != 200 || h.stats().Grants["refresh_token"] != 2 {
		t.Fatalf("retried API call: %d %s", r.status, r.body)
	}
	r = b.post("/auth/logout", http.Header{oidcsession.CSRFHeader: {"1"}, "Accept": pageAccept["Accept"]})
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || !strings.HasPrefix(loc.String(), h.op.Issuer()+"/end_session?") || loc.Query().Get("id_token_hint") == "" || loc.Query().Get("client_id") != h.op.ClientID() {
		t.Fatalf("logout: %d to %s", r.status, loc)
	}
	if h.stats().Revocations != 1 || strings.Contains(b.cookieHeader(), cookieName) {
		t.Fatalf("after sign-out: %d revocations, cookies %v", h.stats().Revocations, b.cookieNames())
	}
	if r := b.page(loc.String()); r.status != http.StatusOK || h.stats().EndSessions != 1 {
		t.Fatalf("end_session: %d", r.status)
	}
	if r := b.get("/api/me", jsonAccept); r.status != 401 || r.json(t)["error"] != "unauthenticated" {
		t.Fatalf("after sign-out: %d %s", r.status, r.body)
	}
}

// TestReturnToThroughSignIn: whatever return_to a link carries, the
// sign-in ends on this site.
func TestReturnToThroughSignIn(t *testing.T) {
	h := newHarness(t, setup{})
	for _, in := range []string{"", "/app", "//evil.com", `/\evil.com`, "https://evil.com", "javascript:alert(1)", "/%2F/evil.com", "/x\r\nLocation: https://evil.com"} {
		t.Run(in, func(t *testing.T) {
			r := h.newBrowser().page("/auth/login?return_to=" + url.QueryEscape(in))
			app, _ := url.Parse(h.app.URL)
			if r.url.Host != app.Host || in != "/app" && r.url.Path != "/" {
				t.Fatalf("sign-in with return_to %q ended at %s", in, r.url)
			}
		})
	}
}

// TestLoginAuthorizationRequest checks what the login handler sends.
func TestLoginAuthorizationRequest(t *testing.T) {
	h := newHarness(t, setup{opts: []oidcsession.Option{
		oidcsession.WithAuthParams(map[string]string{"audience": "https://api.example.com"}),
		oidcsession.WithAuthParams(map[string]string{"acr_values": "mfa"}),
		oidcsession.WithResources("https://orders.example/", "https://billing.example/?a=b&c"),
	}})
	tests := []struct{ name, query, wantPrompt string }{
		{"no prompt", "", ""},
		{"none", "?prompt=none", "none"},
		{"login", "?prompt=login", "login"},
		{"consent", "?prompt=consent", "consent"},
		{"select_account", "?prompt=select_account", "select_account"},
		{"list", "?prompt=login+consent", "login consent"},
		{"none in a list is ignored", "?prompt=none+login", ""},
		{"unknown is ignored", "?prompt=create", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := h.newBrowser().startLogin(tt.query).Query()
			if got := q.Get("prompt"); got != tt.wantPrompt {
				t.Errorf("prompt = %q, want %q", got, tt.wantPrompt)
			}
			if got := q["resource"]; !slices.Equal(got, []string{"https://orders.example/", "https://billing.example/?a=b&c"}) {
				t.Errorf("resource = %q", got)
			}
			for k, want := range map[string]string{
				"response_type": "code", "client_id": h.op.ClientID(), "redirect_uri": h.app.URL + "/auth/callback",
				"code_challenge_method": "S256", "audience": "https://api.example.com", "acr_values": "mfa",
			} {
				if got := q.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			for _, k := range []string{"state", "nonce", "code_challenge"} {
				if len(q.Get(k)) < 26 {
					t.Errorf("%s = %q, want a long random value", k, q.Get(k))
				}
			}
			if q.Get("state") == q.Get("nonce") {
				t.Error("state and nonce are equal")
			}
		})
	}
	if rec := serve(h.m.LoginHandler(), "POST", "/auth/login", nil); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /auth/login: %d %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// TestFlowCookies checks the flow cookie's attributes, that two tabs can
// sign in at once, and (issue 6.9) that however many sign-ins a browser
// starts, with however long a return_to, its flow cookies stay within 4
// and 3 KB, the oldest giving way, the newest still completing.
func TestFlowCookies(t *testing.T) {
	h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithSameSite(http.SameSiteStrictMode)}})
	t.Run("attributes", func(t *testing.T) {
		r := h.newBrowser().get("/auth/login", nil)
		sc := r.header.Values("Set-Cookie")
		if len(sc) != 1 || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Set-Cookie = %q", sc)
		}
		for _, want := range []string{cookieName + "-flow.", "; Path=/", "; Max-Age=600", "; HttpOnly", "; Secure", "; SameSite=Lax"} {
			if !strings.Contains(sc[0], want) {
				t.Errorf("flow cookie %q lacks %q", sc[0], want)
			}
		}
	})
	t.Run("bounded", func(t *testing.T) {
		b := h.newBrowser()
		var first, last string
		for i := range 8 {
			u := b.startLogin("?return_to=/" + strings.Repeat("p", 500-i))
			if i == 0 {
				first = u.String()
			}
			last = u.String()
			h.clock.Advance(time.Second)
			n, total := 0, 0
			for _, c := range b.Jar.Cookies(mustURL(t, h.app.URL)) {
				if strings.Contains(c.Name, "-flow.") {
					n, total = n+1, total+len(c.Name)+1+len(c.Value)
				}
			}
			if n > 4 || total > 3072 {
				t.Fatalf("after %d sign-ins: %d flow cookies, %d bytes", i+1, n, total)
			}
		}
		if r := send(t, b.noFollow(), "GET", b.authorize(last).String(), nil); r.status != http.StatusSeeOther {
			t.Fatalf("newest flow: %d %s", r.status, r.body)
		}
		if r := send(t, b.noFollow(), "GET", b.authorize(first).String(), jsonAccept); r.status != http.StatusBadRequest {
			t.Fatalf("oldest flow: %d %s", r.status, r.body)
		}
	})
	t.Run("two tabs", func(t *testing.T) {
		b := h.newBrowser()
		u1, u2 := b.startLogin("?return_to=/one"), b.startLogin("?return_to=/two")
		cb2, cb1 := b.authorize(u2.String()), b.authorize(u1.String())
		for cb, want := range map[string]string{cb1.String(): "/one", cb2.String(): "/two"} {
			if r := send(t, b.noFollow(), "GET", cb, nil); r.status != http.StatusSeeOther || r.header.Get("Location") != want {
				t.Fatalf("tab %s: %d %q", want, r.status, r.header.Get("Location"))
			}
		}
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSilentSignIn(t *testing.T) {
	t.Run("provider session", func(t *testing.T) {
		h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithSilentSignIn()}})
		h.op.SetLoggedIn(true)
		h.b.signIn()
		if reqs := h.b.visits("/authorize"); len(reqs) != 1 || reqs[0].Query().Get("prompt") != "none" {
			t.Fatalf("authorize requests = %v, want one with prompt=none", reqs)
		}
	})
	t.Run("no provider session", func(t *testing.T) {
		h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithSilentSignIn()}})
		h.b.signIn()
		reqs := h.b.visits("/authorize")
		if len(reqs) != 2 || reqs[0].Query().Get("prompt") != "none" || reqs[1].Query().Has("prompt") || len(h.b.visits("/auth/callback")) != 2 {
			t.Fatalf("authorize requests = %v, want prompt=none then interactive", reqs)
		}
		h.b.forget()
		h.b.signIn() // the provider session now exists: silent
		if reqs := h.b.visits("/authorize"); len(reqs) != 1 || reqs[0].Query().Get("prompt") != "none" {
			t.Fatalf("second sign-in: %v", reqs)
		}
	})
	t.Run("fallback fails: no loop", func(t *testing.T) {
		h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithSilentSignIn()}})
		b := h.b
		cb := b.authorize(b.startLogin("").String())
		if cb.Query().Get("error") != "login_required" {
			t.Fatalf("silent attempt answered %v", cb.Query())
		}
		r := send(t, b.noFollow(), "GET", cb.String(), pageAccept)
		fallback, _ := url.Parse(r.header.Get("Location"))
		if r.status != http.StatusFound || fallback.Query().Has("prompt") {
			t.Fatalf("fallback: %d %s", r.status, fallback)
		}
		q := url.Values{"state": {fallback.Query().Get("state")}, "error": {"login_required"}, "iss": {h.op.Issuer()}}
		r = send(t, b.noFollow(), "GET", h.app.URL+"/auth/callback?"+q.Encode(), pageAccept)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Sign-in failed") {
			t.Fatalf("failed fallback: %d %s", r.status, r.body)
		}
	})
}

// consentOP follows OIDC Core section 11, as oidc-provider does:
// offline_access, and so a refresh token, only with prompt=consent.
var consentOP = oidcsessiontest.Config{OfflineAccessRequiresConsent: true}

// TestPromptForInteractiveSignIn (issue 6.2): WithPrompt sets the prompt of
// interactive sign-ins, the fallback after a failed silent attempt
// included, so a provider that wants consent for offline_access issues a
// refresh token.
func TestPromptForInteractiveSignIn(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		h := newHarness(t, setup{op: consentOP, opts: []oidcsession.Option{oidcsession.WithPrompt("consent")}})
		h.b.signIn()
		if reqs := h.b.visits("/authorize"); len(reqs) != 1 || reqs[0].Query().Get("prompt") != "consent" || !h.b.me().HasRefreshToken {
			t.Fatalf("authorize requests %v", reqs)
		}
	})
	t.Run("fallback after silent", func(t *testing.T) {
		h := newHarness(t, setup{op: consentOP, opts: []oidcsession.Option{oidcsession.WithSilentSignIn(), oidcsession.WithPrompt("consent")}})
		h.b.signIn()
		reqs := h.b.visits("/authorize")
		if len(reqs) != 2 || reqs[0].Query().Get("prompt") != "none" || reqs[1].Query().Get("prompt") != "consent" || !h.b.me().HasRefreshToken {
			t.Fatalf("authorize requests %v, want prompt=none then prompt=consent", reqs)
		}
	})
	t.Run("the URL's prompt wins", func(t *testing.T) {
		h := newHarness(t, setup{op: consentOP, opts: []oidcsession.Option{oidcsession.WithPrompt("consent")}})
		if got := h.b.startLogin("?prompt=login").Query().Get("prompt"); got != "login" {
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
	h := newHarness(t, setup{op: consentOP, opts: []oidcsession.Option{oidcsession.WithSilentSignIn()}})
	h.op.SetLoggedIn(true)
	h.b.signIn()
	before := h.b.me()
	if before.HasRefreshToken {
		t.Fatal("prompt=none got a refresh token from a section 11 provider")
	}
	h.clock.Advance(6 * time.Minute)
	r := h.b.get("/app?x=1", pageAccept)
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || !strings.HasPrefix(loc.String(), h.op.Issuer()+"/authorize") || loc.Query().Get("prompt") != "none" {
		t.Fatalf("expired page: %d to %s, want a prompt=none authorization request", r.status, loc)
	}
	if len(setCookies(r, cookieName+"=")) != 0 {
		t.Fatalf("the session was deleted before its renewal: %v", r.header.Values("Set-Cookie"))
	}
	page := h.b.page(loc.String())
	if page.status != 200 || page.url.RequestURI() != "/app?x=1" {
		t.Fatalf("renewal ended at %s with %d %q", page.url, page.status, page.body)
	}
	after := page.who(t)
	if after.CreatedAt != before.CreatedAt || after.AccessToken == before.AccessToken {
		t.Fatalf("renewed session: created %s (was %s)", after.CreatedAt, before.CreatedAt)
	}
}
