package oidcsession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// grant performs one refresh-token grant and builds the session that
// follows old. Every way the grant can end is decided here: a failure is
// classified (see classify); a session that no longer fits its storage is
// trimmed of what can be fetched again or, failing that, ended after its
// new refresh token is revoked, so no rotated token is silently lost.
func (m *Middleware) grant(ctx context.Context, old *Session, opts RefreshOptions) (*Session, error) {
	ctx = m.providerContext(ctx)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old.refreshToken}}
	if len(opts.Scopes) > 0 {
		form.Set("scope", strings.Join(opts.Scopes, " "))
	}
	for _, r := range opts.Resource {
		form.Add("resource", r)
	}
	tok, err := m.tokenRequest(ctx, form)
	if err != nil {
		re := classify(err, !opts.isZero())
		if re.spent {
			kept := old.clone()
			kept.refreshToken = ""
			return kept, re
		}
		return old, re
	}
	s, err := m.sessionFromRefresh(ctx, old, tok)
	if err != nil {
		return nil, &RefreshError{Class: RefreshTerminal, Err: err}
	}
	fitted, err := m.fit(ctx, s, "refresh")
	if err != nil {
		return nil, &RefreshError{Class: RefreshTerminal, Err: err}
	}
	return fitted, nil
}

// fit returns s as it can be stored: unchanged, or without its cached
// userinfo claims when only they do not fit (they can be fetched again).
// When even that does not fit, it revokes s's refresh token at the
// provider, since the session cannot be kept and the token must not
// outlive it, and returns an error matching ErrSessionTooLarge.
func (m *Middleware) fit(ctx context.Context, s *Session, when string) (*Session, error) {
	err := m.store.fits(s)
	if err == nil {
		return s, nil
	}
	if len(s.userInfo) > 0 {
		trimmed := s.clone()
		trimmed.userInfo = nil
		if m.store.fits(trimmed) == nil {
			m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "oidcsession: session too large for its cookies; dropped the cached userinfo claims",
				slog.String("after", when), slog.String("subject", s.subject))
			return trimmed, nil
		}
	}
	m.revokeEnded(ctx, s, "the session is too large to store")
	return nil, err
}

// classify sorts a token-endpoint failure by data, never by message text:
// the OAuth error code first, then the HTTP status. A failure without an
// answer (network, timeout, unreadable body) is transient. When the request
// narrowed the grant (RefreshOptions), invalid_scope and invalid_target are
// refusals of the options, not of the session. Providers check the scope
// before spending the refresh token (RFC 6749 section 6 ties it to the
// original grant; oidc-provider does so), so the token is kept; a resource
// may be checked after the token was spent (oidc-provider does), so after
// invalid_target the token counts as spent and is never presented again.
func classify(err error, narrowed bool) *RefreshError {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return &RefreshError{Class: RefreshTransient, Err: err}
	}
	switch re.ErrorCode {
	case "temporarily_unavailable":
		return &RefreshError{Class: RefreshTransient, Err: err}
	case "invalid_scope":
		if narrowed {
			return &RefreshError{Class: RefreshRejected, Err: err}
		}
	case "invalid_target":
		if narrowed {
			return &RefreshError{Class: RefreshRejected, Err: err, spent: true}
		}
	}
	if re.Response != nil {
		switch re.Response.StatusCode {
		case 400, 401, 403:
			return &RefreshError{Class: RefreshTerminal, Err: err}
		}
	}
	switch re.ErrorCode {
	case "invalid_grant", "invalid_client", "unauthorized_client", "unsupported_grant_type", "invalid_request":
		return &RefreshError{Class: RefreshTerminal, Err: err}
	}
	return &RefreshError{Class: RefreshTransient, Err: err}
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
	idt, err := m.verifyIDToken(ctx, raw)
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
