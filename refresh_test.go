package oidcsession_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// storm sends n requests carrying cookie at once through c and returns
// their statuses.
func (h *harness) storm(n int, c caller, cookie string) []int {
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			method, path := http.MethodGet, "/app"
			switch c {
			case handler:
				method, path = http.MethodPost, "/auth/refresh"
			case try:
				path = "/api/me"
			}
			req, _ := http.NewRequest(method, h.app.URL+path, nil)
			req.Header.Set("Cookie", cookie)
			req.Header.Set(oidcsession.CSRFHeader, "1")
			resp, err := h.app.Client().Do(req)
			if err != nil {
				codes[i] = -1
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	return codes
}

// TestConcurrentRefreshIsOneGrant sends 200 requests carrying the same
// expired cookie at once: the provider must see exactly one grant and every
// request must succeed.
func TestConcurrentRefreshIsOneGrant(t *testing.T) {
	for _, c := range []caller{inline, handler} {
		t.Run(string(c), func(t *testing.T) {
			h := newHarness(t, setup{})
			h.b.startSession()
			h.clock.Advance(6 * time.Minute)
			h.op.DelayNextRefreshes(1, 100*time.Millisecond) // so the requests really overlap
			for _, code := range h.storm(200, c, h.b.cookieHeader()) {
				if code != 200 {
					t.Fatalf("a request got %d", code)
				}
			}
			if g := h.stats().Grants["refresh_token"]; g != 1 {
				t.Fatalf("provider saw %d refresh grants, want 1", g)
			}
		})
	}
}

// TestGraceWindow replays the pre-rotation cookie: inside the grace window
// it gets the new session, the same one, without a grant; after it, the
// spent refresh token reaches the provider, which detects reuse, and the
// session ends.
func TestGraceWindow(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	old := h.b.cookieHeader()
	h.clock.Advance(6 * time.Minute)
	fresh := h.b.me().AccessToken
	h.clock.Advance(5 * time.Second)
	r := h.b.get("/app", withCookie(old))
	if r.status != 200 || r.who(t).AccessToken != fresh || len(setCookies(r, cookieName)) == 0 {
		t.Fatalf("inside grace: %d %s", r.status, r.body)
	}
	h.clock.Advance(30 * time.Second)
	r = h.b.get("/app", withCookie(old))
	if r.status != 401 || r.json(t)["error"] != "session_expired" || !clears(r, cookieName) {
		t.Fatalf("after grace: %d %s", r.status, r.body)
	}
	if s := h.stats(); s.Grants["refresh_token"] != 2 || s.ReuseDetections != 1 {
		t.Fatalf("%d grants, %d reuses", s.Grants["refresh_token"], s.ReuseDetections)
	}
}

// TestClientDisconnectKeepsRotatedTokens cancels a request while its grant
// is in flight: the grant completes anyway and the next request, still with
// the old cookie, gets the rotated session without a second grant.
func TestClientDisconnectKeepsRotatedTokens(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	cookie := h.b.cookieHeader()
	h.clock.Advance(6 * time.Minute)
	h.op.DelayNextRefreshes(1, 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.app.URL+"/app", nil)
	req.Header.Set("Cookie", cookie)
	if resp, err := h.app.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the request was meant to be cut off")
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.stats().SuccessfulGrants["refresh_token"] == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if r := h.b.get("/app", withCookie(cookie)); r.status != 200 || len(setCookies(r, cookieName)) == 0 {
		t.Fatalf("next request: %d", r.status)
	}
	if g := h.stats().Grants["refresh_token"]; g != 1 {
		t.Fatalf("%d grants, want 1", g)
	}
}

func TestRefreshWithoutIDTokenKeepsClaims(t *testing.T) {
	h := newHarness(t, setup{op: oidcsessiontest.Config{OmitIDTokenOnRefresh: true, DisableRefreshRotation: true}})
	h.b.startSession()
	for range 2 { // the second refresh uses the kept, unrotated refresh token
		h.clock.Advance(6 * time.Minute)
		if who := h.b.me(); who.Subject != "user-1" {
			t.Fatalf("claims lost: %+v", who)
		}
	}
	if g := h.stats().SuccessfulGrants["refresh_token"]; g != 2 {
		t.Fatalf("%d successful grants", g)
	}
}

func TestLifetimes(t *testing.T) {
	tests := []struct {
		name  string
		idle  time.Duration
		steps []time.Duration // requests after each step pass, except after the last
	}{
		{"absolute", 0, []time.Duration{50 * time.Minute, 50 * time.Minute, 50 * time.Minute}},
		{"absolute despite activity", time.Hour, []time.Duration{50 * time.Minute, 50 * time.Minute, 50 * time.Minute}},
		{"idle", 30 * time.Minute, []time.Duration{10 * time.Minute, 40 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{
				op:   oidcsessiontest.Config{AccessTokenLifetime: 2 * time.Hour},
				opts: []oidcsession.Option{oidcsession.WithLifetime(2*time.Hour, tt.idle)},
			})
			h.b.startSession()
			for i, d := range tt.steps {
				h.clock.Advance(d)
				r := h.b.get("/api/me", nil)
				if last := i == len(tt.steps)-1; !last && r.status != 200 || last && (r.status != 401 || r.json(t)["error"] != "session_expired" || !clears(r, cookieName)) {
					t.Fatalf("step %d: %d %s", i, r.status, r.body)
				}
			}
		})
	}
}

