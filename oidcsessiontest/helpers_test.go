package oidcsessiontest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// redirectURL is the relying party's callback; the browser never follows
// redirects to its host, so it need not exist.
const redirectURL = "http://rp.test/callback"

// rp is a relying party built from go-oidc and x/oauth2, as real code is.
type rp struct {
	t        *testing.T
	op       *Provider
	ctx      context.Context
	provider *oidc.Provider
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
	browser  *http.Client
}

func newRP(t *testing.T, cfg Config) *rp {
	t.Helper()
	op := New(t, cfg)
	ctx := oidc.ClientContext(context.Background(), op.Client())
	prov, err := oidc.NewProvider(ctx, op.Issuer())
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	r := &rp{t: t, op: op, ctx: ctx, provider: prov}
	r.conf = oauth2.Config{
		ClientID: op.ClientID(), ClientSecret: op.ClientSecret(),
		Endpoint: prov.Endpoint(), RedirectURL: redirectURL,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}
	vc := &oidc.Config{ClientID: op.ClientID(), SupportedSigningAlgs: []string{op.cfg.Algorithm}}
	if cfg.Now != nil {
		vc.Now = cfg.Now
	}
	r.verifier = prov.Verifier(vc)
	r.browser = newBrowser()
	return r
}

// newBrowser returns a client with a cookie jar that stops at the RP.
func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == "rp.test" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// authorize runs the browser leg and returns the query the RP receives.
func (r *rp) authorize(extra ...oauth2.AuthCodeOption) (q url.Values, verifier string) {
	r.t.Helper()
	verifier = oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-123")}, extra...)
	resp, err := r.browser.Get(r.conf.AuthCodeURL("state-xyz", opts...))
	if err != nil {
		r.t.Fatalf("authorize: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		r.t.Fatalf("authorize: status %d, body %s", resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil || loc.Host != "rp.test" {
		r.t.Fatalf("authorize: redirect to %v (%v)", loc, err)
	}
	return loc.Query(), verifier
}

// login runs the whole code flow and returns the exchanged token.
func (r *rp) login(extra ...oauth2.AuthCodeOption) *oauth2.Token {
	r.t.Helper()
	q, verifier := r.authorize(extra...)
	if q.Get("code") == "" || q.Get("state") != "state-xyz" || q.Get("iss") != r.op.Issuer() {
		r.t.Fatalf("authorization response %v", q)
	}
	tok, err := r.conf.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		r.t.Fatalf("Exchange: %v", err)
	}
	return tok
}

// verifyID verifies the token's id_token with go-oidc.
func (r *rp) verifyID(tok *oauth2.Token) *oidc.IDToken {
	r.t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		r.t.Fatal("no id_token in token response")
	}
	id, err := r.verifier.Verify(r.ctx, raw)
	if err != nil {
		r.t.Fatalf("Verify: %v", err)
	}
	return id
}

// post sends a form to the provider with Basic client authentication
// (unless basic is false) and decodes the JSON answer.
func post(t *testing.T, op *Provider, path string, form url.Values, basic bool) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, op.Issuer()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(op.ClientID()), url.QueryEscape(op.ClientSecret()))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, resp.Header
}

// refresh runs a refresh_token grant with extra parameters.
func refresh(t *testing.T, op *Provider, rt string, extra url.Values) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, v := range extra {
		form[k] = v
	}
	status, body, _ := post(t, op, "/token", form, true)
	return status, body
}

// wantOAuthError checks an error response.
func wantOAuthError(t *testing.T, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || body["error"] != wantCode {
		t.Fatalf("got %d %v, want %d %s", status, body, wantStatus, wantCode)
	}
}

// jwtPart decodes the header (0) or payload (1) of a JWT without checking it.
func jwtPart(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// userinfo calls /userinfo with a bearer token.
func userinfo(t *testing.T, op *Provider, at string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, op.Issuer()+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}
