package oidcsessiontest

import (
	"encoding/json"
	"net"
	"net/http"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

func TestDiscovery(t *testing.T) {
	r := newRP(t, Config{})
	var meta struct {
		Issuer          string   `json:"issuer"`
		Revocation      string   `json:"revocation_endpoint"`
		EndSession      string   `json:"end_session_endpoint"`
		Userinfo        string   `json:"userinfo_endpoint"`
		Challenge       []string `json:"code_challenge_methods_supported"`
		AuthMethods     []string `json:"token_endpoint_auth_methods_supported"`
		Algs            []string `json:"id_token_signing_alg_values_supported"`
		IssParam        bool     `json:"authorization_response_iss_parameter_supported"`
		Claims          []string `json:"claims_supported"`
		GrantTypes      []string `json:"grant_types_supported"`
		ResponseTypes   []string `json:"response_types_supported"`
		SubjectTypes    []string `json:"subject_types_supported"`
		ScopesSupported []string `json:"scopes_supported"`
	}
	if err := r.provider.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	iss := r.op.Issuer()
	if meta.Issuer != iss || meta.Revocation != iss+"/revoke" || meta.EndSession != iss+"/end_session" ||
		meta.Userinfo != iss+"/userinfo" || !meta.IssParam || len(meta.Challenge) != 1 || meta.Challenge[0] != "S256" ||
		len(meta.AuthMethods) != 2 || meta.Algs[0] != "RS256" || len(meta.GrantTypes) != 2 ||
		len(meta.Claims) < 10 || len(meta.ResponseTypes) != 1 || len(meta.SubjectTypes) != 1 || len(meta.ScopesSupported) != 4 {
		t.Fatalf("metadata %+v", meta)
	}
	if r.provider.Endpoint().TokenURL != iss+"/token" || r.provider.Endpoint().AuthURL != iss+"/authorize" {
		t.Fatalf("endpoint %+v", r.provider.Endpoint())
	}
}

func TestDiscoveryDisabledEndpoints(t *testing.T) {
	r := newRP(t, Config{DisableRevocation: true, DisableEndSession: true, OmitRefreshToken: true})
	var meta map[string]any
	if err := r.provider.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	if _, ok := meta["revocation_endpoint"]; ok {
		t.Error("revocation_endpoint advertised")
	}
	if _, ok := meta["end_session_endpoint"]; ok {
		t.Error("end_session_endpoint advertised")
	}
	for _, path := range []string{"/revoke", "/end_session"} {
		resp, err := http.Post(r.op.Issuer()+path, "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, resp.StatusCode)
		}
	}
	if tok := r.login(); tok.RefreshToken != "" {
		t.Error("refresh token issued with OmitRefreshToken")
	}
}

func TestCodeFlow(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			r := newRP(t, Config{Algorithm: alg, IDTokenClaims: map[string]any{"tenant": "t1"}})
			tok := r.login()
			if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Expiry.IsZero() || tok.Type() != "Bearer" {
				t.Fatalf("token %+v", tok)
			}
			if len(tok.RefreshToken) != 64 {
				t.Errorf("refresh token length %d, want 64", len(tok.RefreshToken))
			}
			id := r.verifyID(tok)
			if id.Nonce != "nonce-123" || id.Subject != "user-1" {
				t.Errorf("nonce %q sub %q", id.Nonce, id.Subject)
			}
			if err := id.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			var claims struct {
				Email    string `json:"email"`
				Verified bool   `json:"email_verified"`
				Name     string `json:"name"`
				Azp      string `json:"azp"`
				AuthTime int64  `json:"auth_time"`
				Tenant   string `json:"tenant"`
			}
			if err := id.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if claims.Email != "user@example.test" || !claims.Verified || claims.Name != "Test User" ||
				claims.Azp != "client" || claims.AuthTime == 0 || claims.Tenant != "t1" {
				t.Errorf("claims %+v", claims)
			}
			if h := jwtPart(t, tok.AccessToken, 0); h["typ"] != "at+jwt" || h["alg"] != alg || h["kid"] == "" {
				t.Errorf("access token header %v", h)
			}
			at := jwtPart(t, tok.AccessToken, 1)
			for _, k := range []string{"iss", "sub", "aud", "client_id", "scope", "iat", "exp", "jti"} {
				if _, ok := at[k]; !ok {
					t.Errorf("access token lacks %s: %v", k, at)
				}
			}
			if at["aud"] != "client" || at["scope"] != "openid profile email offline_access" {
				t.Errorf("access token claims %v", at)
			}
			if tok.Extra("scope") != "openid profile email offline_access" {
				t.Errorf("scope %v", tok.Extra("scope"))
			}
			ui, err := r.provider.UserInfo(r.ctx, r.conf.TokenSource(r.ctx, tok))
			if err != nil || ui.Subject != "user-1" || ui.Email != "user@example.test" {
				t.Fatalf("userinfo %+v %v", ui, err)
			}
			if g, s := r.op.Stats().Grants["authorization_code"], r.op.Stats().SuccessfulGrants["authorization_code"]; g != 1 || s != 1 {
				t.Errorf("grants %d/%d", g, s)
			}
			if r.op.Stats().UserInfo != 1 {
				t.Errorf("userinfo calls %d", r.op.Stats().UserInfo)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			r := newRP(t, Config{Algorithm: alg})
			old := r.login()
			r.op.RotateKeys()
			fresh := r.login()
			oldKid := jwtPart(t, old.Extra("id_token").(string), 0)["kid"]
			newKid := jwtPart(t, fresh.Extra("id_token").(string), 0)["kid"]
			if oldKid == newKid {
				t.Fatal("kid did not change")
			}
			r.verifyID(old)
			r.verifyID(fresh)
			resp, err := http.Get(r.op.Issuer() + "/jwks")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != 2 || set.Keys[0]["kid"] != newKid || set.Keys[0]["use"] != "sig" || set.Keys[0]["alg"] != alg {
				t.Fatalf("jwks %v", set.Keys)
			}
		})
	}
}

