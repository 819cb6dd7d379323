package oidcsessiontest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestRefusedRefreshSpendsPerMode: by default a refused scope or resource
// spends nothing; with the Spends modes the token is spent first, so
// presenting it again is reuse and revokes the family.
func TestRefusedRefreshSpendsPerMode(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		extra     url.Values
		code      string
		wantSpent bool
	}{
		{"target checked first", Config{Resources: []string{"https://api.test/"}}, url.Values{"resource": {"https://other.test/"}}, "invalid_target", false},
		{"target after spending", Config{Resources: []string{"https://api.test/"}, InvalidTargetSpendsRefreshToken: true}, url.Values{"resource": {"https://other.test/"}}, "invalid_target", true},
		{"scope checked first", Config{}, url.Values{"scope": {"admin"}}, "invalid_scope", false},
		{"scope after spending", Config{InvalidScopeSpendsRefreshToken: true}, url.Values{"scope": {"admin"}}, "invalid_scope", true},
		{"no rotation never spends", Config{InvalidTargetSpendsRefreshToken: true, DisableRefreshRotation: true, Resources: []string{"https://api.test/"}}, url.Values{"resource": {"https://other.test/"}}, "invalid_target", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := New(t, tt.cfg)
			tok, err := op.IssueTokens(IssueOptions{})
			if err != nil {
				t.Fatal(err)
			}
			status, body := refresh(t, op, tok.RefreshToken, tt.extra)
			wantOAuthError(t, status, body, http.StatusBadRequest, tt.code)
			status, body = refresh(t, op, tok.RefreshToken, nil)
			if spent := body["error"] == "invalid_grant"; spent != tt.wantSpent || (!spent && status != 200) {
				t.Fatalf("second presentation: %d %v, want spent=%t", status, body, tt.wantSpent)
			}
			if got := op.Stats().ReuseDetections; (got == 1) != tt.wantSpent {
				t.Fatalf("%d reuse detections", got)
			}
		})
	}
}

// TestOfflineAccessRequiresConsent follows OIDC Core 11: no consent, no
// offline_access and no refresh token; prompt=consent gets both.
func TestOfflineAccessRequiresConsent(t *testing.T) {
	r := newRP(t, Config{OfflineAccessRequiresConsent: true})
	tok := r.login()
	if tok.RefreshToken != "" || tok.Extra("scope") != "openid profile email" {
		t.Fatalf("without consent: refresh token %t, scope %v", tok.RefreshToken != "", tok.Extra("scope"))
	}
	tok = r.login(oauth2.SetAuthURLParam("prompt", "none"))
	if tok.RefreshToken != "" {
		t.Fatal("prompt=none got a refresh token")
	}
	tok = r.login(oauth2.SetAuthURLParam("prompt", "consent"))
	if tok.RefreshToken == "" || tok.Extra("scope") != "openid profile email offline_access" {
		t.Fatalf("with consent: refresh token %t, scope %v", tok.RefreshToken != "", tok.Extra("scope"))
	}
}

// TestRegisteredClientAuthMethod: a provider that advertises several
// methods still accepts only the one the client registered.
func TestRegisteredClientAuthMethod(t *testing.T) {
	op := New(t, Config{ClientAuthMethod: "client_secret_post"})
	tok, _ := op.IssueTokens(IssueOptions{})
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
	status, body, _ := post(t, op, "/token", form, true)
	wantOAuthError(t, status, body, http.StatusUnauthorized, "invalid_client")
	form.Set("client_id", op.ClientID())
	form.Set("client_secret", op.ClientSecret())
	if status, body, _ := post(t, op, "/token", form, false); status != 200 {
		t.Fatalf("client_secret_post: %d %v", status, body)
	}
}

// TestPrivateKeyJWT authenticates with RFC 7523 assertions signed by RSA
// (RS256, PS256) and EC keys, and refuses bad ones.
func TestPrivateKeyJWT(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name   string
		pub    crypto.PublicKey
		signer crypto.Signer
		alg    string
		claims func(op *Provider, c map[string]any)
		ok     bool
	}{
		{"RS256", &rsaKey.PublicKey, rsaKey, "RS256", nil, true},
		{"PS256", &rsaKey.PublicKey, rsaKey, "PS256", nil, true},
		{"ES256", &ecKey.PublicKey, ecKey, "ES256", nil, true},
		{"aud is the issuer", &ecKey.PublicKey, ecKey, "ES256", func(op *Provider, c map[string]any) { c["aud"] = op.Issuer() }, true},
		{"wrong key", &ecKey.PublicKey, otherKey, "ES256", nil, false},
		{"wrong aud", &ecKey.PublicKey, ecKey, "ES256", func(_ *Provider, c map[string]any) { c["aud"] = "https://elsewhere/" }, false},
		{"expired", &ecKey.PublicKey, ecKey, "ES256", func(_ *Provider, c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, false},
		{"wrong sub", &ecKey.PublicKey, ecKey, "ES256", func(_ *Provider, c map[string]any) { c["sub"] = "someone" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := New(t, Config{ClientPublicKey: tt.pub, ClientAuthMethod: "private_key_jwt"})
			tok, _ := op.IssueTokens(IssueOptions{})
			claims := map[string]any{"iss": op.ClientID(), "sub": op.ClientID(), "aud": op.Issuer() + "/token",
				"exp": time.Now().Add(time.Minute).Unix(), "jti": randomString(8)}
			if tt.claims != nil {
				tt.claims(op, claims)
			}
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
				"client_id": {op.ClientID()}, "client_assertion_type": {clientAssertionType},
				"client_assertion": {signAssertion(t, tt.signer, tt.alg, claims)}}
			status, body, _ := post(t, op, "/token", form, false)
			if (status == 200) != tt.ok {
				t.Fatalf("%d %v", status, body)
			}
			if tt.ok {
				form.Set("refresh_token", body["refresh_token"].(string))
				status, body, _ = post(t, op, "/token", form, false)
				wantOAuthError(t, status, body, http.StatusUnauthorized, "invalid_client") // jti replayed
			}
		})
	}
}

// signAssertion signs a client assertion the way a client library would.
func signAssertion(t *testing.T, key crypto.Signer, alg string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	p, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if alg == "PS256" {
			sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		}
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, sum[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestResourceScopes: a resource with its own scopes gets tokens for its
// audience with those scopes, and refuses others.
func TestResourceScopes(t *testing.T) {
	op := New(t, Config{Resources: []string{"https://api.test/orders"}, ResourceScopes: map[string][]string{"https://api.test/orders": {"orders:read", "orders:write"}}})
	tok, _ := op.IssueTokens(IssueOptions{})
	status, body := refresh(t, op, tok.RefreshToken, url.Values{"resource": {"https://api.test/orders"}})
	if status != 200 || body["scope"] != "orders:read orders:write" || jwtPart(t, body["access_token"].(string), 1)["aud"] != "https://api.test/orders" {
		t.Fatalf("all of the resource's scopes: %d %v", status, body)
	}
	status, body = refresh(t, op, body["refresh_token"].(string), url.Values{"resource": {"https://api.test/orders"}, "scope": {"orders:read"}})
	if status != 200 || body["scope"] != "orders:read" {
		t.Fatalf("a subset: %d %v", status, body)
	}
	status, body = refresh(t, op, body["refresh_token"].(string), url.Values{"resource": {"https://api.test/orders"}, "scope": {"openid"}})
	wantOAuthError(t, status, body, http.StatusBadRequest, "invalid_scope")
}
