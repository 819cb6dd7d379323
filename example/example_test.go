package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
	"github.com/oidcsession/oidcsession/redisstore"
)

// lockedBuffer collects the app's output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startExample runs the example with its embedded provider on free ports
// and returns its base URL and output.
func startExample(t *testing.T, extra map[string]string) (string, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	env := map[string]string{"ADDR": "127.0.0.1:0", "OIDC_TEST_ADDR": "127.0.0.1:0"}
	for k, v := range extra {
		env[k] = v
	}
	out := &lockedBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return env[k] }, out, func(addr string) { ready <- addr })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr, out
	case err := <-done:
		done <- err
		t.Fatalf("run: %v\n%s", err, out)
	case <-time.After(10 * time.Second):
		t.Fatalf("the app did not start\n%s", out)
	}
	return "", nil
}

// browser is an http.Client with a cookie jar that follows redirects.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}, base: base}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) get(path, accept string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	req.Header.Set("Accept", accept)
	return b.do(req)
}

const pageAccept = "text/html,*/*;q=0.8"

// signIn follows /app to the test provider's sign-in page and presses
// Continue, as a person would.
func (b *browser) signIn() (*http.Response, string) {
	b.t.Helper()
	resp, page := b.get("/app", pageAccept)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Continue as <strong>Test User</strong>") {
		b.t.Fatalf("/app did not lead to the sign-in page: %d %s\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		form.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	form.Set("oidcsessiontest_action", "continue")
	req, _ := http.NewRequest(http.MethodPost, resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+"/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", pageAccept)
	return b.do(req)
}

// TestExample starts the example with its embedded provider on free ports
// and walks it like a browser: the home page, sign in through the test
// provider's page, the app page, the API, sign out.
func TestExample(t *testing.T) {
	base, out := startExample(t, nil)
	b := newBrowser(t, base)

	if resp, body := b.get("/", pageAccept); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign in") || !strings.Contains(body, "Test provider.") {
		t.Fatalf("home: %d\n%s", resp.StatusCode, body)
	}
	resp, body := b.signIn()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != base+"/app" || !strings.Contains(body, "Signed in as <code>user-1</code>") {
		t.Fatalf("after Continue: %d %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	for _, want := range []string{`data-expires-at="`, `data-refresh-at="`, "access tokens live 30s", `id="outage"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/app lacks %q", want)
		}
	}
	_, body = b.get("/api/me", "application/json")
	var me struct {
		Sub       string         `json:"sub"`
		ExpiresAt string         `json:"expires_at"`
		RefreshAt string         `json:"refresh_at"`
		Claims    map[string]any `json:"claims"`
		UserInfo  map[string]any `json:"userinfo"`
	}
	if err := json.Unmarshal([]byte(body), &me); err != nil || me.Sub != "user-1" || me.UserInfo["email"] == nil {
		t.Fatalf("/api/me: %s", body)
	}
	exp, err1 := time.Parse(time.RFC3339, me.ExpiresAt)
	at, err2 := time.Parse(time.RFC3339, me.RefreshAt)
	// 30 s tokens: the server refreshes in the last quarter, 7.5 s, rounded up.
	if err1 != nil || err2 != nil || exp.Sub(at) != 7*time.Second {
		t.Fatalf("/api/me times: expires_at %q, refresh_at %q", me.ExpiresAt, me.RefreshAt)
	}
	// The orders API, through the proxy, with a token for its audience
	// that the browser never sees.
	resp, body = b.get("/api/orders/", "application/json")
	var orders struct {
		API      string   `json:"api"`
		Subject  string   `json:"subject"`
		Audience []string `json:"audience"`
	}
	if err := json.Unmarshal([]byte(body), &orders); resp.StatusCode != http.StatusOK || err != nil || orders.API != "orders" ||
		orders.Subject != "user-1" || len(orders.Audience) != 1 || orders.Audience[0] != "https://orders.example/" {
		t.Fatalf("/api/orders/: %d %s", resp.StatusCode, body)
	}
	if resp, body := b.get("/", pageAccept); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Welcome, Test User") || !strings.Contains(body, `id="signout"`) {
		t.Fatalf("home when signed in: %d\n%s", resp.StatusCode, body)
	}

	// Sign out as the page's script does, then follow redirect_to.
	req, _ := http.NewRequest(http.MethodPost, base+"/auth/logout", nil)
	req.Header.Set("X-Session-Refresh", "1")
	req.Header.Set("Accept", "application/json")
	resp, body = b.do(req)
	var lo struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := json.Unmarshal([]byte(body), &lo); resp.StatusCode != http.StatusOK || err != nil || !strings.Contains(lo.RedirectTo, "/end_session?") {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	req, _ = http.NewRequest(http.MethodGet, lo.RedirectTo, nil)
	resp, body = b.do(req)
	if resp.Request.URL.String() != base+"/signed-out" || !strings.Contains(body, "You are signed out") || !strings.Contains(body, "Sign in again") {
		t.Fatalf("after logout: %s\n%s", resp.Request.URL, body)
	}
	for _, path := range []string{"/api/me", "/api/orders/"} {
		if resp, body := b.get(path, "application/json"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s after logout: %d %s", path, resp.StatusCode, body)
		}
	}
	// Signing in again asks again: the provider's session ended too.
	if resp, _ := b.signIn(); resp.Request.URL.String() != base+"/app" {
		t.Fatalf("second sign-in ended at %s", resp.Request.URL)
	}

	for _, want := range []string{"embedded test provider", "random keys", "plain http", "open " + base + "/"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestOrdersAPIRefusesOtherTokens: the orders API behind the proxy takes
// only the provider's tokens for its own audience.
func TestOrdersAPIRefusesOtherTokens(t *testing.T) {
	op := oidcsessiontest.New(t, oidcsessiontest.Config{})
	provider, err := oidc.NewProvider(context.Background(), op.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(oidc.ClientContext(context.Background(), op.Client()))
	defer cancel()
	api, err := startOrdersAPI(ctx, provider, "https://orders.example/")
	if err != nil {
		t.Fatal(err)
	}
	own, _ := op.IssueTokens(oidcsessiontest.IssueOptions{}) // audience: the client
	for name, token := range map[string]string{"none": "", "the session's own": own.AccessToken, "garbage": "x.y.z"} {
		req, _ := http.NewRequest(http.MethodGet, api.url+"/", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || (token != "" && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)) {
			t.Errorf("%s: %d %v", name, resp.StatusCode, resp.Header)
		}
	}
}

// TestPagesStrictCSP: scripts and styles only by this response's nonce,
// no inline code or handlers, the helper loaded with its integrity.
func TestPagesStrictCSP(t *testing.T) {
	base, _ := startExample(t, nil)
	b := newBrowser(t, base)
	b.signIn()
	for _, path := range []string{"/", "/app", "/signed-out"} {
		b2 := b
		if path == "/signed-out" {
			b2 = newBrowser(t, base)
		}
		resp, body := b2.get(path, pageAccept)
		csp := resp.Header.Get("Content-Security-Policy")
		nonce := regexp.MustCompile(`'nonce-([A-Za-z0-9_-]{22})'`).FindStringSubmatch(csp)
		if resp.StatusCode != http.StatusOK || nonce == nil || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "require-trusted-types-for 'script'") {
			t.Fatalf("%s: %d CSP %q", path, resp.StatusCode, csp)
		}
		for _, tag := range regexp.MustCompile(`<(script|style)[^>]*>`).FindAllString(body, -1) {
			if !strings.Contains(tag, `nonce="`+nonce[1]+`"`) {
				t.Errorf("%s: %s without the response's nonce", path, tag)
			}
		}
		if regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
			t.Errorf("%s: an inline event handler", path)
		}
	}
	_, home := b.get("/", pageAccept)
	classic := oidcsession.ClassicScript()
	if !strings.Contains(html.UnescapeString(home), `src="/static/oidcsession/`+classic.Name+`" integrity="`+classic.Integrity+`"`) {
		t.Errorf("home does not load the classic build with its integrity:\n%s", home)
	}
	_, app := b.get("/app", pageAccept)
	mod := oidcsession.ModuleScript()
	if !strings.Contains(app, `"imports":{"oidcsession":"/static/oidcsession/`+mod.Name+`"}`) || !strings.Contains(app, `"`+mod.Integrity+`"`) {
		t.Errorf("/app's import map lacks the module or its integrity")
	}
}

func TestStaticFiles(t *testing.T) {
	base, _ := startExample(t, nil)
	b := newBrowser(t, base)
	for path, ctype := range map[string]string{
		"/static/app.js":  "text/javascript; charset=utf-8",
		"/static/home.js": "text/javascript; charset=utf-8",
		"/favicon.svg":    "image/svg+xml",
		"/favicon.ico":    "image/svg+xml",
		"/static/oidcsession/" + oidcsession.ModuleScript().Name:  "text/javascript; charset=utf-8",
		"/static/oidcsession/" + oidcsession.ClassicScript().Name: "text/javascript; charset=utf-8",
	} {
		resp, body := b.get(path, "*/*")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ctype || body == "" {
			t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if resp, _ := b.get("/static/nope.js", "*/*"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown static file: %d", resp.StatusCode)
	}
}

func TestOutageSwitch(t *testing.T) {
	base, _ := startExample(t, map[string]string{"OIDC_TEST_TOKEN_TTL": "5s"})
	b := newBrowser(t, base)
	post := func(form string, hdr http.Header) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/demo/outage", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, body := b.do(req)
		return resp.StatusCode, body
	}
	if status, body := post("on=true", nil); status != http.StatusOK || strings.TrimSpace(body) != `{"outage":true}` {
		t.Fatalf("on: %d %s", status, body)
	}
	_, app := b.signIn()
	if !strings.Contains(app, `aria-pressed="true"`) || !strings.Contains(app, "End provider outage") || !strings.Contains(app, "access tokens live 5s") {
		t.Fatalf("/app does not show the outage or the lifetime")
	}
	if status, _ := post("on=false", http.Header{"Sec-Fetch-Site": {"cross-site"}}); status != http.StatusForbidden {
		t.Fatalf("a cross-site switch: %d", status)
	}
	if status, _ := post("on=maybe", nil); status != http.StatusBadRequest {
		t.Fatalf("on=maybe: %d", status)
	}
	// During the outage a refresh inside the window (the last 1.25 s of a
	// 5 s token) is answered 503 with Retry-After, and the session stays.
	refresh := func() (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/auth/refresh", nil)
		req.Header.Set("X-Session-Refresh", "1")
		req.Header.Set("Accept", "application/json")
		return b.do(req)
	}
	time.Sleep(4 * time.Second)
	if resp, body := refresh(); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "temporarily_unavailable") {
		t.Fatalf("a refresh during the outage: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if status, body := post("on=false", nil); status != http.StatusOK || strings.TrimSpace(body) != `{"outage":false}` {
		t.Fatalf("off: %d %s", status, body)
	}
	if resp, body := refresh(); resp.StatusCode != http.StatusOK || !strings.Contains(body, "expires_at") {
		t.Fatalf("a refresh after the outage: %d %s", resp.StatusCode, body)
	}
}

func TestTokenTTL(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 30 * time.Second, "5s": 5 * time.Second, "2m": 2 * time.Minute} {
		if got, err := tokenTTL(in); err != nil || got != want {
			t.Errorf("tokenTTL(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"1s", "soon", "-5s", "10"} {
		if _, err := tokenTTL(in); err == nil {
			t.Errorf("tokenTTL(%q) accepted", in)
		}
	}
}

func TestSessionKeys(t *testing.T) {
	hex32 := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		name, in string
		want     int
		wantErr  bool
	}{
		{"empty", "", 0, false},
		{"hex pair", hex32 + ":" + hex32, 2, false},
		{"two pairs, base64", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=:MDEyMzQ1Njc4OWFiY2RlZg==, " + hex32 + ":" + hex32, 4, false},
		{"no colon", hex32, 0, true},
		{"not a key", "???:" + hex32, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := sessionKeys(tt.in)
			if (err != nil) != tt.wantErr || len(keys) != tt.want {
				t.Fatalf("sessionKeys(%q) = %d keys, %v", tt.in, len(keys), err)
			}
			if err != nil && strings.Contains(err.Error(), "???") {
				t.Fatalf("error repeats the key: %v", err)
			}
		})
	}
}

// TestPromptForSection11Provider points the example at a provider that
// follows OIDC Core section 11 (as oidc-provider does): without
// OIDC_PROMPT its sessions get no refresh token; with OIDC_PROMPT=consent
// they do (the silent attempt fails, the consent fallback is sent).
func TestPromptForSection11Provider(t *testing.T) {
	op := oidcsessiontest.New(t, oidcsessiontest.Config{OfflineAccessRequiresConsent: true})
	for _, tt := range []struct {
		prompt     string
		refreshing bool
	}{{"", false}, {"consent", true}} {
		t.Run("OIDC_PROMPT="+tt.prompt, func(t *testing.T) {
			base, out := startExample(t, map[string]string{
				"OIDC_ISSUER": op.Issuer(), "OIDC_CLIENT_ID": op.ClientID(), "OIDC_CLIENT_SECRET": op.ClientSecret(), "OIDC_PROMPT": tt.prompt,
			})
			b := newBrowser(t, base)
			if resp, body := b.get("/app", pageAccept); resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/app" {
				t.Fatalf("sign-in: %d at %s: %s\n%s", resp.StatusCode, resp.Request.URL, body, out)
			}
			resp, body := b.get("/api/me", "application/json")
			if resp.StatusCode != http.StatusOK || strings.Contains(body, `"refresh_at"`) != tt.refreshing {
				t.Fatalf("/api/me: %d %s; want a refresh token: %t", resp.StatusCode, body, tt.refreshing)
			}
		})
	}
	t.Run("a bad prompt is refused", func(t *testing.T) {
		err := run(context.Background(), func(k string) string {
			return map[string]string{"ADDR": "127.0.0.1:0", "OIDC_ISSUER": op.Issuer(), "OIDC_CLIENT_ID": op.ClientID(), "OIDC_PROMPT": "none"}[k]
		}, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), "WithPrompt") {
			t.Fatalf("run: %v", err)
		}
	})
}

