package oidcsession

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// TestConcurrentRefreshIsOneGrant sends 200 requests carrying the same
// expired cookie at once: the provider must see exactly one grant and every
// request must succeed.
func TestConcurrentRefreshIsOneGrant(t *testing.T) {
	for _, path := range []string{"/app/x", "/auth/refresh"} {
		t.Run(path, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			h.signIn()
			cookie := h.cookieHeader(h.client)
			h.clock.Advance(6 * time.Minute)
			// Hold the grant a moment so the requests really overlap.
			h.op.DelayNextRefreshes(1, 100*time.Millisecond)
			const n = 200
			var wg sync.WaitGroup
			codes := make(chan int, n)
			c := h.app.Client()
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					method := http.MethodGet
					if path == "/auth/refresh" {
						method = http.MethodPost
					}
					req, _ := http.NewRequest(method, h.app.URL+path, nil)
					req.Header.Set("Cookie", cookie)
					req.Header.Set(RefreshHeader, "1")
					resp, err := c.Do(req)
					if err != nil {
						codes <- -1
						return
					}
					resp.Body.Close()
					codes <- resp.StatusCode
				}()
			}
			wg.Wait()
			close(codes)
			for code := range codes {
				if code < 200 || code > 299 {
					t.Fatalf("a request got %d", code)
				}
			}
			if g := h.op.Grants("refresh_token"); g != 1 {
				t.Fatalf("provider saw %d refresh grants, want 1", g)
			}
		})
	}
}

// TestGraceWindow replays the pre-rotation cookie: inside the grace window
// it gets the new session without a grant; after it, the spent refresh
// token reaches the provider, which detects reuse, and the session ends.
func TestGraceWindow(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	oldCookie := http.Header{"Cookie": {h.cookieHeader(h.client)}}
	h.clock.Advance(6 * time.Minute)
	if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 {
		t.Fatalf("refresh: %d", r.StatusCode)
	}
	fresh := h.get(h.client, "/app/x", nil).json(t)["at_sha256"]

	h.clock.Advance(5 * time.Second)
	stale := h.app.Client()
	r := h.get(stale, "/app/x", oldCookie)
	if r.StatusCode != 200 || r.json(t)["at_sha256"] != fresh || len(setCookies(r, cookieName)) == 0 {
		t.Fatalf("inside grace: %d, same token %v, cookies %d", r.StatusCode, r.json(t)["at_sha256"] == fresh, len(setCookies(r, cookieName)))
	}
	if g := h.op.Grants("refresh_token"); g != 1 {
		t.Fatalf("inside grace: %d grants, want 1", g)
	}

	h.clock.Advance(30 * time.Second)
	r = h.get(stale, "/app/x", oldCookie)
	if r.StatusCode != 401 || r.json(t)["error"] != "session_expired" || !clearsSession(r, cookieName) {
		t.Fatalf("after grace: %d %s", r.StatusCode, r.body)
	}
	if h.op.ReuseDetections() != 1 {
		t.Fatalf("provider saw %d reuses", h.op.ReuseDetections())
	}
}

// TestClientDisconnectKeepsRotatedTokens cancels a request while its grant
// is in flight: the grant completes anyway and the next request, still with
// the old cookie, gets the rotated session without a second grant.
func TestClientDisconnectKeepsRotatedTokens(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	cookie := h.cookieHeader(h.client)
	h.clock.Advance(6 * time.Minute)
	h.op.DelayNextRefreshes(1, 300*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.app.URL+"/app/x", nil)
	req.Header.Set("Cookie", cookie)
	if resp, err := h.app.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the request was meant to be cut off")
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.op.SuccessfulGrants("refresh_token") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r := h.get(h.app.Client(), "/app/x", http.Header{"Cookie": {cookie}})
	if r.StatusCode != 200 || len(setCookies(r, cookieName)) == 0 {
		t.Fatalf("next request: %d", r.StatusCode)
	}
	if g := h.op.Grants("refresh_token"); g != 1 {
		t.Fatalf("%d grants, want 1", g)
	}
}

func TestRefreshWithoutIDTokenKeepsClaims(t *testing.T) {
	h := newHarness(t, harnessConfig{op: oidcsessiontest.Config{OmitIDTokenOnRefresh: true, DisableRefreshRotation: true}})
	h.signIn()
	h.clock.Advance(6 * time.Minute)
	if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 || r.json(t)["sub"] != "user-1" {
		t.Fatalf("%d %s", r.StatusCode, r.body)
	}
	// The refresh token was not rotated, so the kept one must work again.
	h.clock.Advance(6 * time.Minute)
	if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 {
		t.Fatalf("second refresh with the kept refresh token: %d %s", r.StatusCode, r.body)
	}
	if g := h.op.SuccessfulGrants("refresh_token"); g != 2 {
		t.Fatalf("%d successful grants", g)
	}
}

