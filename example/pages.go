package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// scriptBase is where the helper's builds are served (oidcsession.ScriptHandler).
const scriptBase = "/static/oidcsession/"

// app is what the pages need besides the request.
type app struct {
	m         *oidcsession.Middleware
	orders    oidcsession.TokenRequest // the token the proxy presents to the orders API
	ordersAPI *ordersAPI
	op        *oidcsessiontest.Provider // the embedded provider; nil with a real one
	tokenTTL  time.Duration             // the embedded provider's access-token lifetime
	store     bool                      // sessions are kept in Redis (REDIS_URL), not in cookies
	log       *slog.Logger
}

// importMap maps "oidcsession" to the helper's module with its integrity,
// so app.js imports it by name and the browser checks its bytes. It is
// JSON from json.Marshal, which escapes <, > and &, so it is safe inside
// <script>.
var importMap = func() string {
	src := scriptBase + oidcsession.ModuleScript().Name
	b, err := json.Marshal(map[string]map[string]string{
		"imports":   {"oidcsession": src},
		"integrity": {src: oidcsession.ModuleScript().Integrity},
	})
	if err != nil {
		return "{}"
	}
	return string(b)
}()

// importMapTag is the import map's element. html/template would escape
// the JSON as text inside <script type="importmap">, so the element is
// built here from the base64 nonce and the JSON above, both safe as they are.
func importMapTag(nonce string) template.HTML {
	return template.HTML(`<script type="importmap" nonce="` + nonce + `">` + importMap + `</script>`)
}

// csp is a strict policy: scripts and styles only with this response's
// nonce (and what they load), no inline handlers, no eval, Trusted Types
// for DOM sinks. The helper needs nothing more.
func csp(nonce string) string {
	return "default-src 'none'; script-src 'nonce-" + nonce + "' 'strict-dynamic'; style-src 'nonce-" + nonce + "'; " +
		"connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; " +
		"require-trusted-types-for 'script'"
}

// page is what every page's template gets.
type page struct {
	Nonce     string
	ImportMap template.HTML // the import map's <script> element, with the nonce
	Classic   oidcsession.Script
	Embedded  bool
	Issuer    string
	TTL       string
	Store     bool // sessions in Redis, not in cookies

	// home
	SignedIn bool
	Name     string
	Subject  string

	// app
	ExpiresAt string // RFC 3339
	RefreshAt string // RFC 3339; "" without a refresh token
	Claims    string // pretty JSON
	UserInfo  string // pretty JSON, or "" when not fetched
	Outage    bool
	Devices   devices
}

func (a *app) page() page {
	p := page{Classic: oidcsession.ClassicScript(), Embedded: a.op != nil, Store: a.store}
	if a.op != nil {
		p.Issuer, p.TTL = a.op.Issuer(), a.tokenTTL.String()
		p.Outage = a.op.RefreshOutage()
	}
	return p
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	d := a.page()
	if s, ok := oidcsession.FromContext(r.Context()); ok {
		d.SignedIn, d.Subject = true, s.Subject()
		var c struct {
			Name string `json:"name"`
		}
		_ = s.Claims(&c)
		d.Name = c.Name
	}
	render(w, "home", d)
}

// signedOut is where the provider's sign-out sends the browser back
// (post_logout_redirect_uri): unlike a first visit, it says what happened.
func (a *app) signedOut(w http.ResponseWriter, r *http.Request) {
	if _, ok := oidcsession.FromContext(r.Context()); ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	render(w, "signed-out", a.page())
}

func (a *app) appPage(w http.ResponseWriter, r *http.Request) {
	s, claims, ui, ok := sessionClaims(w, r)
	if !ok {
		return
	}
	d := a.page()
	d.Subject, d.ExpiresAt, d.Claims = s.Subject(), s.Expiry().UTC().Format(time.RFC3339), pretty(claims)
	if at := a.m.RefreshAt(s); !at.IsZero() {
		d.RefreshAt = at.Format(time.RFC3339)
	}
	if ui != nil {
		d.UserInfo = pretty(ui)
	}
	d.Devices = a.devicesOf(r.Context(), s)
	render(w, "app", d)
}

// sessionClaims returns the session Require put in the context with its ID
// token and userinfo claims (ui is nil when userinfo was never fetched).
func sessionClaims(w http.ResponseWriter, r *http.Request) (s *oidcsession.Session, claims, ui map[string]any, ok bool) {
	s, ok = oidcsession.FromContext(r.Context())
	if !ok {
		http.Error(w, "no session", http.StatusInternalServerError)
		return nil, nil, nil, false
	}
	_ = s.Claims(&claims)
	_, _ = s.UserInfo(&ui)
	return s, claims, ui, true
}

