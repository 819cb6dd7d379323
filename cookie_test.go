package oidcsession_test

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

func TestBadCookiesAreUnauthenticated(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	good := h.b.cookieHeader()
	value := strings.TrimPrefix(good, cookieName+"=")
	other := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithKeys([]byte("another-hash-key-another-hash-key"), []byte("another-block-ke"))}})
	other.b.startSession()
	flip := []byte(value)
	flip[len(flip)/2] ^= 1
	tests := map[string]string{
		"tampered":       cookieName + "=" + string(flip),
		"truncated":      cookieName + "=" + value[:len(value)/2],
		"one byte short": cookieName + "=" + value[:len(value)-1],
		"foreign key":    other.b.cookieHeader(),
		"oversized":      cookieName + "=" + strings.Repeat("A", 30000),
		"garbage":        cookieName + "=%%%not-base64!!",
		"empty":          cookieName + "=",
		"quoted garbage": cookieName + `="abc"`,
		"orphan chunk":   cookieName + ".1=" + value[:100],
		"bad chunks":     cookieName + ".0=" + value[:100] + "; " + cookieName + ".1=zzz",
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			r := h.b.get("/api/me", withCookie(c))
			if r.status != 401 || r.json(t)["error"] != "unauthenticated" || !clears(r, cookieName) {
				t.Fatalf("%d %s %v", r.status, r.body, r.header.Values("Set-Cookie"))
			}
			if p := h.b.get("/app", withCookie(c, pageAccept)); p.status != 302 {
				t.Fatalf("page: %d", p.status)
			}
		})
	}
	if r := h.b.get("/api/me", withCookie("a=b; "+good+"; c=d")); r.status != 200 {
		t.Fatalf("good cookie among others: %d", r.status)
	}
}

func TestKeyRotation(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	old := h.b.cookieHeader()
	newHash, newBlock := []byte("new-hash-key-new-hash-key-new-ha"), []byte("new-block-key-16")
	rotated := h.sibling(oidcsession.WithKeys(newHash, newBlock, hashKey, blockKey))
	rec := serve(rotated.Require()(http.NotFoundHandler()), "GET", "/x", withCookie(old))
	resealed := rec.Result().Cookies()
	if rec.Code != 404 || len(resealed) != 1 || resealed[0].Name != cookieName {
		t.Fatalf("old key: %d, a session sealed with it was not re-sealed (%d cookies)", rec.Code, len(resealed))
	}
	newOnly := h.sibling(oidcsession.WithKeys(newHash, newBlock)).Require()(http.NotFoundHandler())
	if rec := serve(newOnly, "GET", "/x", withCookie(cookieName+"="+resealed[0].Value)); rec.Code != 404 || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("re-sealed cookie under the new key alone: %d", rec.Code)
	}
	if rec := serve(newOnly, "GET", "/x", withCookie(old)); rec.Code != 401 {
		t.Fatalf("retired key still opens: %d", rec.Code)
	}
}

// sibling is another Middleware for the harness's provider and clock.
func (h *harness) sibling(opts ...oidcsession.Option) *oidcsession.Middleware {
	h.t.Helper()
	m, err := oidcsession.New(discover(h.t, h.op), oauth2.Config{ClientID: h.op.ClientID(), ClientSecret: h.op.ClientSecret(), RedirectURL: h.app.URL + "/auth/callback"},
		append([]oidcsession.Option{oidcsession.WithKeys(hashKey, blockKey), oidcsession.WithClock(h.clock.Now)}, opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

func TestChunkingWithLargeTokens(t *testing.T) {
	h := newHarness(t, setup{op: oidcsessiontest.Config{AccessTokenClaims: map[string]any{"padding": strings.Repeat("p", 6144)}}})
	lines := setCookies(h.b.get("/test/signin", nil), cookieName)
	if len(lines) < 3 {
		t.Fatalf("an 8 KB token was stored in %d cookies", len(lines))
	}
	for i, l := range lines {
		if len(l) > 4096 || !strings.HasPrefix(l, cookieName+"."+strconv.Itoa(i)+"=") {
			t.Fatalf("chunk %d: %d bytes, %.30s", i, len(l), l)
		}
	}
	h.b.me()
	h.clock.Advance(6 * time.Minute)
	h.b.me()
	h.op.FailNextRefreshes(1, 400, "invalid_grant")
	h.clock.Advance(6 * time.Minute)
	r := h.b.get("/app", nil)
	if r.status != 401 || !clears(r, cookieName) || len(setCookies(r, cookieName)) < 3 {
		t.Fatalf("terminal failure did not clear every chunk: %d, %d lines", r.status, len(setCookies(r, cookieName)))
	}
}

func TestSessionTooLargeAtSignIn(t *testing.T) {
	h := newHarness(t, setup{
		op:   oidcsessiontest.Config{AccessTokenClaims: map[string]any{"padding": strings.Repeat("p", 20000)}},
		opts: []oidcsession.Option{oidcsession.WithMaxChunks(2)},
	})
	if r := h.b.get("/test/signin", nil); r.status != 500 || !strings.Contains(r.body, "too large") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if h.stats().Revocations != 1 {
		t.Fatal("the refresh token of a session that could not be stored was not revoked")
	}
}

func TestInsecureCookies(t *testing.T) {
	h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithInsecureCookies()}})
	lines := setCookies(h.b.get("/test/signin", nil), "oidcsession=")
	if len(lines) != 1 || strings.Contains(lines[0], "Secure") {
		t.Fatalf("development cookie: %v", lines)
	}
}

