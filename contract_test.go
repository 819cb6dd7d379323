package oidcsession_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// caller is one of the four callers of the one session pipeline.
type caller string

const (
	inline  caller = "Require"               // GET /app
	try     caller = "Require(TryRefresh())" // GET /api/me
	handler caller = "RefreshHandler"        // POST /auth/refresh
	forced  caller = "RefreshSession"        // GET /test/refresh
)

var callers = []caller{inline, try, handler, forced}

// call sends a request through c with b's cookies, or with hdr's Cookie.
func (b *browser) call(c caller, hdr http.Header) response {
	b.h.t.Helper()
	switch c {
	case inline:
		return b.get("/app", hdr)
	case try:
		return b.get("/api/me", hdr)
	case handler:
		h := http.Header{}
		for k, v := range csrf {
			h[k] = v
		}
		for k, v := range hdr {
			h[k] = v
		}
		return b.post("/auth/refresh", h)
	}
	return b.refreshSession("", hdr)
}

// cookies is what an answer does to the session's cookies.
type cookies int

const (
	kept    cookies = iota // no Set-Cookie for the session
	written                // new session cookies
	cleared                // every session cookie deleted
)

// expect is one cell of the contract table.
type expect struct {
	status  int
	code    string // the JSON error code; "" for success
	cookies cookies
	grants  int // refresh-token grants this request made at the provider
}

// TestContract is the HTTP contract of the README as a table: each row a
// situation, each column a caller of the pipeline (inline refresh,
// try-refresh, the refresh handler, RefreshSession), each cell the status,
// error code, cookie effect and number of grants; in both storage modes
// (cookies, and a Store), which differ only where the table says.
func TestContract(t *testing.T) {
	ok := func(c cookies, grants int) expect { return expect{200, "", c, grants} }
	fail := func(status int, code string, c cookies, grants int) expect { return expect{status, code, c, grants} }
	tests := []struct {
		name    string
		su      setup
		prepare func(h *harness) http.Header // an optional Cookie header to send instead of the browser's
		want    map[caller]expect
		inStore map[caller]expect // where a Store answers otherwise
	}{
		{"valid session", setup{}, nil, map[caller]expect{
			inline: ok(kept, 0), try: ok(kept, 0), handler: ok(kept, 0), forced: ok(written, 1)}, nil},
		{"inside the refresh window", setup{}, advance(5*time.Minute - 10*time.Second), map[caller]expect{
			inline: ok(written, 1), try: ok(kept, 0), handler: ok(written, 1), forced: ok(written, 1)}, nil},
		{"expired", setup{}, advance(6 * time.Minute), map[caller]expect{
			inline: ok(written, 1), try: fail(401, "try_refresh", kept, 0), handler: ok(written, 1), forced: ok(written, 1)}, nil},
		{"previous cookie inside the grace window", setup{}, previousCookie(time.Second), map[caller]expect{
			inline: ok(written, 0), try: ok(written, 0), handler: ok(written, 0), forced: ok(written, 1)}, nil},
		{"previous cookie after the grace window", setup{}, previousCookie(31 * time.Second), map[caller]expect{
			// Cookies cannot tell a copy: the spent token reaches the
			// provider, whose reuse detection ends the session.
			inline: fail(401, "session_expired", cleared, 1), try: fail(401, "try_refresh", kept, 0),
			handler: fail(401, "session_expired", cleared, 1), forced: fail(401, "session_expired", cleared, 1)},
			// A Store can: the cookie is behind its session, a replayed copy.
			map[caller]expect{inline: fail(401, "token_reuse_detected", cleared, 0), try: fail(401, "token_reuse_detected", cleared, 0),
				handler: fail(401, "token_reuse_detected", cleared, 0), forced: fail(401, "token_reuse_detected", cleared, 0)}},
		{"no session", setup{}, noCookie, map[caller]expect{
			inline: fail(401, "unauthenticated", kept, 0), try: fail(401, "unauthenticated", kept, 0),
			handler: fail(401, "unauthenticated", kept, 0), forced: fail(401, "unauthenticated", kept, 0)}, nil},
		{"tampered cookie", setup{}, tampered, map[caller]expect{
			inline: fail(401, "unauthenticated", cleared, 0), try: fail(401, "unauthenticated", cleared, 0),
			handler: fail(401, "unauthenticated", cleared, 0), forced: fail(401, "unauthenticated", cleared, 0)}, nil},
		{"absolute lifetime over", setup{opts: []oidcsession.Option{oidcsession.WithLifetime(time.Hour, 0)}}, advance(time.Hour), map[caller]expect{
			inline: fail(401, "session_expired", cleared, 0), try: fail(401, "session_expired", cleared, 0),
			handler: fail(401, "session_expired", cleared, 0), forced: fail(401, "session_expired", cleared, 0)}, nil},
		{"idle timeout over", setup{opts: []oidcsession.Option{oidcsession.WithLifetime(7*24*time.Hour, time.Hour)}}, advance(time.Hour), map[caller]expect{
			inline: fail(401, "session_expired", cleared, 0), try: fail(401, "session_expired", cleared, 0),
			handler: fail(401, "session_expired", cleared, 0), forced: fail(401, "session_expired", cleared, 0)}, nil},
		{"expired without refresh token", setup{op: oidcsessiontest.Config{OmitRefreshToken: true}}, advance(6 * time.Minute), map[caller]expect{
			inline: fail(401, "session_expired", cleared, 0), try: fail(401, "try_refresh", kept, 0),
			handler: fail(401, "session_expired", cleared, 0), forced: fail(400, "invalid_request", kept, 0)}, nil},
		{"refresh refused (invalid_grant)", setup{}, failing(6*time.Minute, 400, "invalid_grant"), map[caller]expect{
			inline: fail(401, "session_expired", cleared, 1), try: fail(401, "try_refresh", kept, 0),
			handler: fail(401, "session_expired", cleared, 1), forced: fail(401, "session_expired", cleared, 1)}, nil},
		{"provider down, token expired", setup{}, failing(6*time.Minute, 503, ""), map[caller]expect{
			inline: fail(503, "temporarily_unavailable", kept, 1), try: fail(401, "try_refresh", kept, 0),
			handler: fail(503, "temporarily_unavailable", kept, 1), forced: fail(503, "temporarily_unavailable", kept, 1)}, nil},
		{"provider down, token not yet expired", setup{}, failing(5*time.Minute-10*time.Second, 503, ""), map[caller]expect{
			inline: ok(kept, 1), try: ok(kept, 0),
			handler: fail(503, "temporarily_unavailable", kept, 1), forced: fail(503, "temporarily_unavailable", kept, 1)}, nil},
	}
	for _, mode := range []string{"cookies", "store"} {
		for _, tt := range tests {
			for _, c := range callers {
				t.Run(mode+"/"+tt.name+"/"+string(c), func(t *testing.T) {
					su, want := tt.su, tt.want[c]
					if mode == "store" {
						su.opts = append([]oidcsession.Option{oidcsession.WithStore(oidcsession.NewMemoryStore())}, su.opts...)
						if w, ok := tt.inStore[c]; ok {
							want = w
						}
					}
					h := newHarness(t, su)
					h.b.startSession()
					var hdr http.Header
					if tt.prepare != nil {
						hdr = tt.prepare(h)
					}
					before := h.stats().Grants["refresh_token"]
					r := h.b.call(c, hdr)
					checkCell(t, c, r, want, h.stats().Grants["refresh_token"]-before)
				})
			}
		}
	}
}

