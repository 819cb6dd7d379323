package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// browser is a person's browser, as far as the tests need one: a cookie
// jar shared by the app and the provider (both live on 127.0.0.1, so, as
// in a real browser, cookies are shared across their ports), redirects
// followed, and the provider's own sign-in, consent and sign-out pages
// filled in and submitted like a user would.
type browser struct {
	t      *testing.T
	p      *provider
	u      user
	jar    *cookiejar.Jar
	client *http.Client

	// pages lists the provider pages the browser filled in, in order:
	// "login", "consent", "logout" (the end_session confirmation) and
	// "form_post" (a self-submitting form).
	pages []string
	// hops are the URLs of the last request's redirects (redacted), for
	// checks and messages.
	hops []string
}

// response is what a navigation or fetch ended with.
type response struct {
	status int
	url    *url.URL
	header http.Header
	body   []byte
	hops   []string // every URL the request went through, redirects included (redacted)
}

// redact returns u without the values that must not reach a test log: an
// authorization code, an ID token sent as id_token_hint.
func redact(u *url.URL) string {
	q := u.Query()
	changed := false
	for _, k := range []string{"code", "id_token_hint"} {
		if q.Has(k) {
			q.Set(k, "REDACTED")
			changed = true
		}
	}
	if !changed {
		return u.String()
	}
	c := *u
	c.RawQuery = q.Encode()
	return c.String()
}

func (r *response) String() string {
	return fmt.Sprintf("%d at %s (via %s): %s", r.status, redact(r.url), strings.Join(r.hops, " -> "), truncate(string(r.body), 300))
}

// json decodes the body into v.
func (r *response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r, err)
	}
}

func newBrowser(t *testing.T, p *provider, u user) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, p: p, u: u, jar: jar}
	b.client = &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 20 {
				return fmt.Errorf("stopped after %d redirects", len(via))
			}
			b.hops = append(b.hops, redact(req.URL))
			return nil
		},
	}
	return b
}

// get navigates to rawURL as a page (Accept: text/html) and fills in
// whatever provider pages come up on the way.
func (b *browser) get(rawURL string) *response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
	return b.navigate(req)
}

// fetch is a script's fetch() to the app: Accept: application/json, and
// for a POST the header the refresh and logout handlers require (a
// same-origin fetch may set it; a cross-site form cannot). Redirects are
// followed, provider pages are not filled in.
func (b *browser) fetch(method, rawURL string, body any) *response {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		buf, _ := json.Marshal(body)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if method == http.MethodPost {
		req.Header.Set("X-Session-Refresh", "1")
		req.Header.Set("Origin", req.URL.Scheme+"://"+req.URL.Host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	return b.send(req)
}

// submitLogout posts the app's sign-out form, as a page would (a form
// POST with the CSRF header set by the page's script), and follows the
// provider's sign-out pages.
func (b *browser) submitLogout(appBase string) *response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, appBase+"/auth/logout", strings.NewReader(""))
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Session-Refresh", "1")
	req.Header.Set("Origin", appBase)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.navigate(req)
}

// send sends one request with the browser's cookies, following redirects.
func (b *browser) send(req *http.Request) *response {
	b.t.Helper()
	b.hops = []string{redact(req.URL)}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v (via %s)", req.Method, redact(req.URL), err, strings.Join(b.hops, " -> "))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		b.t.Fatalf("reading %s: %v", redact(req.URL), err)
	}
	return &response{status: resp.StatusCode, url: resp.Request.URL, header: resp.Header, body: body, hops: b.hops}
}

// navigate sends req and then, as long as the answer is one of the
// provider's pages the user acts on, fills it in and submits it.
func (b *browser) navigate(req *http.Request) *response {
	b.t.Helper()
	r := b.send(req)
	hops := r.hops
	for range 8 {
		next, kind := b.providerForm(r)
		if next == nil {
			break
		}
		b.pages = append(b.pages, kind)
		r = b.send(next)
		hops = append(hops, r.hops...)
	}
	r.hops = hops
	return r
}

