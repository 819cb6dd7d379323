package oidcsession

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

func TestBadCookiesAreUnauthenticated(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	good := h.cookieHeader(h.client)
	value := strings.TrimPrefix(good, cookieName+"=")

	foreign := newSealer(&config{keyPairs: [][]byte{[]byte("another-hash-key-another-hash-key"), []byte("another-block-ke")}, maxChunks: 5, absoluteLifetime: time.Hour})
	foreignValue, _ := foreign.seal(cookieName, encodePayload(nil, sampleSession()))
	otherName, _ := h.m.store.(*cookieStore).sealer.seal("other", encodePayload(nil, sampleSession()))
	flip := []byte(value)
	flip[len(flip)/2] ^= 1

	tests := map[string]string{
		"tampered":         cookieName + "=" + string(flip),
		"truncated":        cookieName + "=" + value[:len(value)/2],
		"one byte short":   cookieName + "=" + value[:len(value)-1],
		"foreign key":      cookieName + "=" + foreignValue,
		"sealed for other": cookieName + "=" + otherName,
		"oversized":        cookieName + "=" + strings.Repeat("A", 30000),
		"garbage":          cookieName + "=%%%not-base64!!",
		"empty":            cookieName + "=",
		"quoted garbage":   cookieName + `="abc"`,
		"orphan chunk":     cookieName + ".1=" + value[:100],
		"bad chunks":       cookieName + ".0=" + value[:100] + "; " + cookieName + ".1=zzz",
	}
	for name, hdr := range tests {
		t.Run(name, func(t *testing.T) {
			c := h.newClient()
			r := h.get(c, "/api/x", http.Header{"Cookie": {hdr}})
			if r.StatusCode != 401 || r.json(t)["error"] != "unauthenticated" {
				t.Fatalf("%d %s", r.StatusCode, r.body)
			}
			if !clearsSession(r, cookieName) {
				t.Fatal("an untrusted cookie was not cleared")
			}
			if p := h.get(c, "/app/x", http.Header{"Cookie": {hdr}, "Accept": {"text/html"}}); p.StatusCode != 302 {
				t.Fatalf("page: %d", p.StatusCode)
			}
		})
	}
	if r := h.get(h.app.Client(), "/api/x", http.Header{"Cookie": {"a=b; " + good + "; c=d"}}); r.StatusCode != 200 {
		t.Fatalf("good cookie among others: %d", r.StatusCode)
	}
}