// post sends a form POST as the page's script does: same-origin, with the
// CSRF header, asking for JSON; hdr adds or overrides headers.
func (b *browser) post(path string, form url.Values, hdr http.Header) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set(oidcsession.CSRFHeader, "1")
	for k, v := range hdr {
		req.Header[k] = v
	}
	return b.do(req)
}

// status is the status of a GET of path asking for JSON.
func (b *browser) status(path string) int {
	b.t.Helper()
	resp, _ := b.get(path, "application/json")
	return resp.StatusCode
}

// listed is one row of /app's "Your sessions" card.
type listed struct {
	id      string
	current bool
}

var deviceRow = regexp.MustCompile(`<li class="device" data-session-id="([^"]+)"( data-current)?>`)

// devices reads the "Your sessions" card of /app.
func (b *browser) devices() []listed {
	b.t.Helper()
	resp, body := b.get("/app", pageAccept)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="device-list"`) {
		b.t.Fatalf("/app has no device list: %d\n%s", resp.StatusCode, body)
	}
	var out []listed
	for _, m := range deviceRow.FindAllStringSubmatch(body, -1) {
		out = append(out, listed{m[1], m[2] != ""})
	}
	return out
}

// self returns the ID of the row marked "This device".
func (b *browser) self() string {
	b.t.Helper()
	for _, d := range b.devices() {
		if d.current {
			return d.id
		}
	}
	b.t.Fatal("no row is marked as this device")
	return ""
}

// others returns the IDs of the rows not marked "This device", after
// checking that exactly one row is.
func others(t *testing.T, ds []listed) []string {
	t.Helper()
	var ids []string
	current := 0
	for _, d := range ds {
		if d.current {
			current++
		} else {
			ids = append(ids, d.id)
		}
	}
	if current != 1 {
		t.Fatalf("%d rows marked as this device: %v", current, ds)
	}
	return ids
}

// issuerOf reads the embedded provider's issuer from the app's log.
func issuerOf(t *testing.T, out *lockedBuffer) string {
	t.Helper()
	m := regexp.MustCompile(`issuer=(http://\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no issuer in the output:\n%s", out)
	}
	return m[1]
}

