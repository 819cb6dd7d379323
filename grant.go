package oidcsession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// maxTokenResponse bounds how much of a token endpoint's answer is read.
const maxTokenResponse = 1 << 20

// refreshWithOptions performs a refresh-token grant with a scope or
// resource parameter, which x/oauth2 cannot send on a refresh. Client
// authentication is the one x/oauth2 uses for this config. Failures come
// back as *oauth2.RetrieveError, exactly as from x/oauth2, so
// classification has one input shape.
func (m *Middleware) refreshWithOptions(ctx context.Context, refreshToken string, opts RefreshOptions) (*oauth2.Token, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if len(opts.Scopes) > 0 {
		form.Set("scope", strings.Join(opts.Scopes, " "))
	}
	for _, r := range opts.Resource {
		form.Add("resource", r)
	}
	req, err := m.newClientPost(ctx, m.oauth.Endpoint.TokenURL, form)
	if err != nil {
		return nil, err
	}
	resp, err := m.cfg.httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return nil, fmt.Errorf("reading token response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		re := &oauth2.RetrieveError{Response: resp, Body: body}
		var e struct {
			Code        string `json:"error"`
			Description string `json:"error_description"`
			URI         string `json:"error_uri"`
		}
		if json.Unmarshal(body, &e) == nil {
			re.ErrorCode, re.ErrorDescription, re.ErrorURI = e.Code, e.Description, e.URI
		}
		return nil, re
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" {
		return nil, fmt.Errorf("token response has content type %q, want application/json", ct)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("decoding token response: %w", err)
	}
	at, _ := raw["access_token"].(string)
	if at == "" {
		return nil, errors.New("token response has no access_token")
	}
	tt, _ := raw["token_type"].(string)
	rt, _ := raw["refresh_token"].(string)
	return (&oauth2.Token{AccessToken: at, TokenType: tt, RefreshToken: rt}).WithExtra(raw), nil
}

// sessionFromRefresh builds the session that follows old after a refresh.
// A returned ID token is verified and must name the same issuer, subject
// and audience as the original (OIDC Core 12.2); a missing one keeps the old
// claims; a missing refresh token keeps the old one.
func (m *Middleware) sessionFromRefresh(ctx context.Context, old *Session, tok *oauth2.Token) (*Session, error) {
	now := m.cfg.now()
	s := old.clone()
	s.accessToken = newToken(tok.AccessToken)
	s.tokenType = tok.TokenType
	s.tokenAt = now
	s.lastSeen = now
	s.expiry = m.tokenExpiry(tok, s.accessToken, now)
	if tok.RefreshToken != "" {
		s.refreshToken = tok.RefreshToken
	}
	if scope, ok := tok.Extra("scope").(string); ok && scope != "" {
		s.scope = scope
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		m.userInfoAfterRefresh(ctx, s) // best effort; never fails the refresh
		return s, nil
	}
	idt, err := m.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("verifying refreshed ID token: %w", err)
	}
	if err := sameIdentity(old, idt); err != nil {
		return nil, err
	}
	s.idToken = newToken(raw)
	m.userInfoAfterRefresh(ctx, s) // best effort; never fails the refresh
	return s, nil
}

// sameIdentity checks OIDC Core 12.2: a refreshed ID token keeps the
// original iss, sub and aud.
func sameIdentity(old *Session, idt *oidc.IDToken) error {
	if idt.Subject != old.subject {
		return fmt.Errorf("%w: sub changed", ErrIDTokenMismatch)
	}
	payload := old.idToken.payload()
	if payload == nil {
		return nil
	}
	var orig struct {
		Issuer   string   `json:"iss"`
		Audience audience `json:"aud"`
	}
	if err := json.Unmarshal(payload, &orig); err != nil {
		return fmt.Errorf("%w: original claims unreadable", ErrIDTokenMismatch)
	}
	if idt.Issuer != orig.Issuer {
		return fmt.Errorf("%w: iss changed", ErrIDTokenMismatch)
	}
	a, b := slices.Clone(idt.Audience), slices.Clone([]string(orig.Audience))
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		return fmt.Errorf("%w: aud changed", ErrIDTokenMismatch)
	}
	return nil
}

// audience reads "aud" as a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// tokenExpiry computes the access token's expiry with our clock: from
// expires_in when the provider sent it (x/oauth2 uses the wall clock), else
// the token's own exp claim when it is a JWT, else whatever x/oauth2 found.
func (m *Middleware) tokenExpiry(tok *oauth2.Token, at *token, now time.Time) time.Time {
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		if v > 0 && v < 1<<31 {
			return now.Add(time.Duration(v) * time.Second)
		}
	case string:
		var n int64
		if _, err := fmt.Sscan(v, &n); err == nil && n > 0 && n < 1<<31 {
			return now.Add(time.Duration(n) * time.Second)
		}
	case json.Number:
		if n, err := v.Int64(); err == nil && n > 0 && n < 1<<31 {
			return now.Add(time.Duration(n) * time.Second)
		}
	}
	if p := at.payload(); p != nil {
		var c struct {
			Exp int64 `json:"exp"`
		}
		if json.Unmarshal(p, &c) == nil && c.Exp > 0 {
			return time.Unix(c.Exp, 0)
		}
	}
	return tok.Expiry
}
