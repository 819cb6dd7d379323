package oidcsession_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
	"golang.org/x/oauth2"
)

// postLogoutToken posts a logout token to the app's back-channel handler,
// as a provider would.
func (h *harness) postLogoutToken(token string) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.app.URL+"/auth/backchannel-logout", strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := h.app.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Description string `json:"error_description"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return response{status: resp.StatusCode, header: resp.Header, body: body.Description}
}

// unsignedJWT is claims as an "alg":"none" JWT.
func unsignedJWT(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"logout+jwt"}`)) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

// TestBackChannelLogoutWithStore: the provider's logout token, by sid or by
// sub, ends the matching sessions on every replica at once; end_session at
// the provider sends one.
func TestBackChannelLogoutWithStore(t *testing.T) {
	t.Run("end_session at the provider", func(t *testing.T) {
		h := newHarness(t, setup{backChannel: true, opts: []oidcsession.Option{oidcsession.WithStore(oidcsession.NewMemoryStore())}})
		h.b.signIn()
		copied := h.b.cookieHeader()
		if h.b.me().SID == "" {
			t.Fatal("the ID token carried no sid")
		}
		if r := h.b.page(h.op.Issuer() + "/end_session"); r.status != 200 || h.stats().BackChannelLogouts != 1 {
			t.Fatalf("end_session: %d, %d logout tokens delivered", r.status, h.stats().BackChannelLogouts)
		}
		if r := h.b.get("/api/me", withCookie(copied)); r.status != 401 || r.json(t)["error"] != "session_expired" {
			t.Fatalf("after back-channel logout: %d %s", r.status, r.body)
		}
	})
	for _, by := range []string{"sid", "sub"} {
		t.Run("by "+by+" on another replica", func(t *testing.T) {
			shared := oidcsession.NewMemoryStore()
			h := newHarness(t, setup{backChannel: true, opts: []oidcsession.Option{oidcsession.WithStore(shared)}})
			other := h.replica(setup{opts: []oidcsession.Option{oidcsession.WithStore(shared)}})
			h.b.signIn()
			sid := h.b.me().SID
			if by == "sub" {
				sid = ""
			}
			if err := h.op.BackChannelLogout(map[string]string{"sid": "", "sub": "user-1"}[by], sid); err != nil {
				t.Fatal(err)
			}
			if r := other.b.get("/api/me", withCookie(h.b.cookieHeader())); r.status != 401 {
				t.Fatalf("the other replica: %d %s", r.status, r.body)
			}
			// A provider's logout need not end offline_access grants:
			// the session's refresh token is revoked too.
			if n := h.stats().Revocations; n != 1 {
				t.Fatalf("%d revocations at the provider, want 1", n)
			}
		})
	}
	t.Run("another session of the same user stays", func(t *testing.T) {
		h := newHarness(t, setup{backChannel: true, opts: []oidcsession.Option{oidcsession.WithStore(oidcsession.NewMemoryStore())}})
		h.b.signIn()
		second := h.newBrowser()
		second.startSession() // another provider session (sid)
		if err := h.op.BackChannelLogout("user-1", h.b.me().SID); err != nil {
			t.Fatal(err)
		}
		if r := h.b.get("/api/me", nil); r.status != 401 {
			t.Fatalf("the logged-out session: %d", r.status)
		}
		if r := second.get("/api/me", nil); r.status != 200 {
			t.Fatalf("the other session: %d %s", r.status, r.body)
		}
	})
}

// TestBackChannelLogoutWithCookies: cookies cannot be revoked, so the
// logged-out session ends at its next refresh, without a grant.
func TestBackChannelLogoutWithCookies(t *testing.T) {
	h := newHarness(t, setup{backChannel: true})
	h.b.startSession()
	if err := h.op.BackChannelLogout("", h.b.me().SID); err != nil {
		t.Fatal(err)
	}
	if r := h.b.get("/api/me", nil); r.status != 200 {
		t.Fatalf("before its refresh: %d", r.status)
	}
	h.clock.Advance(6 * time.Minute)
	if r := h.b.get("/app", nil); r.status != 401 || r.json(t)["error"] != "session_expired" || !clears(r, cookieName) {
		t.Fatalf("at its refresh: %d %s", r.status, r.body)
	}
	if g := h.stats().Grants["refresh_token"]; g != 0 {
		t.Fatalf("%d grants for a logged-out session", g)
	}
}