// newMiddlewareFor builds a second Middleware on the harness's provider.
func newMiddlewareFor(t *testing.T, h *harness, opts ...Option) *Middleware {
	t.Helper()
	provider, err := oidc.NewProvider(context.Background(), h.op.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(provider, oauth2.Config{ClientID: h.op.ClientID(), ClientSecret: h.op.ClientSecret(), Scopes: []string{oidc.ScopeOpenID}},
		append([]Option{WithClock(h.clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestKeyRotation(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	oldCookie := http.Header{"Cookie": {h.cookieHeader(h.client)}}
	newHash, newBlock := []byte("new-hash-key-new-hash-key-new-ha"), []byte("new-block-key-16")

	rotated := newMiddlewareFor(t, h, WithKeys(newHash, newBlock, testHashKey, testBlockKey))
	ok := rotated.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	rec := newRecorder(ok, "GET", "/x", oldCookie)
	if rec.Code != 200 {
		t.Fatalf("old key no longer opens: %d", rec.Code)
	}
	resealed := rec.Result().Cookies()
	if len(resealed) != 1 || resealed[0].Name != cookieName {
		t.Fatal("a session sealed with the old key was not re-sealed")
	}

	newOnly := newMiddlewareFor(t, h, WithKeys(newHash, newBlock))
	check := newOnly.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	if rec := newRecorder(check, "GET", "/x", http.Header{"Cookie": {cookieName + "=" + resealed[0].Value}}); rec.Code != 200 || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("re-sealed cookie under the new key alone: %d", rec.Code)
	}
	if rec := newRecorder(check, "GET", "/x", oldCookie); rec.Code != 401 {
		t.Fatalf("retired key still opens: %d", rec.Code)
	}
}

// bigClaims makes the provider's access tokens about size bytes long.
func bigClaims(size int) map[string]any {
	return map[string]any{"padding": strings.Repeat("p", size*3/4)}
}

func TestChunkingWithLargeTokens(t *testing.T) {
	h := newHarness(t, harnessConfig{op: oidcsessiontest.Config{AccessTokenClaims: bigClaims(8192)}})
	r := h.get(h.client, "/test/signin", nil)
	lines := setCookies(r, cookieName)
	if len(lines) < 3 {
		t.Fatalf("an 8 KB token was stored in %d cookies", len(lines))
	}
	for i, l := range lines {
		if len(l) > maxSetCookie {
			t.Fatalf("chunk %d is %d bytes", i, len(l))
		}
		if !strings.HasPrefix(l, cookieName+"."+strconv.Itoa(i)+"=") {
			t.Fatalf("chunk %d named %.30s", i, l)
		}
	}
	if r := h.get(h.client, "/api/x", nil); r.StatusCode != 200 {
		t.Fatalf("chunked session: %d %s", r.StatusCode, r.body)
	}
	h.clock.Advance(6 * time.Minute)
	if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 {
		t.Fatalf("chunked refresh: %d %s", r.StatusCode, r.body)
	}
	h.op.FailNextRefreshes(1, 400, "invalid_grant")
	h.clock.Advance(6 * time.Minute)
	r = h.get(h.client, "/app/x", nil)
	if r.StatusCode != 401 || !clearsSession(r, cookieName) || len(setCookies(r, cookieName)) < 3 {
		t.Fatalf("terminal failure did not clear every chunk: %d, %d lines", r.StatusCode, len(setCookies(r, cookieName)))
	}
}

func TestShrinkingBackToOneCookie(t *testing.T) {
	st := &cookieStore{sealer: newSealer(&config{keyPairs: [][]byte{testHashKey, testBlockKey}, maxChunks: 5, absoluteLifetime: time.Hour}), name: cookieName, absolute: time.Hour, now: time.Now}
	big := sampleSession()
	big.created = time.Now()
	big.accessToken = newToken(fakeJWT(`{"sub":"user-1"}`, 9000))
	rec := httptest.NewRecorder()
	if err := st.save(rec, httptest.NewRequest("GET", "/", nil), big); err != nil {
		t.Fatal(err)
	}
	var jar []string
	for _, c := range rec.Result().Cookies() {
		jar = append(jar, c.Name+"="+c.Value)
	}
	if len(jar) < 3 {
		t.Fatalf("%d chunks", len(jar))
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", strings.Join(jar, "; "))
	if s, err := st.load(req); err != nil || s.AccessToken() != big.AccessToken() {
		t.Fatalf("chunked load: %v", err)
	}

	small := sampleSession()
	small.created = time.Now()
	rec = httptest.NewRecorder()
	if err := st.save(rec, req, small); err != nil {
		t.Fatal(err)
	}
	var wrote, deleted []string
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			deleted = append(deleted, c.Name)
		} else {
			wrote = append(wrote, c.Name)
		}
	}
	if len(wrote) != 1 || wrote[0] != cookieName || len(deleted) != len(jar) {
		t.Fatalf("wrote %v, deleted %v of %d chunks", wrote, deleted, len(jar))
	}
}

func TestSessionTooLarge(t *testing.T) {
	st := &cookieStore{sealer: newSealer(&config{keyPairs: [][]byte{testHashKey, testBlockKey}, maxChunks: 2, absoluteLifetime: time.Hour}), name: cookieName, absolute: time.Hour, now: time.Now}
	s := sampleSession()
	s.accessToken = newToken(fakeJWT(`{}`, 20000))
	if err := st.save(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), s); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("got %v", err)
	}
}

func TestInsecureCookies(t *testing.T) {
	h := newHarness(t, harnessConfig{opts: []Option{WithInsecureCookies()}})
	r := h.get(h.client, "/test/signin", nil)
	lines := setCookies(r, "oidcsession=")
	if len(lines) != 1 || strings.Contains(lines[0], "Secure") {
		t.Fatalf("development cookie: %d lines", len(lines))
	}
}

func TestFindCookie(t *testing.T) {
	h := http.Header{"Cookie": {`a=1; session.0=x;session=v1 ; b="q"`, "session=second"}}
	tests := []struct{ name, want string }{{"session", "v1"}, {"a", "1"}, {"b", "q"}, {"session.0", "x"}, {"sess", ""}}
	for _, tt := range tests {
		if got, _ := findCookie(h, tt.name); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
