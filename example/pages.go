package main

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"time"

	"github.com/oidcsession/oidcsession"
)

// csp allows the inline style and script of these pages and nothing else.
const csp = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; " +
	"img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// homeData is what the home page shows.
type homeData struct {
	SignedIn bool
	Name     string
	Subject  string
}

// appData is what the /app page shows.
type appData struct {
	Subject   string
	ExpiresAt string // RFC 3339, read by the countdown script
	Claims    string // pretty JSON
	UserInfo  string // pretty JSON, or "" when not fetched
	Refresh   bool
}

func renderHome(w http.ResponseWriter, s *oidcsession.Session) {
	d := homeData{}
	if s != nil {
		d.SignedIn, d.Subject = true, s.Subject()
		var c struct {
			Name string `json:"name"`
		}
		_ = s.Claims(&c)
		d.Name = c.Name
	}
	render(w, "home", d)
}

func appPage(w http.ResponseWriter, r *http.Request) {
	s, claims, ui, ok := sessionClaims(w, r)
	if !ok {
		return
	}
	d := appData{Subject: s.Subject(), ExpiresAt: s.Expiry().UTC().Format(time.RFC3339), Claims: pretty(claims), Refresh: s.HasRefreshToken()}
	if ui != nil {
		d.UserInfo = pretty(ui)
	}
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
// token answers 401 try_refresh and the page's script refreshes and
// retries.
func apiMe(w http.ResponseWriter, r *http.Request) {
	s, claims, ui, ok := sessionClaims(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sub":        s.Subject(),
		"claims":     claims,
		"userinfo":   ui,
		"expires_at": s.Expiry().UTC().Format(time.RFC3339),
	})
}

func pretty(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return ""
	}
	return string(b)
}

func render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
}

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>oidcsession example</title>
<style>
  :root { color-scheme: light dark; --accent: #2f6fde; --muted: #6b7280; --card: rgba(127,127,127,.08); }
  body { font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 46rem; margin: 0 auto; padding: 2rem 1.25rem; }
  header { display: flex; justify-content: space-between; align-items: center; margin-bottom: 2rem; }
  header a { color: inherit; text-decoration: none; font-weight: 600; }
  .card { background: var(--card); border-radius: 12px; padding: 1.25rem 1.5rem; margin: 1rem 0; }
  .btn { display: inline-block; border: 0; border-radius: 8px; padding: .55rem 1rem; font: inherit; cursor: pointer;
         background: var(--accent); color: #fff; text-decoration: none; }
  .btn.secondary { background: transparent; color: var(--accent); box-shadow: inset 0 0 0 1px var(--accent); }
  .muted { color: var(--muted); font-size: .9rem; }
  pre { background: rgba(127,127,127,.12); padding: 1rem; border-radius: 8px; overflow-x: auto; font-size: .85rem; }
  code { font-size: .9em; }
  .row { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; }
  #countdown { font-variant-numeric: tabular-nums; font-weight: 600; }
</style>
<script>
async function signOut() {
  const r = await fetch('/auth/logout', {method: 'POST', headers: {'X-Session-Refresh': '1', 'Accept': 'application/json'}});
  const body = await r.json().catch(() => ({}));
  location.href = body.redirect_to || '/';
}
</script>
</head><body>
<header><a href="/">oidcsession example</a><nav class="row"><a class="btn secondary" href="/app">App</a></nav></header>
{{end}}
{{define "signout"}}<button class="btn secondary" onclick="signOut()">Sign out</button>
<noscript><p class="muted">Signing out needs JavaScript: the logout endpoint requires the X-Session-Refresh header, which a plain form cannot send.</p></noscript>{{end}}

{{define "home"}}{{template "head"}}
<main>
{{if .SignedIn}}
  <div class="card">
    <h1>Welcome{{with .Name}}, {{.}}{{end}}</h1>
    <p>You are signed in as <code>{{.Subject}}</code>.</p>
    <div class="row"><a class="btn" href="/app">Open the app</a>{{template "signout"}}</div>
  </div>
{{else}}
  <div class="card">
    <h1>Hello</h1>
    <p>You are not signed in. The session lives in sealed cookies; expired access tokens are refreshed for you.</p>
    <div class="row"><a class="btn" href="/auth/login?return_to=/app">Sign in</a></div>
  </div>
{{end}}
</main></body></html>{{end}}

{{define "app"}}{{template "head"}}
<main>
  <div class="card">
    <h1>Signed in as <code>{{.Subject}}</code></h1>
    <p>Access token expires in <span id="countdown" data-expires="{{.ExpiresAt}}">…</span>
       <span class="muted">({{.ExpiresAt}})</span></p>
    <p class="muted">{{if .Refresh}}Reload this page after it expires: it is refreshed inline. The API button below uses the try-refresh contract instead.{{else}}The provider gave no refresh token: the session ends when the access token expires.{{end}}</p>
    <div class="row">
      <button class="btn" onclick="callAPI()">Call /api/me</button>
      <button class="btn secondary" onclick="refreshNow()">Refresh now</button>
      {{template "signout"}}
    </div>
    <pre id="api" hidden></pre>
  </div>
  <div class="card"><h2>ID token claims</h2><pre>{{.Claims}}</pre></div>
  {{with .UserInfo}}<div class="card"><h2>Userinfo</h2><pre>{{.}}</pre></div>{{end}}
</main>
<script>
const el = document.getElementById('countdown');
function tick() {
  const left = Math.round((Date.parse(el.dataset.expires) - Date.now()) / 1000);
  el.textContent = left > 0 ? left + ' s' : 'expired (the next request refreshes it)';
}
tick(); setInterval(tick, 1000);

async function refreshNow() {
  const r = await fetch('/auth/refresh', {method: 'POST', headers: {'X-Session-Refresh': '1'}});
  if (r.ok) { location.reload(); } else { show(r.status + ' ' + await r.text()); }
}

// callAPI follows the try-refresh contract: on 401 try_refresh, refresh once and retry.
async function callAPI() {
  const get = () => fetch('/api/me', {headers: {'Accept': 'application/json'}});
  let r = await get();
  let note = '';
  if (r.status === 401) {
    const e = await r.clone().json().catch(() => ({}));
    if (e.error === 'try_refresh') {
      const rr = await fetch('/auth/refresh', {method: 'POST', headers: {'X-Session-Refresh': '1'}});
      note = 'got try_refresh, refreshed (' + rr.status + '), retried\n';
      if (rr.ok) {
        const j = await rr.json();
        el.dataset.expires = j.expires_at;
        r = await get();
      }
    }
  }
  show(note + r.status + '\n' + JSON.stringify(await r.json().catch(() => null), null, 2));
}
function show(text) { const p = document.getElementById('api'); p.hidden = false; p.textContent = text; }
</script>
</body></html>{{end}}
`))