// TestBackChannelLogoutRefusesHostileTokens: every token that is not a
// valid, fresh logout token from the provider for this client gets 400 and
// ends nothing; a valid one cannot be replayed.
func TestBackChannelLogoutRefusesHostileTokens(t *testing.T) {
	h := newHarness(t, setup{backChannel: true, opts: []oidcsession.Option{oidcsession.WithStore(oidcsession.NewMemoryStore())}})
	h.b.startSession()
	sid := h.b.me().SID
	jti := 0
	claims := func(change func(map[string]any)) map[string]any {
		now := h.clock.Now()
		jti++
		c := map[string]any{"iss": h.op.Issuer(), "aud": h.op.ClientID(), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
			"jti": strconv.Itoa(jti), "sid": sid, "sub": "user-1",
			"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}
		if change != nil {
			change(c)
		}
		return c
	}
	signed := func(c map[string]any) string {
		tok, err := h.op.SignJWT(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := map[string]string{
		"unsigned":             unsignedJWT(claims(nil)),
		"wrong audience":       signed(claims(func(c map[string]any) { c["aud"] = "another-client" })),
		"wrong issuer":         signed(claims(func(c map[string]any) { c["iss"] = "https://evil.example" })),
		"expired":              signed(claims(func(c map[string]any) { c["exp"] = h.clock.Now().Add(-2 * time.Minute).Unix() })),
		"issued an hour ago":   signed(claims(func(c map[string]any) { c["iat"] = h.clock.Now().Add(-time.Hour).Unix() })),
		"issued in the future": signed(claims(func(c map[string]any) { c["iat"] = h.clock.Now().Add(time.Hour).Unix() })),
		"nonce present":        signed(claims(func(c map[string]any) { c["nonce"] = "n" })),
		"neither sid nor sub":  signed(claims(func(c map[string]any) { delete(c, "sid"); delete(c, "sub") })),
		"no event":             signed(claims(func(c map[string]any) { delete(c, "events") })),
		"another event":        signed(claims(func(c map[string]any) { c["events"] = map[string]any{"http://example/other": map[string]any{}} })),
		"no jti":               signed(claims(func(c map[string]any) { delete(c, "jti") })),
		"an ID token":          signed(map[string]any{"iss": h.op.Issuer(), "aud": h.op.ClientID(), "sub": "user-1", "iat": h.clock.Now().Unix(), "exp": h.clock.Now().Add(time.Minute).Unix()}),
		"garbage":              "not.a.token",
		"empty":                "",
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			if r := h.postLogoutToken(tok); r.status != 400 || r.header.Get("Cache-Control") != "no-store" || !strings.Contains(r.body, "logout token refused") {
				t.Fatalf("%d %v %q", r.status, r.header, r.body)
			}
			if r := h.b.get("/api/me", nil); r.status != 200 {
				t.Fatalf("a refused token ended the session: %d", r.status)
			}
		})
	}
	t.Run("replayed jti", func(t *testing.T) {
		tok := signed(claims(func(c map[string]any) { c["sid"], c["sub"] = "another-session", "another-user" }))
		if r := h.postLogoutToken(tok); r.status != 200 {
			t.Fatalf("first use: %d %s", r.status, r.body)
		}
		if r := h.postLogoutToken(tok); r.status != 400 || !strings.Contains(r.body, "replay") {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
	})
}

// switchableStore is a Store whose listing (what ending sessions by sid
// or sub needs) or claims (what the jti check needs) can be made to fail.
type switchableStore struct {
	oidcsession.Store
	listDown, claimDown atomic.Bool
}

func (s *switchableStore) List(ctx context.Context, index string) ([]*oidcsession.Record, error) {
	if s.listDown.Load() {
		return nil, context.DeadlineExceeded
	}
	return s.Store.List(ctx, index)
}

func (s *switchableStore) Claim(ctx context.Context, key string, value []byte, ttl time.Duration) (oidcsession.Claimed, error) {
	if s.claimDown.Load() && strings.HasPrefix(key, "logout-jti:") {
		return oidcsession.Claimed{}, context.DeadlineExceeded
	}
	return s.Store.Claim(ctx, key, value, ttl)
}

// TestBackChannelLogoutStoreDown: with the store unavailable the handler
// answers 503, not 400, ends nothing, and keeps no jti, so the provider's
// retry of the same token is carried out rather than refused as a replay;
// whether the jti check or the ending of the sessions failed.
func TestBackChannelLogoutStoreDown(t *testing.T) {
	for _, failing := range []string{"jti claim", "ending the sessions"} {
		t.Run(failing, func(t *testing.T) {
			st := &switchableStore{Store: oidcsession.NewMemoryStore()}
			h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithStore(st)}})
			h.b.startSession()
			now := h.clock.Now()
			tok, err := h.op.SignJWT(map[string]any{"iss": h.op.Issuer(), "aud": h.op.ClientID(), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
				"jti": "retry-me", "sid": h.b.me().SID, "sub": "user-1",
				"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}})
			if err != nil {
				t.Fatal(err)
			}
			down := &st.claimDown
			if failing == "ending the sessions" {
				down = &st.listDown
			}
			down.Store(true)
			if r := h.postLogoutToken(tok); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
				t.Fatalf("store down: %d %v %s", r.status, r.header, r.body)
			}
			if r := h.b.get("/api/me", nil); r.status != 200 {
				t.Fatalf("the session ended although the logout failed: %d", r.status)
			}
			down.Store(false)
			if r := h.postLogoutToken(tok); r.status != 200 {
				t.Fatalf("the provider's retry: %d %s", r.status, r.body)
			}
			if r := h.b.get("/api/me", nil); r.status != 401 {
				t.Fatalf("after the retry: %d %s", r.status, r.body)
			}
			if r := h.postLogoutToken(tok); r.status != 400 || !strings.Contains(r.body, "replay") {
				t.Fatalf("a replay after success: %d %s", r.status, r.body)
			}
		})
	}
}