func TestNoRefreshToken(t *testing.T) {
	h := newHarness(t, harnessConfig{op: oidcsessiontest.Config{OmitRefreshToken: true}})
	h.signIn()
	h.clock.Advance(5*time.Minute - 10*time.Second)
	if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 {
		t.Fatalf("unexpired token without refresh token: %d", r.StatusCode)
	}
	h.clock.Advance(time.Minute)
	for _, path := range []string{"/app/x", "/auth/refresh"} {
		h.signIn()
		h.clock.Advance(6 * time.Minute)
		var r response
		if path == "/auth/refresh" {
			r = h.postRefresh(h.client, nil)
		} else {
			r = h.get(h.client, path, nil)
		}
		if r.StatusCode != 401 || r.json(t)["error"] != "session_expired" || !clearsSession(r, cookieName) {
			t.Fatalf("%s: %d %s", path, r.StatusCode, r.body)
		}
	}
}

func TestLifetimes(t *testing.T) {
	tests := []struct {
		name  string
		idle  time.Duration
		steps []time.Duration // requests after each step must pass, except after the last
	}{
		{"absolute", 0, []time.Duration{50 * time.Minute, 50 * time.Minute, 50 * time.Minute}},
		{"absolute despite activity", time.Hour, []time.Duration{50 * time.Minute, 50 * time.Minute, 50 * time.Minute}},
		{"idle", 30 * time.Minute, []time.Duration{10 * time.Minute, 40 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{
				op:   oidcsessiontest.Config{AccessTokenLifetime: 2 * time.Hour},
				opts: []Option{WithLifetime(2*time.Hour, tt.idle)},
			})
			h.signIn()
			for i, d := range tt.steps {
				h.clock.Advance(d)
				r := h.get(h.client, "/api/x", nil)
				last := i == len(tt.steps)-1
				if !last && r.StatusCode != 200 {
					t.Fatalf("step %d: %d %s", i, r.StatusCode, r.body)
				}
				if last && (r.StatusCode != 401 || r.json(t)["error"] != "session_expired" || !clearsSession(r, cookieName)) {
					t.Fatalf("ended session: %d %s", r.StatusCode, r.body)
				}
			}
		})
	}
}

func TestIdleClockIsRecordedSparingly(t *testing.T) {
	h := newHarness(t, harnessConfig{
		op:   oidcsessiontest.Config{AccessTokenLifetime: 2 * time.Hour},
		opts: []Option{WithLifetime(24*time.Hour, 80*time.Minute)},
	})
	h.signIn()
	h.clock.Advance(5 * time.Minute)
	if r := h.get(h.client, "/api/x", nil); len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatal("recorded activity before an eighth of the idle timeout")
	}
	h.clock.Advance(6 * time.Minute)
	if r := h.get(h.client, "/api/x", nil); len(setCookies(r, cookieName)) != 1 {
		t.Fatal("did not record activity after an eighth of the idle timeout")
	}
	// 11m + 75m is past the idle timeout counted from sign-in, but not from
	// the recorded activity.
	h.clock.Advance(75 * time.Minute)
	if r := h.get(h.client, "/api/x", nil); r.StatusCode != 200 {
		t.Fatalf("recorded activity was not used: %d", r.StatusCode)
	}
}

func TestRefreshSessionWithOptions(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	var (
		mu  sync.Mutex
		got *Session
		err error
	)
	h.app.Config.Handler = func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/test/narrow" {
				next.ServeHTTP(w, r)
				return
			}
			opts := RefreshOptions{Scopes: strings.Fields(r.URL.Query().Get("scope")), Resource: r.URL.Query()["resource"]}
			mu.Lock()
			got, err = h.m.RefreshSession(w, r, opts)
			mu.Unlock()
			w.WriteHeader(204)
		})
	}(h.app.Config.Handler)
	h.signIn()

	h.get(h.client, "/test/narrow?scope=openid+profile&resource=https://api.example/", nil)
	mu.Lock()
	if err != nil || got.Scope() != "openid profile" {
		t.Fatalf("narrowed: %v, scope %q", err, got.Scope())
	}
	var at map[string]any
	if err := json.Unmarshal(got.accessToken.payload(), &at); err != nil || at["aud"] != "https://api.example/" {
		t.Fatalf("resource: aud %v (%v)", at["aud"], err)
	}
	mu.Unlock()

	r := h.get(h.client, "/test/narrow?scope=admin", nil)
	mu.Lock()
	var re *RefreshError
	if !errors.As(err, &re) || re.Class != RefreshRejected || len(setCookies(r, cookieName)) != 0 {
		t.Fatalf("unknown scope: %v", err)
	}
	mu.Unlock()
	if r := h.get(h.client, "/api/x", nil); r.StatusCode != 200 {
		t.Fatalf("session lost after a rejected narrowing: %d", r.StatusCode)
	}
}

