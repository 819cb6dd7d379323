package oidcsessiontest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestPromptNone(t *testing.T) {
	clock := NewClock(time.Time{})
	r := newRP(t, Config{Now: clock.Now})
	none := oauth2.SetAuthURLParam("prompt", "none")

	q, _ := r.authorize(none)
	if q.Get("error") != "login_required" || q.Get("state") != "state-xyz" || q.Get("iss") != r.op.Issuer() || q.Get("code") != "" {
		t.Fatalf("without session: %v", q)
	}

	authTime := func(opts ...oauth2.AuthCodeOption) int64 {
		var c struct {
			AuthTime int64 `json:"auth_time"`
		}
		if err := r.verifyID(r.login(opts...)).Claims(&c); err != nil {
			t.Fatal(err)
		}
		return c.AuthTime
	}
	first := authTime()
	clock.Advance(time.Minute)
	if silent := authTime(none); silent != first {
		t.Errorf("prompt=none changed auth_time: %v -> %v", first, silent)
	}
	clock.Advance(time.Minute)
	if again := authTime(oauth2.SetAuthURLParam("prompt", "login")); again != first+120 {
		t.Errorf("prompt=login: auth_time %v, want %v", again, first+120)
	}

	// A browser without the cookie, but SetLoggedIn(true).
	other := *r
	other.browser = newBrowser()
	r.op.SetLoggedIn(true)
	if q, _ := other.authorize(none); q.Get("code") == "" {
		t.Fatalf("SetLoggedIn(true): %v", q)
	}
	r.op.SetLoggedIn(false)
	if q, _ := other.authorize(none); q.Get("error") != "login_required" {
		t.Fatalf("SetLoggedIn(false): %v", q)
	}
	if q, _ := r.authorize(none); q.Get("error") != "login_required" {
		t.Fatalf("SetLoggedIn(false) kept the cookie session: %v", q)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	r := newRP(t, Config{RedirectURIs: []string{redirectURL}})
	base := url.Values{
		"client_id": {"client"}, "redirect_uri": {redirectURL}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s1"}, "code_challenge": {strings.Repeat("a", 43)},
		"code_challenge_method": {"S256"},
	}
	tests := []struct {
		name      string
		change    url.Values
		wantPage  bool   // 400 page, no redirect
		wantError string // error in the redirect
	}{
		{"unknown client", url.Values{"client_id": {"x"}}, true, ""},
		{"missing client", url.Values{"client_id": nil}, true, ""},
		{"unregistered redirect", url.Values{"redirect_uri": {"http://evil.test/cb"}}, true, ""},
		{"missing redirect", url.Values{"redirect_uri": nil}, true, ""},
		{"response_type", url.Values{"response_type": {"token"}}, false, "unsupported_response_type"},
		{"no openid", url.Values{"scope": {"profile"}}, false, "invalid_scope"},
		{"no PKCE", url.Values{"code_challenge": nil, "code_challenge_method": nil}, false, "invalid_request"},
		{"plain PKCE", url.Values{"code_challenge_method": {"plain"}}, false, "invalid_request"},
		{"bad prompt", url.Values{"prompt": {"none login"}}, false, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range base {
				q[k] = v
			}
			for k, v := range tt.change {
				if v == nil {
					delete(q, k)
				} else {
					q[k] = v
				}
			}
			resp, err := r.browser.Get(r.op.Issuer() + "/authorize?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tt.wantPage {
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("status %d: %v", resp.StatusCode, err)
			}
			got := loc.Query()
			if got.Get("error") != tt.wantError || got.Get("state") != "s1" || got.Get("iss") != r.op.Issuer() ||
				got.Get("error_description") == "" {
				t.Fatalf("redirect %v", got)
			}
		})
	}
}

func TestEndSession(t *testing.T) {
	r := newRP(t, Config{PostLogoutRedirectURIs: []string{"http://rp.test/bye"}})
	tok := r.login()
	idToken := tok.Extra("id_token").(string)

	u := r.op.Issuer() + "/end_session?" + url.Values{
		"id_token_hint": {idToken}, "post_logout_redirect_uri": {"http://rp.test/bye"}, "state": {"st"},
	}.Encode()
	resp, err := r.browser.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || loc.Path != "/bye" || loc.Query().Get("state") != "st" {
		t.Fatalf("status %d location %v", resp.StatusCode, loc)
	}
	if q, _ := r.authorize(oauth2.SetAuthURLParam("prompt", "none")); q.Get("error") != "login_required" {
		t.Fatalf("provider session survived logout: %v", q)
	}

	// An expired ID token is still a fine hint.
	clock := NewClock(time.Time{})
	op := New(t, Config{Now: clock.Now})
	old, _ := op.IssueTokens(IssueOptions{})
	clock.Advance(time.Hour)
	foreign, _ := New(t, Config{}).SignJWT(map[string]any{"iss": op.Issuer(), "aud": "client"})
	tests := []struct {
		name   string
		params url.Values
		want   int
	}{
		{"no params", nil, http.StatusOK},
		{"expired hint", url.Values{"id_token_hint": {old.Extra("id_token").(string)}}, http.StatusOK},
		{"garbage hint", url.Values{"id_token_hint": {"a.b.c"}}, http.StatusBadRequest},
		{"foreign key", url.Values{"id_token_hint": {foreign}}, http.StatusBadRequest},
		{"relative redirect", url.Values{"post_logout_redirect_uri": {"/bye"}}, http.StatusBadRequest},
		{"wrong client", url.Values{"client_id": {"x"}}, http.StatusBadRequest},
		{"any redirect", url.Values{"post_logout_redirect_uri": {"https://app.test/"}}, http.StatusFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.PostForm(op.Issuer()+"/end_session", tt.params)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, b)
			}
		})
	}
	if op.Stats().EndSessions != len(tests) || r.op.Stats().EndSessions != 1 {
		t.Errorf("end sessions %d %d", op.Stats().EndSessions, r.op.Stats().EndSessions)
	}
}