// TestSessionsAndRevocation: with a Store, a user's sessions can be listed
// ("your devices") and ended one by one or all at once, on every replica
// and at the provider; with cookies they cannot be listed, and a
// revocation ends them at their next refresh.
func TestSessionsAndRevocation(t *testing.T) {
	t.Run("store", func(t *testing.T) {
		h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithStore(oidcsession.NewMemoryStore())}})
		firefox, chrome := h.newBrowser(), h.newBrowser()
		firefox.get("/test/signin", http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"}})
		h.clock.Advance(time.Second)
		chrome.get("/test/signin", http.Header{"User-Agent": {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36"}})
		var list []oidcsession.SessionInfo
		if err := json.Unmarshal([]byte(h.b.get("/test/sessions?sub=user-1", nil).body), &list); err != nil || len(list) != 2 {
			t.Fatalf("sessions: %v %+v", err, list)
		}
		if list[0].UserAgent != "Chrome on macOS" || list[1].UserAgent != "Firefox on Linux" || list[0].ID != chrome.me().ID {
			t.Fatalf("sessions, newest first: %+v", list)
		}
		if r := h.b.post("/test/revoke?id="+url.QueryEscape(list[1].ID), nil); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		if r := firefox.get("/api/me", nil); r.status != 401 || chrome.get("/api/me", nil).status != 200 || h.stats().Revocations != 1 {
			t.Fatalf("after revoking one: %d, revocations %d", r.status, h.stats().Revocations)
		}
		if r := h.b.post("/test/revoke?sub=user-1", nil); r.status != 200 || r.body != "1" {
			t.Fatalf("revoke the subject: %d %s", r.status, r.body)
		}
		if r := chrome.get("/api/me", nil); r.status != 401 || h.stats().Revocations != 2 {
			t.Fatalf("after revoking the subject: %d", r.status)
		}
	})
	t.Run("cookies", func(t *testing.T) {
		h := newHarness(t, setup{})
		h.b.startSession()
		if r := h.b.get("/test/sessions?sub=user-1", nil); r.status != http.StatusConflict || !strings.Contains(r.body, "needs a Store") {
			t.Fatalf("sessions with cookies: %d %s", r.status, r.body)
		}
		if r := h.b.post("/test/revoke?sub=user-1", nil); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		h.clock.Advance(time.Second)
		later := h.newBrowser()
		later.startSession() // signed in after the revocation: unaffected
		h.clock.Advance(6 * time.Minute)
		if r := h.b.get("/app", nil); r.status != 401 || r.json(t)["error"] != "session_expired" {
			t.Fatalf("the revoked session at its refresh: %d %s", r.status, r.body)
		}
		if r := later.get("/app", nil); r.status != 200 {
			t.Fatalf("a later session: %d %s", r.status, r.body)
		}
	})
}

// FuzzBackChannelLogout posts arbitrary logout_token values (seeded with
// signed tokens that are valid, replayed, or wrong in one claim) to the
// back-channel handler: it must never panic or fail with a 5xx, and it
// accepts only what the provider signed.
func FuzzBackChannelLogout(f *testing.F) {
	clock := oidcsessiontest.NewClock(time.Time{})
	op := oidcsessiontest.New(f, oidcsessiontest.Config{Now: clock.Now})
	m, err := oidcsession.New(discover(f, op), oauth2.Config{ClientID: op.ClientID(), ClientSecret: op.ClientSecret()},
		oidcsession.WithKeys(hashKey, blockKey), oidcsession.WithClock(clock.Now), oidcsession.WithStore(oidcsession.NewMemoryStore()))
	if err != nil {
		f.Fatal(err)
	}
	h := m.BackChannelLogoutHandler()
	event := map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": op.Issuer(), "aud": op.ClientID(), "iat": clock.Now().Unix(), "jti": "j1", "sub": "user-1", "events": event}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	for _, extra := range []map[string]any{nil, {"sid": "s1", "jti": "j2"}, {"nonce": "n"}, {"events": nil}, {"aud": "other"}} {
		tok, err := op.SignJWT(claims(extra))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Add(unsignedJWT(claims(nil)))
	f.Add("")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/auth/backchannel-logout", strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("answered %d %s", rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK && strings.Count(token, ".") == 2 && strings.HasSuffix(token, ".") {
			t.Fatal("accepted an unsigned token")
		}
	})
}

