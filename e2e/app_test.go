package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// testApp is an app built the way the README shows, with the embedded
// provider, serving pages that load the helper under the same strict CSP as
// the example: the module build (/page/module), the classic build
// (/page/classic), the classic build with a wrong integrity value
// (/page/bad-integrity), which the browser must refuse, and the classic
// build beside the real axios from npm (/page/axios).
type testApp struct {
	op   *oidcsessiontest.Provider
	m    *oidcsession.Middleware
	base string
	// refreshPOSTs counts POSTs that reached the refresh handler, to check
	// the browser-side count.
	refreshPOSTs atomic.Int64
}

func newTestApp(t *testing.T, ttl time.Duration) *testApp {
	t.Helper()
	a := &testApp{op: oidcsessiontest.New(t, oidcsessiontest.Config{AccessTokenLifetime: ttl})}
	provider, err := oidc.NewProvider(context.Background(), a.op.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.base = "http://" + ln.Addr().String()
	hashKey, blockKey := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(hashKey)
	_, _ = rand.Read(blockKey)
	a.m, err = oidcsession.New(provider, oauth2.Config{
		ClientID:     a.op.ClientID(),
		ClientSecret: a.op.ClientSecret(),
		RedirectURL:  a.base + "/auth/callback",
		Scopes:       []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}, oidcsession.WithKeys(hashKey, blockKey), oidcsession.WithInsecureCookies())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.routes())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return a
}

func (a *testApp) routes() http.Handler {
	m := a.m
	mux := http.NewServeMux()
	mux.Handle("GET /auth/login", m.LoginHandler())
	mux.Handle("GET /auth/callback", m.CallbackHandler())
	refresh := m.RefreshHandler()
	mux.Handle("POST /auth/refresh", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.refreshPOSTs.Add(1)
		refresh.ServeHTTP(w, r)
	}))
	mux.Handle("POST /auth/logout", m.LogoutHandler())
	mux.Handle("GET /static/oidcsession/", oidcsession.ScriptHandler())
	mux.Handle("GET /t/harness.mjs", script(harnessModule))
	mux.Handle("GET /t/harness.js", script(harnessClassic))
	mux.Handle("GET /favicon.ico", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	mux.Handle("GET /vendor/axios.min.js", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, r, axiosPath)
	}))
	for _, kind := range []string{"module", "classic", "bad-integrity", "axios"} {
		mux.Handle("GET /page/"+kind, m.Require()(a.page(kind)))
	}
	mux.Handle("GET /api/x", m.Require(oidcsession.TryRefresh())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := oidcsession.FromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": s.Subject(), "expires_at": s.Expiry().UTC().Format(time.RFC3339)})
	})))
	return mux
}

// strictCSP is the example's policy (example/pages.go).
func strictCSP(nonce string) string {
	return "default-src 'none'; script-src 'nonce-" + nonce + "' 'strict-dynamic'; style-src 'nonce-" + nonce + "'; " +
		"connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; " +
		"require-trusted-types-for 'script'"
}

var testPage = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en" data-expires-at="{{.ExpiresAt}}" data-refresh-at="{{.RefreshAt}}"><head><meta charset="utf-8"><title>{{.Kind}}</title>
{{if eq .Kind "module"}}{{.ImportMap}}
<script type="module" src="/t/harness.mjs" nonce="{{.Nonce}}"></script>
{{else}}{{if eq .Kind "axios"}}<script src="/vendor/axios.min.js" nonce="{{.Nonce}}"></script>
{{end}}<script src="/static/oidcsession/{{.Classic.Name}}" integrity="{{.Integrity}}" nonce="{{.Nonce}}"></script>
<script src="/t/harness.js" nonce="{{.Nonce}}"></script>
{{end}}</head><body><p>{{.Kind}}</p></body></html>`))

// page renders a test page for the session, with a fresh nonce.
func (a *testApp) page(kind string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := oidcsession.FromContext(r.Context())
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		nonce := base64.RawURLEncoding.EncodeToString(b)
		mod := oidcsession.ModuleScript()
		src := "/static/oidcsession/" + mod.Name
		im, _ := json.Marshal(map[string]map[string]string{"imports": {"oidcsession": src}, "integrity": {src: mod.Integrity}})
		d := map[string]any{
			"Kind": kind, "Nonce": nonce, "Classic": oidcsession.ClassicScript(), "Integrity": oidcsession.ClassicScript().Integrity,
			"ImportMap": template.HTML(`<script type="importmap" nonce="` + nonce + `">` + string(im) + `</script>`),
			"ExpiresAt": s.Expiry().UTC().Format(time.RFC3339), "RefreshAt": a.m.RefreshAt(s).Format(time.RFC3339),
		}
		if kind == "bad-integrity" {
			d["Integrity"] = "sha384-" + base64.StdEncoding.EncodeToString(make([]byte, 48))
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", strictCSP(nonce))
		w.Header().Set("Cache-Control", "no-store")
		_ = testPage.Execute(w, d)
	})
}

// harnessBody gives the tests a handle on the helper (window.helper), a
// sessionFetch whose onSessionExpired is recorded (window.api,
// window.expired), the session events (window.events) and, on a page
// that loaded axios, an axios instance with the interceptor (window.ax).
const harnessBody = `
window.helper = o;
window.expired = [];
window.events = [];
window.api = o.createSessionFetch({ onSessionExpired: (info) => window.expired.push(info) });
o.onSessionChange((e) => window.events.push({ type: e.type, reason: e.reason || null, source: e.source }));
if (globalThis.axios) {
  window.ax = globalThis.axios.create();
  o.installAxiosInterceptor(window.ax, { onSessionExpired: (info) => window.expired.push(info) });
}
window.schedule = () => o.scheduleRefresh(document.documentElement.dataset.expiresAt, {
  refreshAt: document.documentElement.dataset.refreshAt,
  onSessionExpired: (info) => window.expired.push(info),
});
`

const harnessModule = `import * as o from "oidcsession";
` + harnessBody + `document.documentElement.dataset.ready = "module";
`

const harnessClassic = `(function () {
"use strict";
const o = globalThis.oidcsession;
if (!o) { document.documentElement.dataset.ready = "no-helper"; return; }
` + harnessBody + `document.documentElement.dataset.ready = globalThis.axios ? "axios" : "classic";
})();
`

func script(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(body))
	})
}

// signIn sends the tab through the provider (which signs in at once) to
// the test page of kind, and waits for its script.
func (a *testApp) signIn(tb *tab, kind string) {
	tb.t.Helper()
	tb.navigate(a.base+"/auth/login?return_to=/page/"+kind, `document.documentElement.dataset.ready === "`+kind+`"`)
}

// expiry reads the access token's expiry the page was rendered with.
func (tb *tab) expiry() time.Time {
	tb.t.Helper()
	var s string
	tb.eval(`document.documentElement.dataset.expiresAt`, &s)
	exp, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.t.Fatalf("expires_at %q: %v", s, err)
	}
	return exp
}

// sleepPastExpiry waits until the access token the page was rendered with
// has certainly expired: the rendered time is truncated to the second, and
// a real browser's clock cannot be hurried.
func sleepPastExpiry(tb *tab) {
	time.Sleep(time.Until(tb.expiry().Add(1100 * time.Millisecond)))
}