func TestIdleClockIsRecordedSparingly(t *testing.T) {
	h := newHarness(t, setup{
		op:   oidcsessiontest.Config{AccessTokenLifetime: 2 * time.Hour},
		opts: []oidcsession.Option{oidcsession.WithLifetime(24*time.Hour, 80*time.Minute)},
	})
	h.b.startSession()
	h.clock.Advance(5 * time.Minute)
	if r := h.b.get("/api/me", nil); len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatal("recorded activity before an eighth of the idle timeout")
	}
	h.clock.Advance(6 * time.Minute)
	if r := h.b.get("/api/me", nil); len(setCookies(r, cookieName)) != 1 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatal("did not record activity after an eighth of the idle timeout")
	}
	// 11m + 75m is past the idle timeout counted from sign-in, but not from
	// the recorded activity.
	h.clock.Advance(75 * time.Minute)
	if r := h.b.get("/api/me", nil); r.status != 200 {
		t.Fatalf("recorded activity was not used: %d", r.status)
	}
}

// TestRefreshSessionWithOptions: narrowed scopes replace the session's
// own token; a token for a resource goes beside it (Session.Tokens) and
// leaves it as it was.
func TestRefreshSessionWithOptions(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	r := h.b.refreshSession("scope=openid+profile", nil)
	own := r.who(t)
	if r.status != 200 || own.Scope != "openid profile" {
		t.Fatalf("narrowed: %d %s", r.status, r.body)
	}
	r = h.b.refreshSession("scope=openid&resource=https://api.example/", nil)
	if who := r.who(t); r.status != 200 || who.AccessToken != own.AccessToken || who.Scope != own.Scope {
		t.Fatalf("a resource's token replaced the session's own: %d %s", r.status, r.body)
	}
	_, rep := h.b.token("resource=" + url.QueryEscape("https://api.example/") + "&scope=openid")
	if len(rep.Tokens) != 2 || rep.Tokens[1].Scope != "openid" || rep.Claims["aud"] != "https://api.example/" || h.stats().Grants["refresh_token"] != 2 {
		t.Fatalf("the resource's token was not kept: %+v, %d grants", rep, h.stats().Grants["refresh_token"])
	}
}

