package oidcsession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// StartSession starts a session from a token response, for applications
// that run their own sign-in flow: it verifies the ID token (signature,
// issuer, audience, expiry) and writes the session cookies. Check the
// nonce of your flow before calling it. Call it before writing the
// response body.
func (m *Middleware) StartSession(w http.ResponseWriter, r *http.Request, tok *oauth2.Token) (*Session, error) {
	return m.startSession(w, r, tok, "")
}

// startSession is StartSession with the nonce the flow sent, checked when
// not empty.
func (m *Middleware) startSession(w http.ResponseWriter, r *http.Request, tok *oauth2.Token, nonce string) (*Session, error) {
	s, err := m.newSession(r.Context(), tok, nonce)
	if err != nil {
		return nil, err
	}
	if s, err = m.fit(r.Context(), s, "sign-in"); err != nil {
		return nil, err
	}
	if err := m.save(w, r, s, s.lastSeen); err != nil {
		return nil, err
	}
	return s, nil
}

// errNonceMismatch is returned when the ID token's nonce is not the flow's.
var errNonceMismatch = errors.New("oidcsession: ID token nonce does not match the sign-in flow")

// newSession builds a session from a token response after verifying its ID
// token.
func (m *Middleware) newSession(ctx context.Context, tok *oauth2.Token, nonce string) (*Session, error) {
	if tok == nil || tok.AccessToken == "" {
		return nil, errors.New("oidcsession: token response has no access_token")
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, ErrNoIDToken
	}
	idt, err := m.verifyIDToken(m.providerContext(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("oidcsession: verifying ID token: %w", err)
	}
	if nonce != "" && idt.Nonce != nonce {
		return nil, errNonceMismatch
	}
	now := m.cfg.now()
	s := &Session{
		subject:      idt.Subject,
		created:      now,
		lastSeen:     now,
		tokenAt:      now,
		accessToken:  newToken(tok.AccessToken),
		idToken:      newToken(raw),
		refreshToken: tok.RefreshToken,
		tokenType:    tok.TokenType,
	}
	if scope, ok := tok.Extra("scope").(string); ok {
		s.scope = scope
	}
	s.expiry = m.tokenExpiry(tok, s.accessToken, now)
	return s, nil
}

// verifyIDToken verifies an ID token with go-oidc (signature, iss, aud)
// and checks its times itself, with the clock tolerance: go-oidc's own
// check has none for exp and a fixed one for nbf.
func (m *Middleware) verifyIDToken(ctx context.Context, raw string) (*oidc.IDToken, error) {
	idt, err := m.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	now, tol := m.cfg.now(), m.cfg.clockTolerance
	if !now.Before(idt.Expiry.Add(tol)) {
		return nil, &oidc.TokenExpiredError{Expiry: idt.Expiry}
	}
	if !idt.IssuedAt.IsZero() && now.Add(tol).Before(idt.IssuedAt) {
		return nil, fmt.Errorf("oidcsession: ID token issued in the future (iat %s, more than %s ahead)", idt.IssuedAt.UTC().Format(time.RFC3339), tol)
	}
	var c struct {
		NotBefore json.Number `json:"nbf"`
	}
	if err := idt.Claims(&c); err != nil {
		return nil, fmt.Errorf("oidcsession: reading ID token claims: %w", err)
	}
	if c.NotBefore != "" {
		nbf, err := c.NotBefore.Float64()
		if err != nil || now.Add(tol).Before(time.Unix(int64(nbf), 0)) {
			return nil, fmt.Errorf("oidcsession: ID token not valid yet (nbf more than %s ahead)", tol)
		}
	}
	return idt, nil
}