func checkCell(t *testing.T, c caller, r response, want expect, grants int) {
	t.Helper()
	if r.status != want.status {
		t.Fatalf("status %d, want %d: %s", r.status, want.status, r.body)
	}
	if want.code != "" {
		if got := r.json(t)["error"]; got != want.code {
			t.Fatalf("error %v, want %s", got, want.code)
		}
		if r.header.Get("Content-Type") != "application/json" || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("error answer headers: %v", r.header)
		}
	}
	switch got := setCookies(r, cookieName); {
	case want.cookies == kept && len(got) != 0:
		t.Fatalf("cookies changed: %v", got)
	case want.cookies == written && (len(got) == 0 || clears(r, cookieName)):
		t.Fatalf("no new session cookie: %v", got)
	case want.cookies == written && r.header.Get("Cache-Control") != "no-store":
		t.Fatalf("new cookies without no-store: %q", r.header.Get("Cache-Control"))
	case want.cookies == cleared && !clears(r, cookieName):
		t.Fatalf("session not cleared: %v", got)
	}
	if grants != want.grants {
		t.Fatalf("%d refresh grants, want %d", grants, want.grants)
	}
	if c != forced && !strings.Contains(r.header.Get("Vary"), "Cookie") {
		t.Fatalf("no Vary: Cookie") // RefreshSession is a Go API: its caller answers
	}
}

// Preparations of the contract table. Access tokens live 5 minutes; the
// refresh window is 30 seconds; the grace window 30 seconds.

func advance(d time.Duration) func(*harness) http.Header {
	return func(h *harness) http.Header { h.clock.Advance(d); return nil }
}

func failing(d time.Duration, status int, code string) func(*harness) http.Header {
	return func(h *harness) http.Header {
		h.clock.Advance(d)
		h.op.FailNextRefreshes(1, status, code)
		return nil
	}
}

// previousCookie refreshes the session, waits, and sends the cookie from
// before the refresh.
func previousCookie(wait time.Duration) func(*harness) http.Header {
	return func(h *harness) http.Header {
		old := h.b.cookieHeader()
		h.clock.Advance(6 * time.Minute)
		h.b.me()
		h.clock.Advance(wait)
		return withCookie(old)
	}
}

func noCookie(*harness) http.Header { return withCookie("other=1") }

func tampered(h *harness) http.Header {
	c := []byte(h.b.cookieHeader())
	c[len(c)/2] ^= 1
	return withCookie(string(c))
}