// TestRefusedResourceNeverRepresentsToken (issue 6.1): a refresh with a
// resource the provider refuses with invalid_target may have spent the
// refresh token (oidc-provider spends it before checking), so the session
// must never present it again, whichever order the provider uses.
func TestRefusedResourceNeverRepresentsToken(t *testing.T) {
	for _, spends := range []bool{false, true} {
		t.Run(fmt.Sprintf("provider spends first=%t", spends), func(t *testing.T) {
			h := newHarness(t, setup{op: oidcsessiontest.Config{
				Resources: []string{"https://api.example/"}, InvalidTargetSpendsRefreshToken: spends,
			}})
			h.b.startSession()
			r := h.b.refreshSession("resource=https://unknown.example/", nil)
			if r.status != 400 || r.header.Get("X-Refresh-Class") != "rejected" || r.header.Get("X-Kept-Refresh-Token") != "false" {
				t.Fatalf("refused resource: %d %v %s", r.status, r.header, r.body)
			}
			if len(setCookies(r, cookieName)) == 0 {
				t.Fatal("the session without its refresh token was not written")
			}
			if who := h.b.me(); who.HasRefreshToken {
				t.Fatal("the session kept a refresh token the provider may have spent")
			}
			h.clock.Advance(6 * time.Minute)
			if r := h.b.refresh(); r.status != 401 || r.json(t)["error"] != "session_expired" {
				t.Fatalf("after expiry: %d %s", r.status, r.body)
			}
			if s := h.stats(); s.Grants["refresh_token"] != 1 || s.ReuseDetections != 0 {
				t.Fatalf("%d refresh grants, %d reuse detections; want 1 and 0", s.Grants["refresh_token"], s.ReuseDetections)
			}
		})
	}
}

// TestRefusedScopeKeepsToken: invalid_scope is checked before the token is
// spent, so the session keeps it.
func TestRefusedScopeKeepsToken(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	r := h.b.refreshSession("scope=admin", nil)
	if r.status != 400 || r.header.Get("X-Refresh-Class") != "rejected" || r.header.Get("X-Kept-Refresh-Token") != "true" || len(setCookies(r, cookieName)) != 0 {
		t.Fatalf("refused scope: %d %v", r.status, r.header)
	}
	h.clock.Advance(6 * time.Minute)
	if who := h.b.me(); !who.HasRefreshToken {
		t.Fatal("lost the refresh token")
	}
}

// TestForcedRefreshInsideGraceWindow (issue 6.7): RefreshSession always
// grants, also with a cookie from before the last refresh, and never
// presents a spent token; with a provider that does not rotate it must not
// fail with "too many concurrent refreshes".
func TestForcedRefreshInsideGraceWindow(t *testing.T) {
	for _, rotate := range []bool{true, false} {
		t.Run(fmt.Sprintf("rotation=%t", rotate), func(t *testing.T) {
			h := newHarness(t, setup{op: oidcsessiontest.Config{DisableRefreshRotation: !rotate}})
			h.b.startSession()
			old := withCookie(h.b.cookieHeader())
			h.clock.Advance(6 * time.Minute)
			h.b.me()
			h.clock.Advance(time.Second)
			for i, q := range []string{"scope=openid", "", "scope=openid+profile"} {
				if r := h.b.refreshSession(q, old); r.status != 200 || !r.who(t).HasRefreshToken {
					t.Fatalf("forced refresh %q with the old cookie: %d %s", q, r.status, r.body)
				}
				if got := h.stats().SuccessfulGrants["refresh_token"]; got != i+2 {
					t.Fatalf("after forced refresh %q: %d grants, want %d", q, got, i+2)
				}
			}
			if n := h.stats().ReuseDetections; n != 0 {
				t.Fatalf("%d reuse detections", n)
			}
		})
	}
}

// TestOversizedRefreshNeverLosesToken (issue 6.8): a refreshed session
// that no longer fits its cookies must not answer 500 and silently drop a
// rotated refresh token: the new token is revoked, the session ends with
// a logged error, and no spent token is presented again.
func TestOversizedRefreshNeverLosesToken(t *testing.T) {
	logs := &logRecords{}
	h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithLogger(slog.New(logs))}})
	h.b.startSession()
	h.op.OverrideNextRefreshIDTokenClaims(map[string]any{"bio": strings.Repeat("x", 20<<10)})
	h.clock.Advance(6 * time.Minute)
	r := h.b.refresh()
	if r.status != 401 || r.json(t)["error"] != "session_expired" || !clears(r, cookieName) {
		t.Fatalf("oversized refresh: %d %s", r.status, r.body)
	}
	if s := h.stats(); s.Revocations != 1 || s.ReuseDetections != 0 {
		t.Fatalf("%d revocations, %d reuse detections", s.Revocations, s.ReuseDetections)
	}
	if _, ok := logs.find(slog.LevelError, "too large"); !ok {
		t.Fatalf("nothing logged at error:\n%s", logs.text())
	}
}

