package oidcsession

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// TestRefusedResourceNeverRepresentsToken (issue 6.1): a refresh with a
// resource the provider refuses with invalid_target may have spent the
// refresh token (oidc-provider spends it before checking), so the session
// must never present it again, whichever order the provider uses.
func TestRefusedResourceNeverRepresentsToken(t *testing.T) {
	for _, spends := range []bool{false, true} {
		t.Run(fmt.Sprintf("provider spends first=%t", spends), func(t *testing.T) {
			h := newHarness(t, harnessConfig{op: oidcsessiontest.Config{
				Resources: []string{"https://api.example/"}, InvalidTargetSpendsRefreshToken: spends,
			}})
			h.signIn()
			r, out := h.refreshSession(h.client, "resource=https://unknown.example/", nil)
			if out.Class != "rejected" || out.HasRefreshToken {
				t.Fatalf("refused resource: %+v", out)
			}
			if len(setCookies(r, cookieName)) == 0 {
				t.Fatal("the session without its refresh token was not written")
			}
			// The session goes on with its access token...
			if r := h.get(h.client, "/api/x", nil); r.StatusCode != 200 {
				t.Fatalf("session lost at once: %d %s", r.StatusCode, r.body)
			}
			// ...and ends with it, without presenting the refresh token again.
			h.clock.Advance(6 * time.Minute)
			if r := h.postRefresh(h.client, nil); r.StatusCode != 401 || r.json(t)["error"] != "session_expired" {
				t.Fatalf("after expiry: %d %s", r.StatusCode, r.body)
			}
			if n, reuse := h.op.Grants("refresh_token"), h.op.ReuseDetections(); n != 1 || reuse != 0 {
				t.Fatalf("%d refresh grants, %d reuse detections; want 1 and 0", n, reuse)
			}
		})
	}
}

// TestRefusedScopeKeepsToken: invalid_scope is checked before the token is
// spent (RFC 6749 section 6, and oidc-provider), so the session keeps it.
func TestRefusedScopeKeepsToken(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	r, out := h.refreshSession(h.client, "scope=admin", nil)
	if out.Class != "rejected" || !out.HasRefreshToken || len(setCookies(r, cookieName)) != 0 {
		t.Fatalf("refused scope: %+v, cookies %v", out, setCookies(r, cookieName))
	}
	h.clock.Advance(6 * time.Minute)
	if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 {
		t.Fatalf("refresh after a refused scope: %d %s", r.StatusCode, r.body)
	}
}

