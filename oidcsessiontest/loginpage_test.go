package oidcsessiontest

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// authorizeURL is an authorization request of the rp with PKCE and an
// awkward state, so escaping shows.
func (r *rp) authorizeURL(extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())}, extra...)
	return r.conf.AuthCodeURL(`st"<ate>&`, opts...)
}

// send makes one request with the rp's browser and returns the answer.
func (r *rp) send(req *http.Request) (*http.Response, string) {
	r.t.Helper()
	resp, err := r.browser.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// hiddenFields reads the sign-in page's form back, as a browser submits it.
func hiddenFields(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		name, value := htmlUnescape(m[1]), htmlUnescape(m[2])
		v.Add(name, value)
	}
	if len(v) == 0 {
		t.Fatalf("no hidden fields in\n%s", page)
	}
	return v
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#34;", `"`, "&lt;", "<", "&gt;", ">", "&amp;", "&", "&#39;", "'", "&#43;", "+").Replace(s)
}

func TestLoginPage(t *testing.T) {
	r := newRP(t, Config{LoginPage: true, User: User{Subject: "u-7", Claims: map[string]any{"name": "Ada <Lovelace>", "email": "ada@example.test"}}})

	resp, page := r.send(mustRequest(t, http.MethodGet, r.authorizeURL(), nil))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("first sign-in: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"Ada &lt;Lovelace&gt;", "ada@example.test", "<code>u-7</code>", "test provider", `value="continue"`, `value="cancel"`, `<html lang="en">`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "Ada <Lovelace>") {
		t.Error("page has a script or unescaped text")
	}
	// The CSP allows exactly the page's style.
	style := regexp.MustCompile(`(?s)<style>(.*)</style>`).FindStringSubmatch(page)
	sum := sha256.Sum256([]byte(style[1]))
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") ||
		!strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q does not allow the style by hash", csp)
	}
	fields := hiddenFields(t, page)
	if fields.Get("state") != `st"<ate>&` || fields.Get("client_id") != r.op.ClientID() {
		t.Fatalf("hidden fields %v", fields)
	}

	// Continue: a plain form POST signs in and redirects with a code.
	fields.Set(loginActionField, "continue")
	resp, _ = r.send(mustRequest(t, http.MethodPost, r.op.Issuer()+"/authorize", fields))
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != `st"<ate>&` {
		t.Fatalf("continue: %d %v", resp.StatusCode, loc)
	}

	// With the provider session: single sign-on, no page.
	resp, _ = r.send(mustRequest(t, http.MethodGet, r.authorizeURL(), nil))
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("second sign-in: %d, want a redirect without the page", resp.StatusCode)
	}
	// prompt=login asks again.
	resp, _ = r.send(mustRequest(t, http.MethodGet, r.authorizeURL(oauth2.SetAuthURLParam("prompt", "login")), nil))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("prompt=login: %d, want the page", resp.StatusCode)
	}
}

func TestLoginPageNeverForPromptNone(t *testing.T) {
	r := newRP(t, Config{LoginPage: true})
	resp, _ := r.send(mustRequest(t, http.MethodGet, r.authorizeURL(oauth2.SetAuthURLParam("prompt", "none")), nil))
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none: %d %v", resp.StatusCode, loc)
	}
}

func TestLoginPageCancel(t *testing.T) {
	r := newRP(t, Config{LoginPage: true})
	_, page := r.send(mustRequest(t, http.MethodGet, r.authorizeURL(), nil))
	fields := hiddenFields(t, page)
	fields.Set(loginActionField, "cancel")
	resp, _ := r.send(mustRequest(t, http.MethodPost, r.op.Issuer()+"/authorize", fields))
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" {
		t.Fatalf("cancel: %d %v", resp.StatusCode, loc)
	}
	if r.op.Stats().SuccessfulGrants["authorization_code"] != 0 {
		t.Fatal("a grant after cancel")
	}
}

// TestNoLoginPageByDefault: every other test relies on /authorize signing
// in at once.
func TestNoLoginPageByDefault(t *testing.T) {
	r := newRP(t, Config{})
	resp, _ := r.send(mustRequest(t, http.MethodGet, r.authorizeURL(), nil))
	if loc, _ := resp.Location(); resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("%d, want a redirect with a code", resp.StatusCode)
	}
}

func mustRequest(t *testing.T, method, u string, form url.Values) *http.Request {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}