func TestSignJWT(t *testing.T) {
	r := newRP(t, Config{})
	raw, err := r.op.SignJWT(map[string]any{"iss": r.op.Issuer(), "aud": "someone-else", "sub": "x", "exp": 9999999999})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.verifier.Verify(r.ctx, raw); err == nil {
		t.Fatal("token for another audience verified")
	}
	ok, err := r.op.SignJWT(map[string]any{"iss": r.op.Issuer(), "aud": "client", "sub": "x", "exp": 9999999999})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.verifier.Verify(r.ctx, ok); err != nil {
		t.Fatal(err)
	}
}

func TestIssueTokens(t *testing.T) {
	r := newRP(t, Config{})
	tok, err := r.op.IssueTokens(IssueOptions{Nonce: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	id := r.verifyID(tok)
	if id.Nonce != "n1" || id.VerifyAccessToken(tok.AccessToken) != nil {
		t.Fatalf("id token %+v", id)
	}
	if tok.Extra("scope") != "openid profile email offline_access" {
		t.Errorf("scope %v", tok.Extra("scope"))
	}
	// The refresh token works with x/oauth2 as it would after a login.
	tok.Expiry = tok.Expiry.Add(-1e12) // force a refresh
	next, err := r.conf.TokenSource(r.ctx, tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	if id := r.verifyID(next); id.Nonce != "" {
		t.Errorf("nonce on refresh: %q", id.Nonce)
	}
	if r.op.Stats().SuccessfulGrants["refresh_token"] != 1 || r.op.Stats().Grants["authorization_code"] != 0 {
		t.Errorf("grants %d %d", r.op.Stats().SuccessfulGrants["refresh_token"], r.op.Stats().Grants["authorization_code"])
	}

	scoped, err := r.op.IssueTokens(IssueOptions{Scopes: []string{"openid"}})
	if err != nil {
		t.Fatal(err)
	}
	if jwtPart(t, scoped.AccessToken, 1)["scope"] != "openid" {
		t.Error("IssueTokens ignored Scopes")
	}
}

func TestFixedAddr(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	op, err := Start(Config{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if op.Issuer() != "http://"+addr {
		t.Fatalf("issuer %s, want http://%s", op.Issuer(), addr)
	}
	if _, err := oidc.NewProvider(t.Context(), op.Issuer()); err != nil {
		t.Fatal(err)
	}
	op.Close() // idempotent with the deferred Close
}

func TestStartErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"algorithm":   {Algorithm: "HS256"},
		"auth method": {TokenEndpointAuthMethods: []string{"private_key_jwt"}},
		"redirect":    {RedirectURIs: []string{"/relative"}},
		"resource":    {Resources: []string{"not a uri"}},
		"addr":        {Addr: "256.0.0.1:1"},
	} {
		t.Run(name, func(t *testing.T) {
			if p, err := Start(cfg); err == nil {
				p.Close()
				t.Fatal("no error")
			}
		})
	}
}
