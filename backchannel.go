package oidcsession

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// backChannelEvent is the member of a logout token's "events" claim that
// makes it one (OIDC Back-Channel Logout 1.0, section 2.4).
const backChannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// maxLogoutTokenAge is how old (by iat) a logout token may be; its jti is
// remembered for as long, so a replay is refused.
const maxLogoutTokenAge = 5 * time.Minute

// BackChannelLogoutHandler returns the endpoint of OIDC Back-Channel Logout
// 1.0 (mount it at POST /auth/backchannel-logout and register its absolute
// URL as the client's backchannel_logout_uri). The provider POSTs a signed
// logout token when a user's provider session ends; the handler verifies
// it (signature, iss and aud with go-oidc; iat within maxLogoutTokenAge and
// the clock tolerance; exp if present; the back-channel logout event; a sid
// or a sub; no nonce; a jti not seen before) and ends the matching
// sessions: those of the provider session sid (and subject sub, when both
// are given), or every session of sub.
//
// With a Store the sessions are deleted and every replica refuses them at
// once. With cookies, which cannot be revoked, they end at their next
// refresh on any replica sharing the Coordinator, at most one access-token
// lifetime later.
//
// It answers 200 with Cache-Control: no-store, 400 {"error":
// "invalid_request"} for a token it refuses (nothing is ended), and 503
// when the store is unavailable: then the jti is not kept, so the
// provider's retry of the same token is not refused as a replay.
func (m *Middleware) BackChannelLogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			m.WriteError(w, r, ErrMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		ctx := r.Context()
		lt, err := m.verifyLogoutToken(ctx, r.PostFormValue("logout_token"))
		var release func()
		if err == nil {
			release, err = m.claimJTI(ctx, lt)
		}
		if err == nil {
			if err = m.endLoggedOut(ctx, lt); err != nil {
				release() // the provider's retry is not a replay
			}
		}
		switch {
		case errors.Is(err, errLogoutToken):
			m.cfg.logger.WarnContext(ctx, "oidcsession: back-channel logout refused", "reason", err.Error())
			m.emit(ctx, Event{Kind: EventBackChannelLogout, Err: err, Class: "invalid_logout_token"})
			writeJSON(w, http.StatusBadRequest, errorBody{"invalid_request", err.Error()})
			return
		case err != nil:
			m.emit(ctx, Event{Kind: EventBackChannelLogout, Err: err, Class: "unavailable"})
			m.WriteError(w, r, err)
			return
		}
		m.emit(ctx, Event{Kind: EventBackChannelLogout})
		m.cfg.logger.InfoContext(ctx, "oidcsession: back-channel logout", "subject", lt.Subject, "has_sid", lt.SID != "")
		w.WriteHeader(http.StatusOK)
	})
}

// logoutToken is what a verified logout token says.
type logoutToken struct {
	Subject string
	SID     string
	jtiKey  string // where its jti is claimed against replays
}

// errLogoutToken prefixes every refusal; its reasons name the failed check,
// never the token.
var errLogoutToken = errors.New("logout token refused")

// verifyLogoutToken checks a logout token; its jti is claimed apart
// (claimJTI), after every check that needs no store.
func (m *Middleware) verifyLogoutToken(ctx context.Context, raw string) (*logoutToken, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: no logout_token", errLogoutToken)
	}
	idt, err := m.verifier.Verify(m.providerContext(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errLogoutToken, err)
	}
	var c struct {
		SID    string                     `json:"sid"`
		JTI    string                     `json:"jti"`
		Exp    *int64                     `json:"exp"`
		Nonce  *json.RawMessage           `json:"nonce"`
		Events map[string]json.RawMessage `json:"events"`
	}
	if err := idt.Claims(&c); err != nil {
		return nil, fmt.Errorf("%w: claims unreadable", errLogoutToken)
	}
	now, tol := m.cfg.now(), m.cfg.clockTolerance
	var event map[string]any
	switch {
	case c.Events == nil || c.Events[backChannelEvent] == nil || json.Unmarshal(c.Events[backChannelEvent], &event) != nil || event == nil:
		return nil, fmt.Errorf("%w: no back-channel logout event", errLogoutToken)
	case c.Nonce != nil:
		return nil, fmt.Errorf("%w: a logout token has no nonce", errLogoutToken)
	case c.SID == "" && idt.Subject == "":
		return nil, fmt.Errorf("%w: neither sid nor sub", errLogoutToken)
	case c.JTI == "":
		return nil, fmt.Errorf("%w: no jti", errLogoutToken)
	case idt.IssuedAt.IsZero() || idt.IssuedAt.After(now.Add(tol)) || now.Sub(idt.IssuedAt) > maxLogoutTokenAge+tol:
		return nil, fmt.Errorf("%w: iat outside the accepted %s", errLogoutToken, maxLogoutTokenAge)
	case c.Exp != nil && !now.Before(time.Unix(*c.Exp, 0).Add(tol)):
		return nil, fmt.Errorf("%w: expired", errLogoutToken)
	}
	return &logoutToken{Subject: idt.Subject, SID: c.SID, jtiKey: "logout-jti:" + idt.Issuer + ":" + c.JTI}, nil
}

// claimJTI refuses a logout token whose jti was seen (on any replica)
// during its lifetime. release gives the claim back, for a logout that
// could not be carried out.
func (m *Middleware) claimJTI(ctx context.Context, lt *logoutToken) (release func(), err error) {
	holder := []byte(rand.Text())
	c, err := m.engine.coord.Claim(ctx, lt.jtiKey, holder, maxLogoutTokenAge+2*m.cfg.clockTolerance)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	case !c.Taken:
		return nil, fmt.Errorf("%w: jti already used (a replay)", errLogoutToken)
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		_ = m.engine.coord.Release(rctx, lt.jtiKey, holder)
	}, nil
}

// endLoggedOut ends the sessions a logout token names, their refresh
// tokens revoked too: a provider's logout does not always end its
// offline_access grants (oidc-provider keeps them).
func (m *Middleware) endLoggedOut(ctx context.Context, lt *logoutToken) error {
	if _, ok := m.storage.(*serverStorage); !ok {
		if lt.SID != "" {
			return m.revokeCookies(ctx, "sid:"+lt.SID)
		}
		return m.revokeCookies(ctx, "sub:"+lt.Subject)
	}
	if lt.SID == "" {
		_, err := m.endIndexed(ctx, "sub:"+lt.Subject, nil)
		return err
	}
	_, err := m.endIndexed(ctx, "sid:"+lt.SID, func(s *Session) bool { return lt.Subject == "" || s.d.Subject == lt.Subject })
	return err
}
