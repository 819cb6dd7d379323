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

	"github.com/oidcsession/oidcsession/internal/state"
)

// StartSession starts a session from a token response, for applications
// that run their own sign-in flow: it verifies the ID token (signature,
// issuer, audience, times with the clock tolerance) and writes the session.
// Check the nonce of your flow before calling it. Call it before writing
// the response body.
func (m *Middleware) StartSession(w http.ResponseWriter, r *http.Request, tok *oauth2.Token) (*Session, error) {
	d, err := m.newSession(r.Context(), tok, "")
	if err != nil {
		return nil, err
	}
	return m.begin(w, r, d, "sign-in")
}

// begin stores a new session and writes its cookies.
func (m *Middleware) begin(w http.ResponseWriter, r *http.Request, d *state.Session, when string) (*Session, error) {
	d.UserAgent = userAgentSummary(r.UserAgent())
	d, err := m.fit(r.Context(), d, when, "")
	if err != nil {
		return nil, err
	}
	s, err := m.storage.persist(r.Context(), &Session{d: d})
	if err != nil {
		m.revokeAtProvider(r.Context(), d, "the new session could not be stored")
		return nil, err
	}
	return m.save(r.Context(), w, r, s, false)
}

// errNonceMismatch is returned when the ID token's nonce is not the flow's.
var errNonceMismatch = errors.New("oidcsession: ID token nonce does not match the sign-in flow")

// newSession builds a session from a token response after verifying its ID
// token, and its nonce when not empty.
func (m *Middleware) newSession(ctx context.Context, tok *oauth2.Token, nonce string) (*state.Session, error) {
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
	var c struct {
		SID string `json:"sid"`
	}
	_ = idt.Claims(&c)
	now := m.cfg.now()
	d := &state.Session{
		ID: newSessionID(), Subject: idt.Subject, SID: c.SID,
		Created: now, LastSeen: now, TokenAt: now,
		AccessToken: state.NewToken(tok.AccessToken), IDToken: state.NewToken(raw),
		RefreshToken: tok.RefreshToken, TokenType: tok.TokenType,
	}
	d.Scope, _ = tok.Extra("scope").(string)
	d.Expiry = m.tokenExpiry(tok, d.AccessToken, now)
	return d, nil
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