// TestOversizedRefreshDropsUserInfo: when cached userinfo claims are what
// no longer fits, they are dropped (they can be fetched again) and the
// session goes on with its new refresh token.
func TestOversizedRefreshDropsUserInfo(t *testing.T) {
	logs := &logRecords{}
	h := newHarness(t, setup{
		op:   oidcsessiontest.Config{User: oidcsessiontest.User{Claims: map[string]any{"name": "Test User", "bio": strings.Repeat("y", 2500)}}},
		opts: []oidcsession.Option{oidcsession.WithMaxChunks(2), oidcsession.WithUserInfoOnRefresh(), oidcsession.WithLogger(slog.New(logs))},
	})
	h.b.startSession()
	for range 2 {
		h.clock.Advance(6 * time.Minute)
		h.b.me()
	}
	if _, ok := logs.find(slog.LevelWarn, "userinfo"); !ok {
		t.Fatalf("dropping userinfo was not logged:\n%s", logs.text())
	}
	if s := h.stats(); s.SuccessfulGrants["refresh_token"] != 2 || s.ReuseDetections != 0 {
		t.Fatalf("%+v", s)
	}
}

// echoingTransport fails every token request with an error whose text
// echoes the request body, as some proxies and test doubles do.
type echoingTransport struct{ next http.RoundTripper }

func (e echoingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/token") && r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		return nil, fmt.Errorf("upstream rejected %s with body %s auth %s", r.URL, b, r.Header.Get("Authorization"))
	}
	return e.next.RoundTrip(r)
}

// TestRefreshErrorRedactsTransportErrors (issue 6.13): an error from the
// HTTP client may carry the request body; neither the refresh token nor
// the client's credentials may reach RefreshError.Error() or the logs.
func TestRefreshErrorRedactsTransportErrors(t *testing.T) {
	logs := &logRecords{}
	failures := make(chan string, 1)
	h := newHarness(t, setup{opts: []oidcsession.Option{
		oidcsession.WithLogger(slog.New(logs)),
		oidcsession.WithHTTPClient(&http.Client{Transport: echoingTransport{http.DefaultTransport}}),
		oidcsession.WithOnRefreshFailed(func(_ context.Context, err *oidcsession.RefreshError) { failures <- err.Error() }),
	}})
	h.b.startSession()
	h.clock.Advance(6 * time.Minute)
	// A RoundTripper that is not http.Transport cannot say whether the
	// request left: it may have been carried out, so the session, whose
	// access token has expired, ends.
	if r := h.b.get("/app", nil); r.status != 401 || r.json(t)["error"] != "session_expired" {
		t.Fatalf("transport failure: %d %s", r.status, r.body)
	}
	msg := <-failures
	for _, text := range []string{msg, logs.text()} {
		for _, secret := range []string{"refresh_token=", h.op.ClientSecret(), "Basic ", "?"} {
			if strings.Contains(text, secret) {
				t.Fatalf("%q leaks %q", text, secret)
			}
		}
	}
	if !strings.Contains(msg, "terminal") || !strings.Contains(msg, "/token") {
		t.Fatalf("message says too little: %q", msg)
	}
}

// TestLogoutEndsGraceWindow: after sign-out, a cookie from before the last
// rotation must not be handed the signed-out session by the grace window.
func TestLogoutEndsGraceWindow(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	old := h.b.cookieHeader()
	h.clock.Advance(6 * time.Minute)
	h.b.me()
	if r := h.b.post("/auth/logout", csrf); r.status != 200 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	h.clock.Advance(time.Second)
	if r := h.b.get("/app", withCookie(old)); r.status != 401 || r.json(t)["error"] != "session_expired" {
		t.Fatalf("old cookie after logout: %d %s", r.status, r.body)
	}
}

