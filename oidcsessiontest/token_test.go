package oidcsessiontest

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestRefreshRotationAndReuse(t *testing.T) {
	r := newRP(t, Config{})
	tok := r.login()
	rt0 := tok.RefreshToken

	status, body := refresh(t, r.op, rt0, nil)
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, body)
	}
	rt1, _ := body["refresh_token"].(string)
	if rt1 == "" || rt1 == rt0 {
		t.Fatalf("not rotated: %v", body)
	}
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(300) || body["id_token"] == nil || body["scope"] == nil {
		t.Fatalf("response %v", body)
	}
	at1 := body["access_token"].(string)
	idTok, err := r.verifier.Verify(r.ctx, body["id_token"].(string))
	if err != nil || idTok.Nonce != "" {
		t.Fatalf("refreshed id token: %v nonce %q", err, idTok.Nonce)
	}
	if status, _, _ := userinfo(t, r.op, at1); status != http.StatusOK {
		t.Fatalf("userinfo before reuse: %d", status)
	}

	// Presenting rt0 again is reuse: the whole family dies.
	status, body = refresh(t, r.op, rt0, nil)
	wantOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
	if body["error_description"] != "refresh token reuse detected" {
		t.Errorf("description %v", body["error_description"])
	}
	if r.op.Stats().ReuseDetections != 1 {
		t.Errorf("reuse detections %d", r.op.Stats().ReuseDetections)
	}
	status, body = refresh(t, r.op, rt1, nil)
	wantOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
	if status, _, h := userinfo(t, r.op, at1); status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("userinfo after reuse: %d %q", status, h.Get("WWW-Authenticate"))
	}
	if status, _, _ := userinfo(t, r.op, tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("first access token still valid after reuse: %d", status)
	}
	if g, s := r.op.Stats().Grants["refresh_token"], r.op.Stats().SuccessfulGrants["refresh_token"]; g != 3 || s != 1 {
		t.Errorf("grants %d successes %d", g, s)
	}

	status, body = refresh(t, r.op, "no-such-token", nil)
	wantOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
}

