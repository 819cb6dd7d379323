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

	"github.com/oidcsession/oidcsession/internal/provider"
	"github.com/oidcsession/oidcsession/internal/state"
)

// grant performs one refresh-token grant and builds the session that
// follows old. Every way a grant can end is decided here: a failure is
// classified (refreshFailure); a session that no longer fits its storage
// is trimmed of what can be fetched again or, failing that, ended after
// its new refresh token is revoked, so no rotated token is silently lost.
// On a failure that keeps the session, the kept session is returned with
// the error.
func (m *Middleware) grant(ctx context.Context, old *Session, opts RefreshOptions) (*Session, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old.d.RefreshToken}}
	if len(opts.Scopes) > 0 {
		form.Set("scope", strings.Join(opts.Scopes, " "))
	}
	for _, r := range opts.Resource {
		form.Add("resource", r)
	}
	tok, err := m.client.Token(ctx, form)
	if err != nil {
		re := refreshFailure(err, !opts.isZero())
		switch {
		case re.spent && re.Class == RefreshTransient && !old.d.Expiry.IsZero() && !m.cfg.now().Before(old.d.Expiry):
			// An unanswered grant of a session whose access token has
			// expired leaves nothing to serve: it ends now rather than
			// after a "try again" that cannot succeed.
			return nil, &RefreshError{Class: RefreshTerminal, Err: err, spent: true}
		case re.spent:
			kept := old.d.Clone()
			kept.RefreshToken = ""
			return old.with(kept), re
		case re.Class == RefreshTerminal:
			return nil, re
		}
		return old, re
	}
	var d *state.Session
	keep := ""
	if opts.beside() {
		d, keep = m.sessionWithToken(old.d, tok, opts), resourceKey(opts)
	} else if d, err = m.sessionFromRefresh(m.providerContext(ctx), old.d, tok); err != nil {
		return nil, &RefreshError{Class: RefreshTerminal, Err: err}
	}
	if d, err = m.fit(ctx, d, "refresh", keep); err != nil {
		return nil, &RefreshError{Class: RefreshTerminal, Err: err}
	}
	return old.with(d), nil
}

// sessionWithToken is old with the grant's token kept beside its own (for
// a resource, or a scope set), replacing any it held for the same resource
// and scopes, and the rotated refresh token; the session's own tokens and
// identity stay as they are.
func (m *Middleware) sessionWithToken(old *state.Session, tok *oauth2.Token, opts RefreshOptions) *state.Session {
	now := m.cfg.now()
	d := old.Clone()
	d.LastSeen = now
	if tok.RefreshToken != "" {
		d.RefreshToken = tok.RefreshToken
	}
	res := state.Resource{
		Scopes: scopeSet(opts.Scopes), Access: state.NewToken(tok.AccessToken), TokenType: tok.TokenType,
		TokenAt: now, LastUsed: now,
	}
	res.Resource = strings.Join(opts.Resource, " ")
	res.Expiry = m.tokenExpiry(tok, res.Access, now)
	if scope, ok := tok.Extra("scope").(string); ok {
		res.Scope = scope
	}
	d.Resources = slices.DeleteFunc(d.Resources, func(r state.Resource) bool { return r.Resource == res.Resource && r.Scopes == res.Scopes })
	d.Resources = append(d.Resources, res)
	return d
}

// refreshFailure is the one table from a failed refresh to its class,
// driven by data, never by message text:
//
//   - 5xx, 429, temporarily_unavailable, or no answer to a request that
//     never left (no connection): transient, the token was not spent;
//   - no answer to a request that was sent (a timeout waiting for it, a
//     connection closed): transient, and the token counts as spent, since
//     the provider may have rotated it and lost the answer (grant then
//     ends a session whose access token has expired: nothing is left);
//   - a success answer that cannot be used: terminal (the provider acted,
//     so the token may be spent);
//   - with RefreshOptions, invalid_scope: rejected, token kept (providers
//     check scope before spending it: RFC 6749 section 6 ties it to the
//     original grant, and oidc-provider does); invalid_target, or
//     invalid_request (Dex's answer to a scope beyond the grant): rejected,
//     and the token counts as spent (a provider may check the resource
//     after spending it, as oidc-provider does, and nothing says when
//     invalid_request is decided);
//   - any other refusal: terminal.
func refreshFailure(err error, narrowed bool) *RefreshError {
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return &RefreshError{Class: RefreshTransient, Err: err}
	}
	switch pe.Class() {
	case provider.Unavailable:
		return &RefreshError{Class: RefreshTransient, Err: err, spent: pe.MayHaveActed()}
	case provider.Unusable:
		return &RefreshError{Class: RefreshTerminal, Err: err}
	}
	switch {
	case narrowed && pe.Code == "invalid_scope":
		return &RefreshError{Class: RefreshRejected, Err: err}
	case narrowed && (pe.Code == "invalid_target" || pe.Code == "invalid_request"):
		return &RefreshError{Class: RefreshRejected, Err: err, spent: true}
	}
	return &RefreshError{Class: RefreshTerminal, Err: err}
}

