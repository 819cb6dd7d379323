package oidcsessiontest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
)

// loginActionField is the form field of the sign-in page's buttons.
const loginActionField = "oidcsessiontest_action"

// loginPageCSS is the sign-in page's only style; the page's CSP allows it by
// hash, and there is no script at all.
const loginPageCSS = `:root{color-scheme:light dark;--accent:#2f6fde}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:26rem;margin:3rem auto;padding:0 1.25rem}
.tag{display:inline-block;font-size:.8rem;padding:.15rem .5rem;border-radius:999px;background:rgba(127,127,127,.18)}
.muted{opacity:.75;font-size:.9rem}
.row{display:flex;gap:.5rem;flex-wrap:wrap;margin-top:1.5rem}
button{font:inherit;border:0;border-radius:8px;padding:.6rem 1.1rem;cursor:pointer;background:var(--accent);color:#fff}
button.secondary{background:transparent;color:inherit;box-shadow:inset 0 0 0 1px currentColor}
button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}`

// loginPageCSP allows the page's style and nothing else. There is no
// form-action: Chromium applies it to the redirect to the relying party too.
var loginPageCSP = func() string {
	sum := sha256.Sum256([]byte(loginPageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'; frame-ancestors 'none'"
}()

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sign in · oidcsessiontest</title>
<style>` + loginPageCSS + `</style></head>
<body><main>
<p class="tag">oidcsessiontest: an in-process test provider</p>
<h1>Sign in</h1>
<p>Continue as <strong>{{.Name}}</strong>{{with .Email}} ({{.}}){{end}}, subject <code>{{.Subject}}</code>?</p>
<p class="muted">This provider has no passwords: it signs in its one configured user.</p>
<form method="post" action="authorize">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<div class="row">
<button type="submit" name="` + loginActionField + `" value="continue" autofocus>Continue</button>
<button type="submit" name="` + loginActionField + `" value="cancel" class="secondary">Cancel</button>
</div></form></main></body></html>
`))

type loginPageData struct {
	Name, Email, Subject string
	Fields               []loginField
}

type loginField struct{ Name, Value string }

// loginPageShown shows the sign-in page (Config.LoginPage) when this
// authorization request would sign the user in interactively, and reports
// whether the request has been answered. The page's Continue posts the same
// parameters back with the action field, which lets the sign-in go on;
// Cancel answers access_denied. prompt=none never shows the page.
func (p *Provider) loginPageShown(w http.ResponseWriter, r *http.Request, q url.Values, promptNone, forceLogin bool, fail func(code, desc string)) bool {
	if !p.cfg.LoginPage || promptNone {
		return false
	}
	if r.Method == http.MethodPost {
		switch r.PostForm.Get(loginActionField) {
		case "continue":
			return false
		case "cancel":
			fail("access_denied", "the user cancelled the sign-in")
			return true
		}
	}
	if !forceLogin && p.hasBrowserSession(r) {
		return false // single sign-on: no page, as at a real provider
	}
	d := loginPageData{Subject: p.cfg.User.Subject}
	d.Name, _ = p.cfg.User.Claims["name"].(string)
	if d.Name == "" {
		d.Name = d.Subject
	}
	d.Email, _ = p.cfg.User.Claims["email"].(string)
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != loginActionField {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range q[k] {
			d.Fields = append(d.Fields, loginField{k, v})
		}
	}
	var buf bytes.Buffer
	if err := loginPage.Execute(&buf, d); err != nil {
		writeErrorPage(w, http.StatusInternalServerError, "server_error", "the sign-in page could not be rendered")
		return true
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", loginPageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = buf.WriteTo(w)
	return true
}

// hasBrowserSession reports whether the request carries a live provider
// session (or SetLoggedIn forces one).
func (p *Provider) hasBrowserSession(r *http.Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.forcedLogin {
		return true
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	_, ok := p.sessions[c.Value]
	return ok
}