// TestForcedRefreshInsideGraceWindow (issue 6.7): RefreshSession always
// grants, also with a cookie from before the last refresh, and never
// presents a spent token; with a provider that does not rotate it must
// not fail with "too many concurrent refreshes".
func TestForcedRefreshInsideGraceWindow(t *testing.T) {
	for _, rotate := range []bool{true, false} {
		t.Run(fmt.Sprintf("rotation=%t", rotate), func(t *testing.T) {
			h := newHarness(t, harnessConfig{op: oidcsessiontest.Config{DisableRefreshRotation: !rotate}})
			h.signIn()
			oldCookie := http.Header{"Cookie": {h.cookieHeader(h.client)}}
			h.clock.Advance(6 * time.Minute)
			if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 {
				t.Fatalf("inline refresh: %d", r.StatusCode)
			}
			h.clock.Advance(time.Second)
			for i, q := range []string{"scope=openid", "", "scope=openid+profile"} {
				_, out := h.refreshSession(h.app.Client(), q, oldCookie)
				if out.Class != "" || !out.HasRefreshToken {
					t.Fatalf("forced refresh %q with the old cookie: %+v", q, out)
				}
				if got := h.op.SuccessfulGrants("refresh_token"); got != i+2 {
					t.Fatalf("after forced refresh %q: %d grants, want %d", q, got, i+2)
				}
			}
			if n := h.op.ReuseDetections(); n != 0 {
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
	h := newHarness(t, harnessConfig{opts: []Option{WithLogger(slog.New(logs))}})
	h.signIn()
	h.op.OverrideNextRefreshIDTokenClaims(map[string]any{"bio": strings.Repeat("x", 20<<10)})
	h.clock.Advance(6 * time.Minute)
	r := h.get(h.client, "/api/x", nil)
	if r.StatusCode != 401 || r.json(t)["error"] != "try_refresh" {
		t.Fatalf("expired: %d %s", r.StatusCode, r.body)
	}
	r = h.postRefresh(h.client, nil)
	if r.StatusCode != 401 || r.json(t)["error"] != "session_expired" || !clearsSession(r, cookieName) {
		t.Fatalf("oversized refresh: %d %s", r.StatusCode, r.body)
	}
	if n := h.op.Revocations(); n != 1 {
		t.Fatalf("%d revocations, want the new refresh token revoked", n)
	}
	if _, ok := logs.find(slog.LevelError, "too large"); !ok {
		t.Fatalf("nothing logged at error:\n%s", logs.text())
	}
	if n := h.op.ReuseDetections(); n != 0 {
		t.Fatalf("%d reuse detections", n)
	}
}

// TestOversizedRefreshDropsUserInfo: when cached userinfo claims are what
// no longer fits, they are dropped (they can be fetched again) and the
// session goes on with its new refresh token.
func TestOversizedRefreshDropsUserInfo(t *testing.T) {
	bio := strings.Repeat("y", 2500)
	logs := &logRecords{}
	h := newHarness(t, harnessConfig{
		op:   oidcsessiontest.Config{User: oidcsessiontest.User{Claims: map[string]any{"name": "Test User", "bio": bio}}},
		opts: []Option{WithMaxChunks(2), WithUserInfoOnRefresh(), WithLogger(slog.New(logs))},
	})
	h.signIn()
	h.clock.Advance(6 * time.Minute)
	r := h.get(h.client, "/app/x", nil)
	if r.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", r.StatusCode, r.body)
	}
	if _, ok := logs.find(slog.LevelWarn, "userinfo"); !ok {
		t.Fatalf("dropping userinfo was not logged:\n%s", logs.text())
	}
	h.clock.Advance(6 * time.Minute)
	if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 {
		t.Fatalf("second refresh: %d %s", r.StatusCode, r.body)
	}
	if n := h.op.ReuseDetections(); n != 0 {
		t.Fatalf("%d reuse detections", n)
	}
}

// TestGraceEntriesExpireOnTime (issue 6.11): outcomes kept for the grace
// window hold live refresh tokens; they must go when the window ends, not
// whenever the next grant happens.
func TestGraceEntriesExpireOnTime(t *testing.T) {
	h := newHarness(t, harnessConfig{opts: []Option{WithGraceWindow(200 * time.Millisecond)}})
	h.signIn()
	h.clock.Advance(6 * time.Minute)
	if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 {
		t.Fatalf("refresh: %d", r.StatusCode)
	}
	if n := h.m.engine.kept(); n != 1 {
		t.Fatalf("%d outcomes kept after a grant, want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.m.engine.kept() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the outcome outlived its grace window")
		}
		time.Sleep(20 * time.Millisecond)
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
	var mu sync.Mutex
	var failures []string
	h := newHarness(t, harnessConfig{opts: []Option{
		WithLogger(slog.New(logs)),
		WithOnRefreshFailed(func(_ context.Context, err *RefreshError) {
			mu.Lock()
			failures = append(failures, err.Error())
			mu.Unlock()
		}),
	}})
	h.m.cfg.httpClient = &http.Client{Transport: echoingTransport{http.DefaultTransport}}
	h.signIn()
	h.clock.Advance(6 * time.Minute)
	if r := h.get(h.client, "/app/x", nil); r.StatusCode != 503 {
		t.Fatalf("transport failure: %d %s", r.StatusCode, r.body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failures) != 1 {
		t.Fatalf("%d failures reported", len(failures))
	}
	for _, text := range []string{failures[0], logs.text()} {
		for _, secret := range []string{"refresh_token=", h.op.ClientSecret(), "Basic ", "?"} {
			if strings.Contains(text, secret) {
				t.Fatalf("%q leaks %q", text, secret)
			}
		}
	}
	if !strings.Contains(failures[0], "transient") || !strings.Contains(failures[0], "/token") {
		t.Fatalf("message says too little: %q", failures[0])
	}
}