// TestRevokeSubjectLeavesOthersRecords: a deployment sharing the store
// with other keys (a shared prefix, say) keeps its sessions when this one
// revokes a subject: records these keys cannot open are never deleted.
func TestRevokeSubjectLeavesOthersRecords(t *testing.T) {
	shared := oidcsession.NewMemoryStore()
	h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithStore(shared)}})
	other := h.replica(setup{opts: []oidcsession.Option{oidcsession.WithStore(shared),
		oidcsession.WithKeys([]byte("another hash key of 32 bytes!!!!"), []byte("another block k!"))}})
	h.b.startSession()
	other.b.startSession()
	if r := h.b.post("/test/revoke?sub=user-1", nil); r.status != 200 || r.body != "1" {
		t.Fatalf("revoke the subject: %d %s", r.status, r.body)
	}
	if r := other.b.get("/api/me", nil); r.status != 200 {
		t.Fatalf("the other deployment's session: %d %s", r.status, r.body)
	}
}

// TestRevokeSessionOf: a user can end only their own sessions; with
// cookies it needs a Store.
func TestRevokeSessionOf(t *testing.T) {
	h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithStore(oidcsession.NewMemoryStore())}})
	h.b.startSession()
	id := h.b.me().ID
	ctx := context.Background()
	if err := h.m.RevokeSessionOf(ctx, "someone-else", id); !errors.Is(err, oidcsession.ErrNotFound) {
		t.Fatalf("another subject's session: %v", err)
	}
	if r := h.b.get("/api/me", nil); r.status != 200 {
		t.Fatalf("the session after a refused revocation: %d", r.status)
	}
	if err := h.m.RevokeSessionOf(ctx, "user-1", id); err != nil {
		t.Fatal(err)
	}
	if r := h.b.get("/api/me", nil); r.status != 401 {
		t.Fatalf("the session after its owner revoked it: %d", r.status)
	}
	if err := h.m.RevokeSessionOf(ctx, "user-1", id); !errors.Is(err, oidcsession.ErrNotFound) {
		t.Fatalf("an ended session: %v", err)
	}
	c := newHarness(t, setup{})
	if err := c.m.RevokeSessionOf(ctx, "user-1", "x"); !errors.Is(err, oidcsession.ErrNoStore) {
		t.Fatalf("cookies: %v", err)
	}
}

// TestCheckCSRF: an application's own endpoint gets the refresh
// endpoint's defence.
func TestCheckCSRF(t *testing.T) {
	h := newHarness(t, setup{})
	for _, tt := range []struct {
		name string
		hdr  http.Header
		ok   bool
	}{
		{"same origin with the header", http.Header{"Sec-Fetch-Site": {"same-origin"}, oidcsession.CSRFHeader: {"1"}}, true},
		{"no header", http.Header{"Sec-Fetch-Site": {"same-origin"}}, false},
		{"cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}, oidcsession.CSRFHeader: {"1"}}, false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/mine", nil)
		for k, v := range tt.hdr {
			r.Header[k] = v
		}
		if err := h.m.CheckCSRF(r); (err == nil) != tt.ok || (err != nil && !errors.Is(err, oidcsession.ErrCSRF)) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