// apiMe is a JSON API: behind Require(TryRefresh()), an expired access
// token answers 401 try_refresh and the page's helper refreshes and
// retries.
func (a *app) apiMe(w http.ResponseWriter, r *http.Request) {
	s, claims, ui, ok := sessionClaims(w, r)
	if !ok {
		return
	}
	body := map[string]any{
		"sub":        s.Subject(),
		"claims":     claims,
		"userinfo":   ui,
		"expires_at": s.Expiry().UTC().Format(time.RFC3339),
	}
	if at := a.m.RefreshAt(s); !at.IsZero() {
		body["refresh_at"] = at.Format(time.RFC3339)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(body)
}

func pretty(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return ""
	}
	return string(b)
}

// render writes a page with a fresh CSP nonce.
func render(w http.ResponseWriter, name string, d page) {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	d.Nonce = base64.RawURLEncoding.EncodeToString(nonce) // no characters html/template escapes
	d.ImportMap = importMapTag(d.Nonce)
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, d); err != nil {
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp(d.Nonce))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
}

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>oidcsession example</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<style nonce="{{.Nonce}}">
  :root { color-scheme: light dark; --accent: #2f6fde; --muted: #6b7280; --card: rgba(127,127,127,.08); --warn: rgba(234,179,8,.16); }
  @media (prefers-color-scheme: dark) { :root { --accent: #6d9bff; --muted: #a1a1aa; } }
  [hidden] { display: none !important; } /* .btn's display must not undo the attribute */
  body { font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 46rem; margin: 0 auto; padding: 1.5rem 1.25rem; }
  header { display: flex; justify-content: space-between; align-items: center; gap: 1rem; margin-bottom: 1.25rem; }
  header a { color: inherit; text-decoration: none; font-weight: 600; }
  h1 { font-size: 1.6rem; line-height: 1.25; overflow-wrap: anywhere; }
  .card { background: var(--card); border-radius: 12px; padding: 1.25rem 1.5rem; margin: 1rem 0; }
  .banner { background: var(--warn); border-radius: 10px; padding: .75rem 1rem; font-size: .9rem; }
  .btn { display: inline-block; border: 0; border-radius: 8px; padding: .55rem 1rem; font: inherit; cursor: pointer;
         background: var(--accent); color: #fff; text-decoration: none; }
  .btn.secondary { background: transparent; color: var(--accent); box-shadow: inset 0 0 0 1px var(--accent); }
  .btn:disabled { opacity: .5; cursor: not-allowed; }
  .btn:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
  .muted { color: var(--muted); font-size: .9rem; }
  pre { background: rgba(127,127,127,.12); padding: 1rem; border-radius: 8px; overflow-x: auto; font-size: .85rem; }
  code { font-size: .9em; overflow-wrap: anywhere; }
  .row { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; }
  #token-state { font-variant-numeric: tabular-nums; font-weight: 600; }
  #log { padding-left: 1.25rem; font-size: .9rem; }
  #log time { font-variant-numeric: tabular-nums; color: var(--muted); }
  #ended { border: 2px solid var(--accent); }
  label input { margin: 0 .4rem 0 0; vertical-align: middle; }
  #api { white-space: pre-wrap; overflow-wrap: anywhere; }
  .devices { list-style: none; padding: 0; margin: 0 0 1rem; }
  .device { display: flex; justify-content: space-between; align-items: center; gap: .75rem; flex-wrap: wrap;
            padding: .75rem 0; border-top: 1px solid rgba(127,127,127,.25); }
  .device:first-child { border-top: 0; }
  .device-text { min-width: 0; overflow-wrap: anywhere; }
  .badge { display: inline-block; font-size: .75rem; font-weight: 600; padding: .1rem .5rem; border-radius: 999px;
           background: var(--accent); color: #fff; vertical-align: .1em; }
</style>
</head><body>
<header><a href="/">oidcsession example</a><nav class="row"><a class="btn secondary" href="/app">App</a></nav></header>
{{if .Embedded}}<aside class="banner" role="note"><strong>Test provider.</strong> This demo signs in through
  oidcsessiontest, an in-process provider at <code>{{.Issuer}}</code> with one user and no passwords; its
  access tokens live {{.TTL}}. Set <code>OIDC_ISSUER</code> to use a real provider.</aside>{{end}}
{{end}}

{{define "home"}}{{template "head" .}}
<main>
{{if .SignedIn}}
  <div class="card">
    <h1>Welcome{{with .Name}}, {{.}}{{end}}</h1>
    <p>You are signed in as <code>{{.Subject}}</code>.</p>
    <div class="row"><a class="btn" href="/app">Open the app</a><button class="btn secondary" id="signout" type="button">Sign out</button></div>
  </div>
{{else}}
  <div class="card">
    <h1>Hello</h1>
    <p>You are not signed in. {{if .Store}}The session lives in Redis, and your browser holds a sealed reference to it{{else}}The session lives in sealed cookies{{end}}; expired access tokens are refreshed for you.</p>
    <div class="row"><a class="btn" href="/auth/login?return_to=/app">Sign in</a></div>
  </div>
{{end}}
  <p id="note" class="card" role="status" hidden></p>
</main>
<script src="/static/oidcsession/{{.Classic.Name}}" integrity="{{.Classic.Integrity}}" nonce="{{.Nonce}}"></script>
<script src="/static/home.js" nonce="{{.Nonce}}"></script>
</body></html>{{end}}

{{define "signed-out"}}{{template "head" .}}
<main>
  <div class="card">
    <h1>You are signed out</h1>
    <p>Your session with this app has ended, and so has your session at the provider.
    {{if .Embedded}}Signing in again shows the test provider's sign-in page.{{end}}</p>
    <div class="row"><a class="btn" href="/auth/login?return_to=/app">Sign in again</a><a class="btn secondary" href="/">Home</a></div>
  </div>
</main></body></html>{{end}}

{{define "app"}}{{template "head" .}}
<main id="app" data-expires-at="{{.ExpiresAt}}" data-refresh-at="{{.RefreshAt}}">
  <div class="card" id="ended" role="alert" hidden>
    <h2 id="ended-text">Your session has ended.</h2>
    <div class="row"><a class="btn" href="/auth/login?return_to=/app">Sign in again</a><a class="btn secondary" href="/">Home</a></div>
  </div>
  <div class="card">
    <h1>Signed in as <code>{{.Subject}}</code></h1>
    <p>Access token: <span id="token-state">…</span> <span class="muted" id="token-until"></span></p>
    <p class="muted" id="token-next"></p>
    <p><label><input type="checkbox" id="auto" checked data-needs-session> Renew before expiry (<code>scheduleRefresh</code>)</label></p>
    <div class="row">
      <button class="btn" id="call" type="button" data-needs-session>Call /api/me</button>
      <button class="btn secondary" id="orders" type="button" data-needs-session>Call the orders API</button>
      <button class="btn secondary" id="refresh" type="button" data-needs-session>Refresh now</button>
      {{if .Embedded}}<button class="btn secondary" id="outage" type="button" aria-pressed="{{.Outage}}">{{if .Outage}}End provider outage{{else}}Simulate provider outage{{end}}</button>{{end}}
      <button class="btn secondary" id="signout" type="button" data-needs-session>Sign out</button>
    </div>
    <pre id="api" role="status" hidden></pre>
  </div>
  <div class="card" id="sessions">
    <h2>Your sessions</h2>
  {{- with .Devices}}
  {{- if not .Listable}}
    <p id="sessions-unlisted">This app keeps sessions in sealed cookies, in each browser: the server holds nothing it could list,
    and a device cannot be signed out from here. Listing your devices, with a sign-out for each, needs sessions kept on
    the server (a Store): start the app with <code>REDIS_URL=redis://127.0.0.1:6379/0</code>.</p>
  {{- else if .Problem}}
    <p role="alert">{{.Problem}}</p>
  {{- else}}
    <p class="muted">Where you are signed in to this app. Signing out a device ends its session at once and revokes its refresh token at the provider.</p>
    <ul class="devices" id="device-list">
    {{- range .List}}
      <li class="device" data-session-id="{{.ID}}"{{if .Current}} data-current{{end}}>
        <div class="device-text">
          <strong>{{.UserAgent}}</strong>{{if .Current}} <span class="badge">This device</span>{{end}}
          <div class="muted">Signed in <time datetime="{{.Created.ISO}}">{{.Created.Text}}</time>
          {{- if .LastSeen.ISO}} · last seen <time datetime="{{.LastSeen.ISO}}">{{.LastSeen.Text}}</time>{{end}}</div>
        </div>
        <button class="btn secondary" type="button" data-sign-out data-needs-session>Sign out</button>
      </li>
    {{- end}}
    </ul>
    <p class="muted" id="no-others"{{if .Others}} hidden{{end}}>No other device is signed in.</p>
    <div class="row"><button class="btn secondary" id="sign-out-others" type="button" data-needs-session{{if not .Others}} hidden{{end}}>Sign out other devices</button></div>
  {{- end}}
  {{- end}}
  </div>
  <div class="card"><h2>Activity</h2><ol id="log" reversed></ol></div>
  <div class="card"><h2>ID token claims</h2><pre id="claims">{{.Claims}}</pre></div>
  <div class="card" id="userinfo-card"{{if not .UserInfo}} hidden{{end}}><h2>Userinfo</h2><pre id="userinfo">{{.UserInfo}}</pre></div>
</main>
{{.ImportMap}}
<script type="module" src="/static/app.js" nonce="{{.Nonce}}"></script>
</body></html>{{end}}
`))