// TestRefreshSessionBehindRequire: called by a handler behind Require,
// RefreshSession grants from the session in the request's context, writes
// its cookies and puts the new session in the context; a refusal clears
// the session there too, an outage keeps it. In both storage modes.
func TestRefreshSessionBehindRequire(t *testing.T) {
	for _, mode := range []string{"cookies", "store"} {
		su := func() setup {
			if mode == "store" {
				return storeSetup(oidcsession.NewMemoryStore())
			}
			return setup{}
		}
		t.Run(mode+"/granted", func(t *testing.T) {
			h := newHarness(t, su())
			h.b.startSession()
			before := h.b.me()
			r := h.b.get("/app/refresh", nil)
			if r.status != 200 || r.header.Get("X-Context-Session") != "true" || len(setCookies(r, cookieName)) == 0 || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("RefreshSession behind Require: %d %v %s", r.status, r.header, r.body)
			}
			got := r.who(t)
			if got.AccessToken == before.AccessToken || h.stats().Grants["refresh_token"] != 1 {
				t.Fatalf("no new token: %+v, %d grants", got, h.stats().Grants["refresh_token"])
			}
			// The cookies written carry the new session.
			if after := h.b.me(); after.AccessToken != got.AccessToken || h.stats().Grants["refresh_token"] != 1 {
				t.Fatalf("the next request: %+v, %d grants", after, h.stats().Grants["refresh_token"])
			}
		})
		t.Run(mode+"/refused", func(t *testing.T) {
			h := newHarness(t, su())
			h.b.startSession()
			h.op.FailNextRefreshes(1, 400, "invalid_grant")
			r := h.b.get("/app/refresh", nil)
			if r.status != 401 || r.json(t)["error"] != "session_expired" || !clears(r, cookieName) || r.header.Get("X-Context-Session") != "" {
				t.Fatalf("refused: %d %v %s", r.status, r.header, r.body)
			}
			if r := h.b.get("/api/me", nil); r.status != 401 || r.json(t)["error"] != "unauthenticated" {
				t.Fatalf("after the refusal: %d %s", r.status, r.body)
			}
		})
		t.Run(mode+"/provider down", func(t *testing.T) {
			h := newHarness(t, su())
			h.b.startSession()
			before := h.b.me()
			h.op.FailNextRefreshes(1, 503, "")
			r := h.b.get("/app/refresh", nil)
			if r.status != 503 || r.header.Get("X-Refresh-Class") != "transient" || r.header.Get("X-Context-Session") != "true" || len(setCookies(r, cookieName)) != 0 {
				t.Fatalf("outage: %d %v %s", r.status, r.header, r.body)
			}
			if after := h.b.me(); after.AccessToken != before.AccessToken || !after.HasRefreshToken {
				t.Fatalf("the session was not kept: %+v", after)
			}
		})
	}
}