// TestStrayChunksAreDeleted (issue 6.10): every cookie in the session's
// namespace that the session does not use is deleted when the session is
// written or cleared: orphan chunks, non-canonical indices and indices at
// or past the chunk limit.
func TestStrayChunksAreDeleted(t *testing.T) {
	strays := []string{cookieName + ".01", cookieName + ".-1", cookieName + ".+0", cookieName + ".5", cookieName + ".100", cookieName + ".x"}
	junk := func(names ...string) string {
		var parts []string
		for _, n := range names {
			parts = append(parts, n+"=junk")
		}
		return strings.Join(parts, "; ")
	}
	deleted := func(r response) map[string]bool {
		out := map[string]bool{}
		for _, l := range r.header.Values("Set-Cookie") {
			if name, _, ok := strings.Cut(l, "="); ok && strings.Contains(l, "Max-Age=0") {
				out[name] = true
			}
		}
		return out
	}
	h := newHarness(t, setup{})
	if r := h.b.get("/api/me", withCookie(junk(cookieName+".1"))); r.status != 401 || !deleted(r)[cookieName+".1"] {
		t.Fatalf("orphan chunk: %d, deleted %v", r.status, deleted(r))
	}
	h.b.startSession()
	h.clock.Advance(6 * time.Minute)
	r := h.b.get("/app", withCookie(h.b.cookieHeader()+"; "+junk(strays...)))
	for _, n := range strays {
		if r.status != 200 || !deleted(r)[n] {
			t.Errorf("%s not deleted by a write (%d, deleted %v)", n, r.status, deleted(r))
		}
	}
	r = h.b.get("/api/me", withCookie(junk(append(strays, cookieName+".0")...)))
	for _, n := range append(strays, cookieName+".0") {
		if !deleted(r)[n] {
			t.Errorf("%s of an untrusted session not deleted", n)
		}
	}
}

// TestPreviousReleaseCookieOpens: a cookie sealed by the previous release
// (payload format version 1) still opens, and is rewritten in the current
// format on the session's next write.
func TestPreviousReleaseCookieOpens(t *testing.T) {
	b, err := os.ReadFile("testdata/compat/session-v1.cookie")
	if err != nil {
		t.Fatal(err)
	}
	op := oidcsessiontest.New(t, oidcsessiontest.Config{})
	// The golden session was signed in at 2027-01-15T08:00:00Z (Unix
	// 1.8e9) with a 5-minute access token; it is valid for its absolute
	// lifetime from then.
	clock := oidcsessiontest.NewClock(time.Unix(1_800_000_000, 0).Add(time.Minute))
	m, err := oidcsession.New(discover(t, op), oauth2.Config{ClientID: "client"},
		oidcsession.WithKeys(hashKey, blockKey), oidcsession.WithClock(clock.Now), oidcsession.WithLifetime(100*365*24*time.Hour, 0))
	if err != nil {
		t.Fatal(err)
	}
	var seen *oidcsession.Session
	rec := serve(m.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen, _ = oidcsession.FromContext(r.Context()) })),
		"GET", "/", withCookie(cookieName+"="+strings.TrimSpace(string(b))))
	if rec.Code != 200 || seen == nil || seen.Subject() != "user-1" || !seen.HasRefreshToken() {
		t.Fatalf("version 1 cookie: %d %v", rec.Code, seen)
	}
	var ui map[string]any
	if ok, err := seen.UserInfo(&ui); !ok || err != nil || ui["name"] != "Test User" {
		t.Fatalf("userinfo of a version 1 cookie: %v %v", ui, err)
	}
}