// providerForm returns the request that submits the page's form the way a
// user would, and which page it was, or nil when r is not such a page.
func (b *browser) providerForm(r *response) (*http.Request, string) {
	if r.url.Scheme+"://"+r.url.Host != b.p.issuer || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		return nil, ""
	}
	doc, err := html.Parse(bytes.NewReader(r.body))
	if err != nil {
		return nil, ""
	}
	for _, f := range parseForms(doc) {
		values := url.Values{}
		for _, in := range f.inputs {
			if in.name != "" && in.typ != "submit" {
				values.Set(in.name, in.value)
			}
		}
		var kind string
		switch {
		case f.hasType("password"):
			kind = "login"
			for _, in := range f.inputs {
				switch in.typ {
				case "text", "email", "":
					values.Set(in.name, b.u.login)
				case "password":
					values.Set(in.name, testPassword)
				}
			}
		case values.Get("prompt") == "consent":
			kind = "consent"
		case f.id == "op.logoutForm":
			// oidc-provider's "Do you want to sign-out?": the user
			// clicks "Yes, sign me out".
			kind = "logout"
			values.Set("logout", "yes")
		case bytes.Contains(r.body, []byte(".submit()")):
			// A response_mode=form_post style page that submits itself
			// with a script.
			kind = "form_post"
		default:
			continue
		}
		action, err := r.url.Parse(f.action)
		if err != nil {
			b.t.Fatalf("form action %q on %s: %v", f.action, r.url, err)
		}
		var req *http.Request
		if strings.EqualFold(f.method, "post") {
			req, _ = http.NewRequest(http.MethodPost, action.String(), strings.NewReader(values.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", b.p.issuer)
		} else {
			action.RawQuery = values.Encode()
			req, _ = http.NewRequest(http.MethodGet, action.String(), nil)
		}
		req.Header.Set("Accept", "text/html")
		return req, kind
	}
	return nil, ""
}

// cookies returns the browser's cookies for rawURL.
func (b *browser) cookies(rawURL string) []*http.Cookie {
	u, _ := url.Parse(rawURL)
	return b.jar.Cookies(u)
}

// appCookies returns the app's session cookies (those whose name starts
// with "oidcsession"), for replaying them later.
func (b *browser) appCookies(appBase string) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range b.cookies(appBase) {
		if strings.HasPrefix(c.Name, "oidcsession") {
			out = append(out, &http.Cookie{Name: c.Name, Value: c.Value, Path: "/"})
		}
	}
	return out
}

// setCookies puts cookies in the jar, as if the app had set them.
func (b *browser) setCookies(appBase string, cookies []*http.Cookie) {
	u, _ := url.Parse(appBase)
	b.jar.SetCookies(u, cookies)
}

// clearAppCookies deletes the app's cookies and keeps the provider's: the
// app's session is gone, the provider's is not.
func (b *browser) clearAppCookies(appBase string) {
	var gone []*http.Cookie
	for _, c := range b.appCookies(appBase) {
		gone = append(gone, &http.Cookie{Name: c.Name, Path: "/", MaxAge: -1})
	}
	b.setCookies(appBase, gone)
}

// cookieHeader is the Cookie header the browser would send to rawURL.
func (b *browser) cookieHeader(rawURL string) string {
	var parts []string
	for _, c := range b.cookies(rawURL) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// form is one HTML form with its inputs.
type form struct {
	id, action, method string
	inputs             []input
}

type input struct{ name, typ, value string }

func (f form) hasType(typ string) bool {
	for _, in := range f.inputs {
		if in.typ == typ {
			return true
		}
	}
	return false
}

// parseForms finds every form and the inputs inside it.
func parseForms(doc *html.Node) []form {
	var forms []form
	var walk func(n *html.Node, f *form)
	walk = func(n *html.Node, f *form) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				nf := form{id: attr(n, "id"), action: attr(n, "action"), method: attr(n, "method")}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c, &nf)
				}
				forms = append(forms, nf)
				return
			case "input":
				if f != nil {
					f.inputs = append(f.inputs, input{name: attr(n, "name"), typ: strings.ToLower(attr(n, "type")), value: attr(n, "value")})
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, f)
		}
	}
	walk(doc, nil)
	return forms
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