func TestUserinfo(t *testing.T) {
	clock := NewClock(time.Time{})
	op := New(t, Config{Now: clock.Now, User: User{Subject: "alice", Claims: map[string]any{"email": "a@x.test"}}})
	tok, _ := op.IssueTokens(IssueOptions{})
	status, body, _ := userinfo(t, op, tok.AccessToken)
	if status != http.StatusOK || body["sub"] != "alice" || body["email"] != "a@x.test" || body["name"] != nil {
		t.Fatalf("%d %v", status, body)
	}
	forged, _ := op.SignJWT(jwtPart(t, tok.AccessToken, 1))
	for name, at := range map[string]string{"unknown": "nope", "not issued": forged} {
		if status, _, h := userinfo(t, op, at); status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %q", name, status, h.Get("WWW-Authenticate"))
		}
	}
	resp, err := http.Get(op.Issuer() + "/userinfo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	clock.Advance(5 * time.Minute)
	if status, _, _ := userinfo(t, op, tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("expired token accepted: %d", status)
	}
	if op.Stats().UserInfo != 5 {
		t.Errorf("calls %d", op.Stats().UserInfo)
	}
}

func TestRevocation(t *testing.T) {
	op := New(t, Config{})
	revoke := func(token, hint string, basic bool) int {
		t.Helper()
		form := url.Values{"token": {token}}
		if hint != "" {
			form.Set("token_type_hint", hint)
		}
		status, _, _ := post(t, op, "/revoke", form, basic)
		return status
	}

	a, _ := op.IssueTokens(IssueOptions{})
	_, body := refresh(t, op, a.RefreshToken, nil)
	newest := body["refresh_token"].(string)
	if s := revoke(newest, "refresh_token", true); s != http.StatusOK {
		t.Fatal(s)
	}
	if status, body := refresh(t, op, newest, nil); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("revoked refresh token: %d %v", status, body)
	}
	if status, _, _ := userinfo(t, op, body["access_token"].(string)); status != http.StatusUnauthorized {
		t.Errorf("family access token survived: %d", status)
	}

	b, _ := op.IssueTokens(IssueOptions{})
	if s := revoke(b.AccessToken, "", true); s != http.StatusOK {
		t.Fatal(s)
	}
	if status, _, _ := userinfo(t, op, b.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("revoked access token: %d", status)
	}
	if status, _ := refresh(t, op, b.RefreshToken, nil); status != http.StatusOK {
		t.Errorf("revoking the access token killed the refresh token: %d", status)
	}

	if s := revoke("unknown", "", true); s != http.StatusOK {
		t.Errorf("unknown token: %d", s)
	}
	if s := revoke(b.RefreshToken, "", false); s != http.StatusUnauthorized {
		t.Errorf("unauthenticated revoke: %d", s)
	}
	if s := revoke("", "", true); s != http.StatusBadRequest {
		t.Errorf("missing token: %d", s)
	}
	if op.Stats().Revocations != 5 {
		t.Errorf("revocations %d", op.Stats().Revocations)
	}
}

// TestIntrospection: live access tokens are active with their audience and
// scope; revoked, expired and refresh tokens are not; callers must
// authenticate.
func TestIntrospection(t *testing.T) {
	clock := NewClock(time.Time{})
	op := New(t, Config{Now: clock.Now, Resources: []string{"https://api.test/"}})
	introspect := func(token string, basic bool) (int, map[string]any) {
		t.Helper()
		status, body, _ := post(t, op, "/introspect", url.Values{"token": {token}}, basic)
		return status, body
	}
	tok, _ := op.IssueTokens(IssueOptions{})
	if status, body := introspect(tok.AccessToken, true); status != 200 || body["active"] != true || body["aud"] != op.ClientID() || body["sub"] == "" || body["scope"] == "" {
		t.Fatalf("live token: %d %v", status, body)
	}
	_, body := refresh(t, op, tok.RefreshToken, url.Values{"resource": {"https://api.test/"}})
	at := body["access_token"].(string)
	if _, body := introspect(at, true); body["active"] != true || body["aud"] != "https://api.test/" {
		t.Fatalf("resource token: %v", body)
	}
	if _, body := introspect(body["refresh_token"].(string), true); body["active"] != false {
		t.Fatalf("a refresh token reported: %v", body)
	}
	if status, _ := introspect(at, false); status != http.StatusUnauthorized {
		t.Fatalf("unauthenticated: %d", status)
	}
	clock.Advance(time.Hour)
	if _, body := introspect(at, true); body["active"] != false {
		t.Fatalf("expired token: %v", body)
	}
	fresh, _ := op.IssueTokens(IssueOptions{})
	_, _, _ = post(t, op, "/revoke", url.Values{"token": {fresh.AccessToken}}, true)
	if _, body := introspect(fresh.AccessToken, true); body["active"] != false {
		t.Fatalf("revoked token: %v", body)
	}
}
