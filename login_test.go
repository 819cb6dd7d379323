package oidcsession

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// TestWholeFlow walks the README's contract end to end: sign in through
// the provider, a Require'd page, inline refresh after expiry, the
// try-refresh contract, and sign-out.
func TestWholeFlow(t *testing.T) {
	a := newLoginApp(t, oidcsessiontest.Config{})
	b := newBrowser(t)

	// An unauthenticated page visit goes through the provider and back.
	r := b.page(t, a.srv.URL+"/app")
	if r.status != http.StatusOK || r.body != "hello user-1" || r.url.Path != "/app" {
		t.Fatalf("after sign-in: %s %d %q", r.url, r.status, r.body)
	}
	if got := len(b.authorizeRequests()); got != 1 {
		t.Fatalf("authorize requests = %d, want 1", got)
	}
	if a.hasCookie(b, "oidcsession-flow.") {
		t.Errorf("flow cookie left after sign-in: %v", a.cookieNames(b))
	}

	// Past expiry, the page refreshes inline.
	a.clock.Advance(6 * time.Minute)
	if r := b.page(t, a.srv.URL+"/app"); r.status != http.StatusOK || r.body != "hello user-1" {
		t.Fatalf("after expiry: %d %q", r.status, r.body)
	}
	if got := a.op.Grants("refresh_token"); got != 1 {
		t.Fatalf("refresh grants = %d, want 1", got)
	}

	// The try-refresh route: 401, refresh, retry.
	a.clock.Advance(6 * time.Minute)
	r = send(t, b.Client, http.MethodGet, a.srv.URL+"/api/me", "application/json", nil)
	if r.status != http.StatusUnauthorized || r.json(t)["error"] != "try_refresh" {
		t.Fatalf("expired API call: %d %s", r.status, r.body)
	}
	r = send(t, b.Client, http.MethodPost, a.srv.URL+"/auth/refresh", "application/json", csrfHeader)
	if r.status != http.StatusOK || r.json(t)["expires_at"] == nil {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	r = send(t, b.Client, http.MethodGet, a.srv.URL+"/api/me", "application/json", nil)
	if r.status != http.StatusOK || r.json(t)["sub"] != "user-1" {
		t.Fatalf("retried API call: %d %s", r.status, r.body)
	}
	if got := a.op.Grants("refresh_token"); got != 2 {
		t.Fatalf("refresh grants = %d, want 2", got)
	}

	// Sign out: revoked, cookies gone, off to end_session.
	r = send(t, b.noFollow(), http.MethodPost, a.srv.URL+"/auth/logout", pageAccept, csrfHeader)
	if r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	loc, _ := url.Parse(r.header.Get("Location"))
	if !strings.HasPrefix(loc.String(), a.op.Issuer()+"/end_session?") || loc.Query().Get("id_token_hint") == "" || loc.Query().Get("client_id") != a.op.ClientID() {
		t.Fatalf("logout redirected to %s", loc)
	}
	if got := a.op.Revocations(); got != 1 {
		t.Fatalf("revocations = %d, want 1", got)
	}
	if a.hasCookie(b, "oidcsession") {
		t.Fatalf("cookies left after sign-out: %v", a.cookieNames(b))
	}
	if r := b.page(t, loc.String()); r.status != http.StatusOK {
		t.Fatalf("end_session: %d", r.status)
	}
	if got := a.op.EndSessions(); got != 1 {
		t.Fatalf("end sessions = %d, want 1", got)
	}
	r = send(t, b.Client, http.MethodGet, a.srv.URL+"/api/me", "application/json", nil)
	if r.status != http.StatusUnauthorized || r.json(t)["error"] != "unauthenticated" {
		t.Fatalf("after sign-out: %d %s", r.status, r.body)
	}
}

// TestReturnToRefusesOpenRedirects checks every form of off-site target
// falls back to "/", both in safeReturnTo and through a real sign-in.
func TestReturnToRefusesOpenRedirects(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "/"},
		{"root", "/", "/"},
		{"local path", "/app", "/app"},
		{"local path with query", "/app/x?tab=2&q=a//b", "/app/x?tab=2&q=a//b"},
		{"scheme-relative", "//evil.com", "/"},
		{"triple slash", "///evil.com", "/"},
		{"backslash after slash", `/\evil.com`, "/"},
		{"double backslash", `\\evil.com`, "/"},
		{"absolute https", "https://evil.com", "/"},
		{"absolute http", "http://evil.com/app", "/"},
		{"scheme without slashes", "http:evil", "/"},
		{"javascript", "javascript:alert(1)", "/"},
		{"data", "data:text/html,<script>alert(1)</script>", "/"},
		{"leading space", " /x", "/"},
		{"tab injection", "/\t/evil.com", "/"},
		{"newline injection", "/x\r\nLocation: https://evil.com", "/"},
		{"encoded slash", "/%2F/evil.com", "/"},
		{"encoded slash lowercase", "/%2f%2fevil.com", "/"},
		{"encoded backslash", "/%5Cevil.com", "/"},
		{"relative", "app", "/"},
		{"userinfo", "//user@evil.com", "/"},
		{"too long", "/" + strings.Repeat("a", maxReturnTo), "/"},
		{"dot segments stay local", "/a/..//evil.com", "/a/..//evil.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := safeReturnTo(tt.in); got != tt.want {
				t.Errorf("safeReturnTo(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}

	a := newLoginApp(t, oidcsessiontest.Config{})
	for _, tt := range tests {
		t.Run("flow/"+tt.name, func(t *testing.T) {
			b := newBrowser(t)
			r := b.page(t, a.srv.URL+"/auth/login?return_to="+url.QueryEscape(tt.in))
			if r.status != http.StatusOK && r.status != http.StatusNotFound {
				t.Fatalf("sign-in: %d %s", r.status, r.body)
			}
			app, _ := url.Parse(a.srv.URL)
			if r.url.Host != app.Host {
				t.Fatalf("sign-in with return_to %q ended off-site at %s", tt.in, r.url)
			}
			if tt.want == "/" && r.url.Path != "/" {
				t.Fatalf("return_to %q landed on %s, want /", tt.in, r.url)
			}
		})
	}
}

// TestLoginAuthorizationRequest checks what the login handler sends.
func TestLoginAuthorizationRequest(t *testing.T) {
	a := newLoginApp(t, oidcsessiontest.Config{}, WithAuthParam("audience", "https://api.example.com"), WithAuthParams(map[string]string{"acr_values": "mfa"}))
	tests := []struct {
		name, query, wantPrompt string
	}{
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
			u := a.startLogin(newBrowser(t), tt.query)
			q := u.Query()
			if got := q.Get("prompt"); got != tt.wantPrompt {
				t.Errorf("prompt = %q, want %q", got, tt.wantPrompt)
			}
			for k, want := range map[string]string{
				"response_type": "code", "client_id": a.op.ClientID(), "redirect_uri": a.srv.URL + "/auth/callback",
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
	t.Run("method", func(t *testing.T) {
		r := send(t, http.DefaultClient, http.MethodPost, a.srv.URL+"/auth/login", "", nil)
		if r.status != http.StatusMethodNotAllowed {
			t.Fatalf("POST /auth/login: %d", r.status)
		}
	})
}

// TestLoginFlowCookie checks the flow cookie's attributes under secure
// defaults and that a browser never holds more than maxFlows of them.
func TestLoginFlowCookie(t *testing.T) {
	a := newLoginApp(t, oidcsessiontest.Config{})
	t.Run("secure defaults", func(t *testing.T) {
		m := *a.m
		m.cfg.insecureCookies = false
		m.cfg.cookieName = "__Host-oidcsession"
		m.cfg.sameSite = http.SameSiteStrictMode
		m.sealer = newSealer(&m.cfg)
		m.store = &cookieStore{sealer: m.sealer, name: m.cfg.cookieName, absolute: m.cfg.absoluteLifetime, now: m.cfg.now}
		rec := httptest.NewRecorder()
		m.LoginHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/auth/login", nil))
		sc := rec.Header().Values("Set-Cookie")
		if len(sc) != 1 {
			t.Fatalf("Set-Cookie = %q", sc)
		}
		for _, want := range []string{"__Host-oidcsession-flow.", "; Path=/", "; Max-Age=600", "; HttpOnly", "; Secure", "; SameSite=Lax"} {
			if !strings.Contains(sc[0], want) {
				t.Errorf("flow cookie %q lacks %q", sc[0], want)
			}
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
		}
	})
	t.Run("bounded", func(t *testing.T) {
		b := newBrowser(t)
		var first *url.URL
		for i := range 2 * maxFlows {
			u := a.startLogin(b, "")
			if i == 0 {
				first = u
			}
			a.clock.Advance(time.Second)
			n := 0
			for _, name := range a.cookieNames(b) {
				if strings.HasPrefix(name, "oidcsession-flow.") {
					n++
				}
			}
			if n > maxFlows {
				t.Fatalf("after %d logins the browser holds %d flow cookies", i+1, n)
			}
		}
		// The oldest flow gave way; the newest ones still complete.
		cb := a.authorize(b, first.String())
		if r := b.page(t, cb.String()); r.status != http.StatusBadRequest {
			t.Fatalf("oldest flow: %d %s", r.status, r.body)
		}
	})
	t.Run("two tabs", func(t *testing.T) {
		b := newBrowser(t)
		u1 := a.startLogin(b, "?return_to=/one")
		u2 := a.startLogin(b, "?return_to=/two")
		cb2 := a.authorize(b, u2.String())
		cb1 := a.authorize(b, u1.String())
		if r := send(t, b.noFollow(), http.MethodGet, cb1.String(), pageAccept, nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/one" {
			t.Fatalf("tab 1: %d %q", r.status, r.header.Get("Location"))
		}
		if r := send(t, b.noFollow(), http.MethodGet, cb2.String(), pageAccept, nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/two" {
			t.Fatalf("tab 2: %d %q", r.status, r.header.Get("Location"))
		}
	})
}

// TestSilentSignIn checks WithSilentSignIn with and without a provider
// session: no interaction when there is one, exactly one fallback when
// there is not, and never a loop.
func TestSilentSignIn(t *testing.T) {
	t.Run("provider session", func(t *testing.T) {
		a := newLoginApp(t, oidcsessiontest.Config{}, WithSilentSignIn())
		a.op.SetLoggedIn(true)
		b := newBrowser(t)
		a.signIn(b)
		reqs := b.authorizeRequests()
		if len(reqs) != 1 || reqs[0].Query().Get("prompt") != "none" {
			t.Fatalf("authorize requests = %v, want one with prompt=none", reqs)
		}
	})
	t.Run("no provider session", func(t *testing.T) {
		a := newLoginApp(t, oidcsessiontest.Config{}, WithSilentSignIn())
		b := newBrowser(t)
		a.signIn(b)
		reqs := b.authorizeRequests()
		if len(reqs) != 2 || reqs[0].Query().Get("prompt") != "none" || reqs[1].Query().Has("prompt") {
			t.Fatalf("authorize requests = %v, want prompt=none then interactive", reqs)
		}
		if len(b.callbacks()) != 2 {
			t.Fatalf("callbacks = %v", b.callbacks())
		}
		// The provider session now exists: the next sign-in is silent.
		b.mu.Lock()
		b.visited = nil
		b.mu.Unlock()
		a.signIn(b)
		if reqs := b.authorizeRequests(); len(reqs) != 1 || reqs[0].Query().Get("prompt") != "none" {
			t.Fatalf("second sign-in: %v", reqs)
		}
	})
	t.Run("explicit prompt wins", func(t *testing.T) {
		a := newLoginApp(t, oidcsessiontest.Config{}, WithSilentSignIn())
		if got := a.startLogin(newBrowser(t), "?prompt=login").Query().Get("prompt"); got != "login" {
			t.Fatalf("prompt = %q", got)
		}
	})
	t.Run("fallback fails: no loop", func(t *testing.T) {
		// An interactive attempt that still answers login_required is an
		// error, not another round.
		a := newLoginApp(t, oidcsessiontest.Config{}, WithSilentSignIn())
		b := newBrowser(t)
		u := a.startLogin(b, "")
		cb := a.authorize(b, u.String())
		if cb.Query().Get("error") != "login_required" {
			t.Fatalf("silent attempt answered %v", cb.Query())
		}
		r := send(t, b.noFollow(), http.MethodGet, cb.String(), pageAccept, nil)
		if r.status != http.StatusFound {
			t.Fatalf("fallback: %d", r.status)
		}
		fallback, _ := url.Parse(r.header.Get("Location"))
		if fallback.Query().Has("prompt") {
			t.Fatalf("fallback is not interactive: %s", fallback)
		}
		q := url.Values{"state": {fallback.Query().Get("state")}, "error": {"login_required"}, "iss": {a.op.Issuer()}}
		r = send(t, b.noFollow(), http.MethodGet, a.srv.URL+"/auth/callback?"+q.Encode(), pageAccept, nil)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Sign-in failed") {
			t.Fatalf("failed fallback: %d %s", r.status, r.body)
		}
	})
}

// TestLoginOptionsValidation checks New refuses reserved authorization
// parameters and bad logout URLs.
func TestLoginOptionsValidation(t *testing.T) {
	tests := []struct {
		name    string
		opt     Option
		wantErr string
	}{
		{"audience ok", WithAuthParam("audience", "x"), ""},
		{"state", WithAuthParam("state", "x"), `"state"`},
		{"nonce", WithAuthParam("nonce", "x"), `"nonce"`},
		{"code_challenge", WithAuthParams(map[string]string{"code_challenge": "x"}), `"code_challenge"`},
		{"redirect_uri", WithAuthParam("redirect_uri", "https://evil"), `"redirect_uri"`},
		{"client_id", WithAuthParam("client_id", "x"), `"client_id"`},
		{"response_type", WithAuthParam("response_type", "token"), `"response_type"`},
		{"scope", WithAuthParam("scope", "x"), `"scope"`},
		{"case-insensitive", WithAuthParam("Redirect_URI", "x"), `"Redirect_URI"`},
		{"response_mode", WithAuthParam("response_mode", "fragment"), `"response_mode"`},
		{"empty name", WithAuthParam("", "x"), "not a parameter name"},
		{"post-logout ok", WithPostLogoutRedirectURL("https://app.example.com/bye"), ""},
		{"post-logout relative", WithPostLogoutRedirectURL("/bye"), "WithPostLogoutRedirectURL"},
		{"post-logout javascript", WithPostLogoutRedirectURL("javascript:alert(1)"), "WithPostLogoutRedirectURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			c.keyPairs = [][]byte{testHashKey, testBlockKey}
			tt.opt(&c)
			err := c.validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("validate = %v, want an error mentioning %s", err, tt.wantErr)
			}
		})
	}
}