// TestUnansweredRefreshNeverRepresentsToken: a refresh request that was
// sent but got no answer (a timeout, a dropped connection) may have been
// carried out, its answer lost, so its refresh token is never presented
// again, whether the provider dropped the abandoned grant or completed it.
// A session whose access token has expired then ends at once (401
// session_expired, nothing left to serve); one whose token is still valid
// is served and kept without the refresh token until the token expires. A
// request that never left (no connection) spent nothing: the session
// keeps its token and recovers.
func TestUnansweredRefreshNeverRepresentsToken(t *testing.T) {
	for _, completes := range []bool{false, true} {
		for _, mode := range []string{"cookies", "store"} {
			t.Run(fmt.Sprintf("%s/provider completes abandoned grants=%t", mode, completes), func(t *testing.T) {
				opts := []oidcsession.Option{oidcsession.WithRefreshTimeout(300 * time.Millisecond)}
				if mode == "store" {
					opts = append(opts, oidcsession.WithStore(oidcsession.NewMemoryStore()))
				}
				h := newHarness(t, setup{op: oidcsessiontest.Config{CompleteAbandonedRefreshes: completes}, opts: opts})
				h.b.startSession()
				h.clock.Advance(6 * time.Minute)
				h.op.DelayNextRefreshes(1, 800*time.Millisecond)
				if r := h.b.post("/auth/refresh", csrf); r.status != 401 || r.json(t)["error"] != "session_expired" || !clears(r, cookieName) {
					t.Fatalf("an unanswered refresh of an expired token: %d %s", r.status, r.body)
				}
				time.Sleep(700 * time.Millisecond) // the provider finishes, or not
				s := h.stats()
				if s.Grants["refresh_token"] != 1 || s.ReuseDetections != 0 || (s.SuccessfulGrants["refresh_token"] == 1) != completes {
					t.Fatalf("%d refresh requests, %d successful, %d reuse detections; want 1, %t, 0", s.Grants["refresh_token"], s.SuccessfulGrants["refresh_token"], s.ReuseDetections, completes)
				}
			})
		}
	}
	for _, status := range []int{502, 504} {
		t.Run(fmt.Sprintf("a gateway's bare %d", status), func(t *testing.T) {
			h := newHarness(t, setup{})
			h.b.startSession()
			h.clock.Advance(6 * time.Minute)
			h.op.FailNextRefreshes(1, status, "") // plain text, as from a proxy that may have passed it on
			if r := h.b.get("/app", nil); r.status != 401 || r.json(t)["error"] != "session_expired" {
				t.Fatalf("after a gateway's %d: %d %s", status, r.status, r.body)
			}
			if s := h.stats(); s.Grants["refresh_token"] != 1 {
				t.Fatalf("%d refresh requests, want 1", s.Grants["refresh_token"])
			}
		})
	}
	for _, mode := range []string{"cookies", "store"} {
		t.Run(mode+"/token still valid: served, kept without the refresh token", func(t *testing.T) {
			opts := []oidcsession.Option{oidcsession.WithRefreshTimeout(300 * time.Millisecond)}
			if mode == "store" {
				opts = append(opts, oidcsession.WithStore(oidcsession.NewMemoryStore()))
			}
			h := newHarness(t, setup{opts: opts})
			h.b.startSession()
			h.clock.Advance(5*time.Minute - 10*time.Second) // inside the refresh window
			h.op.DropNextRefreshes(1)
			r := h.b.get("/app", nil)
			if r.status != 200 || r.who(t).HasRefreshToken || len(setCookies(r, cookieName)) == 0 {
				t.Fatalf("an unanswered refresh of a valid token: %d %v %s", r.status, r.header, r.body)
			}
			if who := h.b.me(); who.HasRefreshToken {
				t.Fatal("the stored session kept a refresh token the provider may have spent")
			}
			h.clock.Advance(time.Minute)
			if r := h.b.get("/app", nil); r.status != 401 || r.json(t)["error"] != "session_expired" {
				t.Fatalf("after expiry: %d %s", r.status, r.body)
			}
			if s := h.stats(); s.Grants["refresh_token"] != 1 || s.ReuseDetections != 0 {
				t.Fatalf("%d refresh requests, %d reuse detections; want 1 and 0", s.Grants["refresh_token"], s.ReuseDetections)
			}
		})
	}
	t.Run("a request that never left", func(t *testing.T) {
		var fail atomic.Bool
		tr := http.DefaultTransport.(*http.Transport).Clone()
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if fail.Swap(false) {
				return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
			}
			return dial(ctx, network, addr)
		}
		tr.DisableKeepAlives = true // every call dials
		h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithHTTPClient(&http.Client{Transport: tr})}})
		h.b.startSession()
		h.clock.Advance(6 * time.Minute)
		fail.Store(true)
		if r := h.b.get("/app", nil); r.status != 503 || len(setCookies(r, cookieName)) != 0 {
			t.Fatalf("provider unreachable: %d %v %s", r.status, r.header, r.body)
		}
		if who := h.b.me(); !who.HasRefreshToken || h.stats().SuccessfulGrants["refresh_token"] != 1 {
			t.Fatalf("the session did not recover: %+v, %d grants", who, h.stats().SuccessfulGrants["refresh_token"])
		}
	})
}