// testKeys is a fixed SESSION_KEYS, so a test can open the app's records.
var testKeys = strings.Repeat("ab", 32) + ":" + strings.Repeat("cd", 32)

// TestSessionsOnRedis runs the example with REDIS_URL on a redis-server of
// its own: three browsers sign in as the same user; /app lists three
// sessions, one marked as this device; a cross-origin POST and a POST
// without the CSRF header are refused; a session of another user is
// refused (and kept); signing out one device makes that browser's next
// request 401 and leaves the others; "sign out other devices" ends the
// rest.
func TestSessionsOnRedis(t *testing.T) {
	redisURL := startRedis(t)
	base, out := startExample(t, map[string]string{"REDIS_URL": redisURL, "SESSION_KEYS": testKeys})
	if !strings.Contains(out.String(), "sessions are kept in Redis") {
		t.Fatalf("the output does not say where sessions are kept:\n%s", out)
	}
	a, b, c := newBrowser(t, base), newBrowser(t, base), newBrowser(t, base)
	for _, br := range []*browser{a, b, c} {
		if resp, _ := br.signIn(); resp.Request.URL.Path != "/app" {
			t.Fatalf("sign-in ended at %s", resp.Request.URL)
		}
	}
	if _, home := newBrowser(t, base).get("/", pageAccept); !strings.Contains(home, "The session lives in Redis") {
		t.Errorf("home does not say sessions live in Redis")
	}
	// Each browser sees the same three sessions, with its own marked.
	idA, idB, idC := a.self(), b.self(), c.self()
	want := []string{idA, idB, idC}
	slices.Sort(want)
	if len(slices.Compact(slices.Clone(want))) != 3 {
		t.Fatalf("three browsers, session IDs %v", want)
	}
	for _, br := range []*browser{a, b, c} {
		ds := br.devices()
		others(t, ds) // exactly one marked as this device
		if !ds[0].current {
			t.Errorf("this device is not listed first: %v", ds)
		}
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.id)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, want) {
			t.Fatalf("listed %v, want the three sessions %v", ids, want)
		}
	}

	t.Run("cross-origin POST refused", func(t *testing.T) {
		for name, hdr := range map[string]http.Header{
			"Sec-Fetch-Site: cross-site": {"Sec-Fetch-Site": {"cross-site"}},
			"a foreign Origin":           {"Sec-Fetch-Site": nil, "Origin": {"https://evil.example"}},
			"no X-Session-Refresh":       {oidcsession.CSRFHeader: nil},
		} {
			for _, path := range []string{"/api/sessions/sign-out", "/api/sessions/sign-out-others"} {
				resp, body := a.post(path, url.Values{"id": {idB}}, hdr)
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"error":"csrf"`) {
					t.Errorf("%s, %s: %d %s", path, name, resp.StatusCode, body)
				}
			}
		}
		if b.status("/api/me") != http.StatusOK || c.status("/api/me") != http.StatusOK {
			t.Fatal("a refused POST ended a session")
		}
	})

	t.Run("another user's session refused", func(t *testing.T) {
		m2, id2 := otherUsersSession(t, redisURL)
		resp, body := a.post("/api/sessions/sign-out", url.Values{"id": {id2}}, nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"error":"not_found"`) {
			t.Fatalf("sign-out of user-2's session: %d %s", resp.StatusCode, body)
		}
		if got, err := m2.Sessions(context.Background(), "user-2"); err != nil || len(got) != 1 || got[0].ID != id2 {
			t.Fatalf("user-2's sessions after the refused POST: %v, %v", got, err)
		}
		if resp, body := a.post("/api/sessions/sign-out", url.Values{}, nil); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("no id: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("sign out one device", func(t *testing.T) {
		resp, body := a.post("/api/sessions/sign-out", url.Values{"id": {idB}}, nil)
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != `{"signed_out":1}` {
			t.Fatalf("sign-out of b: %d %s", resp.StatusCode, body)
		}
		if resp, body := b.get("/api/me", "application/json"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("b after its sign-out: %d %s", resp.StatusCode, body)
		}
		if a.status("/api/me") != http.StatusOK || c.status("/api/me") != http.StatusOK {
			t.Fatal("signing out b ended another session")
		}
		if ids := others(t, a.devices()); !slices.Equal(ids, []string{idC}) {
			t.Fatalf("after b's sign-out a lists %v, want [%s]", ids, idC)
		}
		if resp, _ := a.post("/api/sessions/sign-out", url.Values{"id": {idB}}, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("b's session signed out twice: %d", resp.StatusCode)
		}
	})

	t.Run("sign out other devices", func(t *testing.T) {
		resp, body := a.post("/api/sessions/sign-out-others", nil, nil)
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != `{"signed_out":1}` {
			t.Fatalf("sign-out-others: %d %s", resp.StatusCode, body)
		}
		if c.status("/api/me") != http.StatusUnauthorized || a.status("/api/me") != http.StatusOK {
			t.Fatal("after sign-out-others: c should be 401 and a 200")
		}
		if ds := a.devices(); len(ds) != 1 || !ds[0].current {
			t.Fatalf("a lists %v, want only itself", ds)
		}
		_, app := a.get("/app", pageAccept)
		if !strings.Contains(app, `<p class="muted" id="no-others">`) || !strings.Contains(app, `id="sign-out-others" type="button" data-needs-session hidden`) {
			t.Fatalf("/app with no other device:\n%s", app)
		}
	})
}

// otherUsersSession starts a session of user-2, at a provider of its own,
// in the example's Redis (same prefix and keys), as another deployment of
// the app would, and returns a Middleware that reads it and its ID.
func otherUsersSession(t *testing.T, redisURL string) (*oidcsession.Middleware, string) {
	t.Helper()
	op := oidcsessiontest.New(t, oidcsessiontest.Config{User: oidcsessiontest.User{Subject: "user-2"}})
	provider, err := oidc.NewProvider(context.Background(), op.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	st, err := redisstore.New(rdb, redisstore.WithPrefix(redisPrefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := sessionKeys(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	m, err := oidcsession.New(provider, oauth2.Config{ClientID: op.ClientID(), ClientSecret: op.ClientSecret(), RedirectURL: "https://app2.example/cb"},
		oidcsession.WithKeys(keys...), oidcsession.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := op.IssueTokens(oidcsessiontest.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.StartSession(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "https://app2.example/", nil), tok)
	if err != nil {
		t.Fatal(err)
	}
	return m, s.ID()
}

// TestBackChannelLogoutOnRedis: with REDIS_URL, signing out at the
// embedded provider (its end_session endpoint, as another app of the same
// provider would send the user there) makes the provider post a logout
// token to /auth/backchannel-logout, and that browser's session ends at
// once; a browser with another provider session keeps its own.
func TestBackChannelLogoutOnRedis(t *testing.T) {
	base, out := startExample(t, map[string]string{"REDIS_URL": startRedis(t)})
	a, b := newBrowser(t, base), newBrowser(t, base)
	a.signIn()
	b.signIn()
	if a.status("/api/me") != http.StatusOK || b.status("/api/me") != http.StatusOK {
		t.Fatal("not signed in")
	}
	endSessionAtProvider(t, a, issuerOf(t, out))
	if resp, body := a.get("/api/me", "application/json"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "session_expired") {
		t.Fatalf("a after the provider's logout: %d %s", resp.StatusCode, body)
	}
	if b.status("/api/me") != http.StatusOK {
		t.Fatal("b's session ended with a's provider session")
	}
	if ds := b.devices(); len(ds) != 1 {
		t.Fatalf("b lists %v, want only itself", ds)
	}
	if !strings.Contains(out.String(), "oidcsession: back-channel logout") {
		t.Errorf("the app did not log the back-channel logout:\n%s", out)
	}
}

// endSessionAtProvider signs b out at the provider directly, without the
// app's sign-out: the provider ends b's provider session and posts a
// logout token for it.
func endSessionAtProvider(t *testing.T, b *browser, issuer string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, issuer+"/end_session", nil)
	if resp, body := b.do(req); resp.StatusCode != http.StatusOK || !strings.Contains(body, "signed out of the test provider") {
		t.Fatalf("end_session: %d %s", resp.StatusCode, body)
	}
}

// TestCookieMode: without REDIS_URL the sessions card explains what
// listing devices needs, the sign-out endpoints answer 501 no_store, and
// back-channel logout still works: a session whose provider session ended
// is refused at its next refresh (cookies cannot be revoked before).
func TestCookieMode(t *testing.T) {
	base, out := startExample(t, map[string]string{"OIDC_TEST_TOKEN_TTL": "2s"})
	if !strings.Contains(out.String(), "REDIS_URL is not set: sessions are kept in sealed cookies") {
		t.Fatalf("the output does not say where sessions are kept:\n%s", out)
	}
	a, b := newBrowser(t, base), newBrowser(t, base)
	_, app := a.signIn()
	b.signIn()
	if !strings.Contains(app, `id="sessions-unlisted"`) || !strings.Contains(app, "REDIS_URL=redis://127.0.0.1:6379/0") || strings.Contains(app, `id="device-list"`) {
		t.Fatalf("/app's sessions card in cookie mode:\n%s", app)
	}
	for _, path := range []string{"/api/sessions/sign-out", "/api/sessions/sign-out-others"} {
		if resp, body := a.post(path, url.Values{"id": {"x"}}, nil); resp.StatusCode != http.StatusNotImplemented || !strings.Contains(body, `"error":"no_store"`) {
			t.Errorf("%s in cookie mode: %d %s", path, resp.StatusCode, body)
		}
	}

	endSessionAtProvider(t, a, issuerOf(t, out))
	// Both tokens expire within 2 s; /app refreshes inline, and a's
	// refresh finds its provider session logged out.
	time.Sleep(2500 * time.Millisecond)
	if resp, body := a.get("/app", "application/json"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "session_expired") {
		t.Fatalf("a after the provider's logout and its token's expiry: %d %s", resp.StatusCode, body)
	}
	if b.status("/app") != http.StatusOK {
		t.Fatal("b's session ended with a's provider session")
	}
}

// TestRedisURLErrors: a REDIS_URL that cannot be used stops the app at
// start with an error that says why, and never repeats the password.
func TestRedisURLErrors(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := closed.Addr().String()
	closed.Close()
	for _, tt := range []struct{ name, url, want string }{
		{"not a URL", "redis://user:hunter2@[::1", "want redis://"},
		{"another scheme", "https://user:hunter2@127.0.0.1/", "invalid URL scheme"},
		{"a bad database", "redis://user:hunter2@127.0.0.1:6379/x", "invalid database"},
		{"nobody listening", "redis://user:hunter2@" + nobody + "/0", "no answer from Redis at " + nobody},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"ADDR": "127.0.0.1:0", "OIDC_TEST_ADDR": "127.0.0.1:0", "REDIS_URL": tt.url}
			err := run(context.Background(), func(k string) string { return env[k] }, io.Discard, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("run: %v; want an error with %q and without the password", err, tt.want)
			}
		})
	}
}