func TestRefreshOptions(t *testing.T) {
	t.Run("DisableRefreshRotation", func(t *testing.T) {
		op := New(t, Config{DisableRefreshRotation: true})
		tok, _ := op.IssueTokens(IssueOptions{})
		for range 3 {
			status, body := refresh(t, op, tok.RefreshToken, nil)
			if status != http.StatusOK || body["refresh_token"] != nil {
				t.Fatalf("%d %v", status, body)
			}
		}
		if op.Stats().ReuseDetections != 0 {
			t.Error("reuse detected without rotation")
		}
	})
	t.Run("DisableReuseDetection", func(t *testing.T) {
		op := New(t, Config{DisableReuseDetection: true})
		tok, _ := op.IssueTokens(IssueOptions{})
		_, body := refresh(t, op, tok.RefreshToken, nil)
		status, body2 := refresh(t, op, tok.RefreshToken, nil)
		wantOAuthError(t, status, body2, http.StatusBadRequest, "invalid_grant")
		if status, _ := refresh(t, op, body["refresh_token"].(string), nil); status != http.StatusOK {
			t.Fatalf("newest refresh token revoked: %d", status)
		}
	})
	t.Run("OmitIDTokenOnRefresh", func(t *testing.T) {
		op := New(t, Config{OmitIDTokenOnRefresh: true})
		tok, _ := op.IssueTokens(IssueOptions{})
		if status, body := refresh(t, op, tok.RefreshToken, nil); status != http.StatusOK || body["id_token"] != nil {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("OmitRefreshToken", func(t *testing.T) {
		op := New(t, Config{OmitRefreshToken: true})
		tok, _ := op.IssueTokens(IssueOptions{})
		if tok.RefreshToken != "" {
			t.Fatal("refresh token issued")
		}
		status, body := refresh(t, op, "x", nil)
		wantOAuthError(t, status, body, http.StatusBadRequest, "unauthorized_client")
	})
	t.Run("RefreshTokenLifetime", func(t *testing.T) {
		clock := NewClock(time.Time{})
		op := New(t, Config{Now: clock.Now, RefreshTokenLifetime: time.Hour})
		tok, _ := op.IssueTokens(IssueOptions{})
		clock.Advance(time.Hour)
		status, body := refresh(t, op, tok.RefreshToken, nil)
		wantOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
	})
	t.Run("AccessTokenClaims", func(t *testing.T) {
		big := strings.Repeat("x", 900)
		op := New(t, Config{AccessTokenClaims: map[string]any{"pad": big}, AccessTokenLifetime: time.Minute})
		tok, _ := op.IssueTokens(IssueOptions{})
		if jwtPart(t, tok.AccessToken, 1)["pad"] != big || len(tok.AccessToken) < 1200 {
			t.Fatalf("access token %d bytes", len(tok.AccessToken))
		}
		if tok.ExpiresIn != 60 {
			t.Errorf("expires_in %d", tok.ExpiresIn)
		}
	})
}

func TestRefreshScope(t *testing.T) {
	op := New(t, Config{})
	tok, _ := op.IssueTokens(IssueOptions{})
	status, body := refresh(t, op, tok.RefreshToken, url.Values{"scope": {"openid email"}})
	if status != http.StatusOK || body["scope"] != "openid email" {
		t.Fatalf("%d %v", status, body)
	}
	if s := jwtPart(t, body["access_token"].(string), 1)["scope"]; s != "openid email" {
		t.Errorf("access token scope %v", s)
	}
	// Narrowing applies to one response; the family keeps its grant.
	rt := body["refresh_token"].(string)
	status, body = refresh(t, op, rt, nil)
	if status != http.StatusOK || body["scope"] != "openid profile email offline_access" {
		t.Fatalf("%d %v", status, body)
	}
	status, body = refresh(t, op, body["refresh_token"].(string), url.Values{"scope": {"openid admin"}})
	wantOAuthError(t, status, body, http.StatusBadRequest, "invalid_scope")
}

func TestRefreshResource(t *testing.T) {
	tests := []struct {
		name      string
		resources []string // Config.Resources
		request   []string
		wantAud   any
		wantErr   string
	}{
		{"none", nil, nil, "client", ""},
		{"one", nil, []string{"https://api.example.test"}, "https://api.example.test", ""},
		{"two", nil, []string{"https://a.test", "https://b.test"}, []any{"https://a.test", "https://b.test"}, ""},
		{"relative", nil, []string{"/api"}, nil, "invalid_target"},
		{"fragment", nil, []string{"https://a.test/#x"}, nil, "invalid_target"},
		{"allowed", []string{"https://a.test"}, []string{"https://a.test"}, "https://a.test", ""},
		{"not allowed", []string{"https://a.test"}, []string{"https://b.test"}, nil, "invalid_target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := New(t, Config{Resources: tt.resources, Algorithm: "ES256"})
			tok, _ := op.IssueTokens(IssueOptions{})
			status, body := refresh(t, op, tok.RefreshToken, url.Values{"resource": tt.request})
			if tt.wantErr != "" {
				wantOAuthError(t, status, body, http.StatusBadRequest, tt.wantErr)
				if status, _ := refresh(t, op, tok.RefreshToken, nil); status != http.StatusOK {
					t.Error("a rejected request spent the refresh token")
				}
				return
			}
			if status != http.StatusOK {
				t.Fatalf("%d %v", status, body)
			}
			aud := jwtPart(t, body["access_token"].(string), 1)["aud"]
			if !equalJSON(aud, tt.wantAud) {
				t.Errorf("aud %v, want %v", aud, tt.wantAud)
			}
		})
	}
}

func equalJSON(a, b any) bool {
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok {
		if len(as) != len(bs) {
			return false
		}
		for i := range as {
			if as[i] != bs[i] {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestCodeGrantErrors(t *testing.T) {
	t.Run("PKCE mismatch", func(t *testing.T) {
		r := newRP(t, Config{})
		q, _ := r.authorize()
		_, err := r.conf.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantRetrieveError(t, err, "invalid_grant")
	})
	t.Run("missing verifier", func(t *testing.T) {
		r := newRP(t, Config{})
		q, _ := r.authorize()
		_, err := r.conf.Exchange(r.ctx, q.Get("code"))
		wantRetrieveError(t, err, "invalid_grant")
	})
	t.Run("redirect_uri mismatch", func(t *testing.T) {
		r := newRP(t, Config{})
		q, v := r.authorize()
		conf := r.conf
		conf.RedirectURL = "http://rp.test/other"
		_, err := conf.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(v))
		wantRetrieveError(t, err, "invalid_grant")
	})
	t.Run("code reuse revokes", func(t *testing.T) {
		r := newRP(t, Config{})
		q, v := r.authorize()
		tok, err := r.conf.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.conf.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(v))
		wantRetrieveError(t, err, "invalid_grant")
		status, body := refresh(t, r.op, tok.RefreshToken, nil)
		wantOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
	})
	t.Run("code expiry", func(t *testing.T) {
		clock := NewClock(time.Time{})
		r := newRP(t, Config{Now: clock.Now})
		q, v := r.authorize()
		clock.Advance(61 * time.Second)
		_, err := r.conf.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(v))
		wantRetrieveError(t, err, "invalid_grant")
	})
	t.Run("unknown code", func(t *testing.T) {
		op := New(t, Config{})
		status, body, _ := post(t, op, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {redirectURL}}, true)
		wantOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
	})
}

func wantRetrieveError(t *testing.T, err error, code string) {
	t.Helper()
	re, ok := err.(*oauth2.RetrieveError)
	if !ok || re.ErrorCode != code {
		t.Fatalf("error %v, want %s", err, code)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	op := New(t, Config{})
	status, body, _ := post(t, op, "/token", url.Values{"grant_type": {"password"}}, true)
	wantOAuthError(t, status, body, http.StatusBadRequest, "unsupported_grant_type")
	status, body, _ = post(t, op, "/token", url.Values{}, true)
	wantOAuthError(t, status, body, http.StatusBadRequest, "invalid_request")
	status, body, _ = post(t, op, "/token", url.Values{"grant_type": {"refresh_token"}}, true)
	wantOAuthError(t, status, body, http.StatusBadRequest, "invalid_request")
	resp, err := http.Get(op.Issuer() + "/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /token: %d", resp.StatusCode)
	}
	tok, _ := op.IssueTokens(IssueOptions{})
	req, _ := http.NewRequest(http.MethodPost, op.Issuer()+"/token",
		strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("client", "secret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", resp.Header)
	}
}

func TestClientAuthentication(t *testing.T) {
	const odd = "s&c:r%t é"
	tests := []struct {
		name       string
		cfg        Config
		basic      [2]string // id, secret (already URL-encoded); empty id = no Basic
		form       url.Values
		wantStatus int
		wantBasic  bool // WWW-Authenticate: Basic expected
	}{
		{"basic ok", Config{}, [2]string{"client", "secret"}, nil, 200, false},
		{"basic encoded secret", Config{ClientSecret: odd}, [2]string{"client", url.QueryEscape(odd)}, nil, 200, false},
		{"basic wrong secret", Config{}, [2]string{"client", "nope"}, nil, 401, true},
		{"basic unknown client", Config{}, [2]string{"other", "secret"}, nil, 401, true},
		{"basic not allowed", Config{TokenEndpointAuthMethods: []string{"client_secret_post"}}, [2]string{"client", "secret"}, nil, 401, true},
		{"post ok", Config{}, [2]string{}, url.Values{"client_id": {"client"}, "client_secret": {"secret"}}, 200, false},
		{"post wrong secret", Config{}, [2]string{}, url.Values{"client_id": {"client"}, "client_secret": {"x"}}, 401, false},
		{"post not allowed", Config{TokenEndpointAuthMethods: []string{"client_secret_basic"}}, [2]string{}, url.Values{"client_id": {"client"}, "client_secret": {"secret"}}, 401, false},
		{"no credentials", Config{}, [2]string{}, nil, 401, false},
		{"client_id only, confidential", Config{}, [2]string{}, url.Values{"client_id": {"client"}}, 401, false},
		{"public client_id only", Config{PublicClient: true}, [2]string{}, url.Values{"client_id": {"client"}}, 200, false},
		{"public wrong client_id", Config{PublicClient: true}, [2]string{}, url.Values{"client_id": {"x"}}, 401, false},
		{"public via basic", Config{PublicClient: true}, [2]string{"client", ""}, nil, 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := New(t, tt.cfg)
			tok, err := op.IssueTokens(IssueOptions{})
			if err != nil {
				t.Fatal(err)
			}
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
			for k, v := range tt.form {
				form[k] = v
			}
			req, _ := http.NewRequest(http.MethodPost, op.Issuer()+"/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.basic[0] != "" {
				req.SetBasicAuth(tt.basic[0], tt.basic[1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic"); got != tt.wantBasic {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestPublicClientCodeFlow(t *testing.T) {
	r := newRP(t, Config{PublicClient: true})
	if r.op.ClientSecret() != "" {
		t.Fatal("public client has a secret")
	}
	tok := r.login()
	r.verifyID(tok)
}

func TestConcurrentRefreshes(t *testing.T) {
	op := New(t, Config{Algorithm: "ES256"})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			tok, err := op.IssueTokens(IssueOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			rt := tok.RefreshToken
			for range 5 {
				status, body := refresh(t, op, rt, nil)
				if status != http.StatusOK {
					t.Errorf("%d %v", status, body)
					return
				}
				rt = body["refresh_token"].(string)
			}
		})
	}
	// The same refresh token raced by two clients: exactly one wins.
	tok, _ := op.IssueTokens(IssueOptions{})
	var mu sync.Mutex
	ok := 0
	for range 2 {
		wg.Go(func() {
			if status, _ := refresh(t, op, tok.RefreshToken, nil); status == http.StatusOK {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 1 || op.Stats().ReuseDetections != 1 || op.Stats().SuccessfulGrants["refresh_token"] != 41 {
		t.Fatalf("winners %d reuse %d successes %d", ok, op.Stats().ReuseDetections, op.Stats().SuccessfulGrants["refresh_token"])
	}
}
