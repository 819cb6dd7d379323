package oidcsession

import (
	"context"
	"errors"
	"fmt"
	"net/http"

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
	idt, err := m.verifier.Verify(m.providerContext(ctx), raw)
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