func TestClassify(t *testing.T) {
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code} }
	tests := []struct {
		name     string
		err      error
		narrowed bool
		want     RefreshClass
	}{
		{"network", errors.New("dial tcp: connection refused"), false, RefreshTransient},
		{"deadline", context.DeadlineExceeded, false, RefreshTransient},
		{"invalid_grant", &oauth2.RetrieveError{Response: resp(400), ErrorCode: "invalid_grant"}, false, RefreshTerminal},
		{"invalid_client 401", &oauth2.RetrieveError{Response: resp(401), ErrorCode: "invalid_client"}, false, RefreshTerminal},
		{"bare 400", &oauth2.RetrieveError{Response: resp(400)}, false, RefreshTerminal},
		{"403", &oauth2.RetrieveError{Response: resp(403)}, false, RefreshTerminal},
		{"500", &oauth2.RetrieveError{Response: resp(500)}, false, RefreshTransient},
		{"502 invalid_grant body", &oauth2.RetrieveError{Response: resp(502), ErrorCode: "invalid_grant"}, false, RefreshTerminal},
		{"503", &oauth2.RetrieveError{Response: resp(503)}, false, RefreshTransient},
		{"429", &oauth2.RetrieveError{Response: resp(429)}, false, RefreshTransient},
		{"404", &oauth2.RetrieveError{Response: resp(404)}, false, RefreshTransient},
		{"temporarily_unavailable 400", &oauth2.RetrieveError{Response: resp(400), ErrorCode: "temporarily_unavailable"}, false, RefreshTransient},
		{"invalid_scope plain", &oauth2.RetrieveError{Response: resp(400), ErrorCode: "invalid_scope"}, false, RefreshTerminal},
		{"invalid_scope narrowed", &oauth2.RetrieveError{Response: resp(400), ErrorCode: "invalid_scope"}, true, RefreshRejected},
		{"invalid_target narrowed", &oauth2.RetrieveError{Response: resp(400), ErrorCode: "invalid_target"}, true, RefreshRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err, tt.narrowed)
			if got.Class != tt.want || !errors.Is(got, tt.err) && !errors.Is(got, ErrRefreshFailed) {
				t.Fatalf("class %s, want %s", got.Class, tt.want)
			}
			if !errors.Is(got, ErrRefreshFailed) {
				t.Fatal("not ErrRefreshFailed")
			}
			if errors.Is(got, ErrSessionExpired) != (tt.want == RefreshTerminal) {
				t.Fatal("ErrSessionExpired must match exactly the terminal class")
			}
		})
	}
}

func TestRefreshErrorHidesResponseBody(t *testing.T) {
	re := &oauth2.RetrieveError{Response: &http.Response{StatusCode: 400}, Body: []byte(`{"error":"invalid_grant","leak":"SECRET-RT"}`), ErrorCode: "invalid_grant"}
	msg := classify(re, false).Error()
	if strings.Contains(msg, "SECRET") || !strings.Contains(msg, "invalid_grant") || !strings.Contains(msg, "400") {
		t.Fatalf("message %q", msg)
	}
}

// TestLogoutEndsGraceWindow: after sign-out, a cookie from before the last
// rotation must not be handed the signed-out session by the grace window.
func TestLogoutEndsGraceWindow(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	oldCookie := http.Header{"Cookie": {h.cookieHeader(h.client)}}
	h.clock.Advance(6 * time.Minute)
	if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 {
		t.Fatalf("refresh: %d", r.StatusCode)
	}
	if r := h.do(h.client, http.MethodPost, "/auth/logout", http.Header{RefreshHeader: {"1"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d %s", r.StatusCode, r.body)
	}
	h.clock.Advance(time.Second)
	r := h.get(h.app.Client(), "/app/x", oldCookie)
	if r.StatusCode != 401 || r.json(t)["error"] != "session_expired" {
		t.Fatalf("old cookie after logout: %d %s", r.StatusCode, r.body)
	}
}

// TestClientAuthStyles refreshes (plainly, through x/oauth2, and with
// options, through our own request) under each way a provider may want the
// client to authenticate; the provider refuses any other.
func TestClientAuthStyles(t *testing.T) {
	tests := []struct {
		name string
		op   oidcsessiontest.Config
	}{
		{"client_secret_basic", oidcsessiontest.Config{TokenEndpointAuthMethods: []string{"client_secret_basic"}}},
		{"client_secret_post", oidcsessiontest.Config{TokenEndpointAuthMethods: []string{"client_secret_post"}}},
		{"public client", oidcsessiontest.Config{PublicClient: true, ClientSecret: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{op: tt.op})
			h.signIn()
			h.clock.Advance(6 * time.Minute)
			if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 {
				t.Fatalf("plain refresh: %d %s", r.StatusCode, r.body)
			}
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Cookie", h.cookieHeader(h.client))
			if _, err := h.m.RefreshSession(httptest.NewRecorder(), req, RefreshOptions{Scopes: []string{"openid"}}); err != nil {
				t.Fatalf("refresh with options: %v", err)
			}
			if g := h.op.SuccessfulGrants("refresh_token"); g != 2 || h.op.Grants("refresh_token") != 2 {
				t.Fatalf("%d of %d grants succeeded", g, h.op.Grants("refresh_token"))
			}
		})
	}
}