// sessionFromRefresh builds the session that follows old after a refresh.
// A returned ID token is verified and must name the same issuer, subject
// and audience as the original (OIDC Core 12.2); a missing one keeps the
// old claims; a missing refresh token keeps the old one.
func (m *Middleware) sessionFromRefresh(ctx context.Context, old *state.Session, tok *oauth2.Token) (*state.Session, error) {
	now := m.cfg.now()
	d := old.Clone()
	d.AccessToken = state.NewToken(tok.AccessToken)
	d.TokenType, d.TokenAt, d.LastSeen = tok.TokenType, now, now
	d.Expiry = m.tokenExpiry(tok, d.AccessToken, now)
	if tok.RefreshToken != "" {
		d.RefreshToken = tok.RefreshToken
	}
	if scope, ok := tok.Extra("scope").(string); ok && scope != "" {
		d.Scope = scope
	}
	if d.ID == "" {
		d.ID = newSessionID() // a session from before IDs existed
	}
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		idt, err := m.verifyIDToken(ctx, raw)
		if err != nil {
			return nil, fmt.Errorf("verifying refreshed ID token: %w", err)
		}
		if err := sameIdentity(old, idt); err != nil {
			return nil, err
		}
		d.IDToken = state.NewToken(raw)
	}
	if m.cfg.signIn.userInfoOnRefresh {
		m.addUserInfo(ctx, d, "refresh") // best effort; never fails the refresh
	}
	return d, nil
}

// sameIdentity checks OIDC Core 12.2: a refreshed ID token keeps the
// original iss, sub and aud.
func sameIdentity(old *state.Session, idt *oidc.IDToken) error {
	if idt.Subject != old.Subject {
		return fmt.Errorf("%w: sub changed", ErrIDTokenMismatch)
	}
	payload := old.IDToken.Payload()
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
// expires_in when the provider sent it, else the token's own exp claim
// when it is a JWT, else whatever the caller's token says.
func (m *Middleware) tokenExpiry(tok *oauth2.Token, at *state.Token, now time.Time) time.Time {
	var secs int64
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		secs = int64(v)
	case json.Number:
		secs, _ = v.Int64()
	case string:
		_, _ = fmt.Sscan(v, &secs)
	}
	if secs > 0 && secs < 1<<31 {
		return now.Add(time.Duration(secs) * time.Second)
	}
	if p := at.Payload(); p != nil {
		var c struct {
			Exp int64 `json:"exp"`
		}
		if json.Unmarshal(p, &c) == nil && c.Exp > 0 {
			return time.Unix(c.Exp, 0)
		}
	}
	return tok.Expiry
}

// fit returns d as it can be stored, shedding what can be fetched again:
// first the resource tokens beyond WithResourceTokens' count, then, while
// it does not fit, the resource tokens obtained longest ago (except the
// one under keep, just obtained), then the cached userinfo claims, and
// last the token under keep itself. When even that does not fit, it
// revokes d's refresh token at the provider, since the session cannot be
// kept and the token must not outlive it, and returns an error matching
// ErrSessionTooLarge. A read that changes nothing writes nothing, so the
// package cannot know a token's last use without a cookie write per API
// call: it sheds by age of obtaining, which also sheds the tokens nearest
// their expiry.
func (m *Middleware) fit(ctx context.Context, d *state.Session, when, keep string) (*state.Session, error) {
	d = shedResources(d, keep, m.cfg.maxResourceTokens)
	for {
		err := m.storage.fits(d)
		switch {
		case err == nil:
			return d, nil
		case slices.ContainsFunc(d.Resources, func(r state.Resource) bool { return resourceKeyOf(r) != keep }):
			d = shedResources(d, keep, len(d.Resources)-1)
		case len(d.UserInfo) > 0:
			d = d.Clone()
			d.UserInfo = nil
			m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "oidcsession: session too large for its cookies; dropped the cached userinfo claims",
				slog.String("after", when), slog.String("subject", d.Subject))
		case len(d.Resources) > 0:
			d = d.Clone()
			d.Resources = nil // the token just obtained: Token reports it could not be kept
		default:
			m.revokeAtProvider(ctx, d, "the session is too large to store")
			return nil, err
		}
	}
}

// shedResources returns d with at most n resource tokens, dropping those
// obtained longest ago but never the one under keep.
func shedResources(d *state.Session, keep string, n int) *state.Session {
	if len(d.Resources) <= max(n, 0) {
		return d
	}
	c := d.Clone()
	slices.SortStableFunc(c.Resources, func(a, b state.Resource) int {
		ka, kb := resourceKeyOf(a) == keep, resourceKeyOf(b) == keep
		switch {
		case ka != kb && ka:
			return 1
		case ka != kb:
			return -1
		}
		return a.TokenAt.Compare(b.TokenAt)
	})
	c.Resources = c.Resources[len(c.Resources)-max(n, 0):]
	if len(c.Resources) == 0 {
		c.Resources = nil
	}
	return c
}

// afterGrant logs the outcome and calls the hooks; a panicking hook is
// logged, not allowed to take the process down.
func (m *Middleware) afterGrant(ctx context.Context, s *Session, err error, took time.Duration) {
	defer func() {
		if p := recover(); p != nil {
			m.cfg.logger.LogAttrs(ctx, slog.LevelError, "oidcsession: refresh hook panicked")
		}
	}()
	if err == nil {
		m.emit(ctx, Event{Kind: EventRefresh, Duration: took})
		m.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "oidcsession: session refreshed",
			slog.String("subject", s.d.Subject), slog.Time("expiry", s.d.Expiry))
		if m.cfg.onRefreshed != nil {
			m.cfg.onRefreshed(ctx, s)
		}
		return
	}
	var re *RefreshError
	if !errors.As(err, &re) {
		re = &RefreshError{Class: RefreshTransient, Err: err}
	}
	m.emit(ctx, Event{Kind: EventRefresh, Err: re, Class: re.Class.String(), Duration: took})
	level := slog.LevelWarn
	if errors.Is(err, ErrSessionTooLarge) {
		level = slog.LevelError
	}
	m.cfg.logger.LogAttrs(ctx, level, "oidcsession: refresh failed",
		slog.String("class", re.Class.String()), slog.String("error", re.Error()))
	if m.cfg.onRefreshFailed != nil {
		m.cfg.onRefreshFailed(ctx, re)
	}
}
