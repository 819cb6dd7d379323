package oidcsession

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// RefreshOptions changes what one refresh asks for (MonoCloud's
// refreshSession options). The zero value is a plain refresh.
type RefreshOptions struct {
	// Scopes asks for a subset of the granted scopes (the scope parameter
	// of RFC 6749 section 6).
	Scopes []string
	// Resource asks for an access token for these resources (RFC 8707).
	Resource []string
}

func (o RefreshOptions) isZero() bool { return len(o.Scopes) == 0 && len(o.Resource) == 0 }

func (o RefreshOptions) equal(p RefreshOptions) bool {
	return slices.Equal(o.Scopes, p.Scopes) && slices.Equal(o.Resource, p.Resource)
}

// refresher performs refresh-token grants so that this process never
// presents one refresh token twice: concurrent refreshes of a token share
// one grant (single-flight), and for the grace window a request that still
// carries the spent token gets the outcome of the grant that spent it.
type refresher struct {
	m         *Middleware
	mu        sync.Mutex
	inflight  map[[32]byte]*flight  // keyed by SHA-256 of the refresh token
	recent    map[[32]byte]*outcome // finished grants, kept for the grace window
	lastSweep time.Time
}

// flight is one grant in progress; done is closed when s or err is set.
type flight struct {
	done chan struct{}
	opts RefreshOptions
	s    *Session
	err  error
}

type outcome struct {
	s   *Session
	err error
	at  time.Time
}

func newRefresher(m *Middleware) *refresher {
	return &refresher{m: m, inflight: map[[32]byte]*flight{}, recent: map[[32]byte]*outcome{}}
}

// refresh returns old's session with fresh tokens, not yet saved. ctx only
// bounds the wait: the grant itself is detached from it.
func (e *refresher) refresh(ctx context.Context, old *Session, opts RefreshOptions) (*Session, error) {
	// A caller that joins a grant made with other options waits for it and
	// then refreshes again from its result; a few rounds always suffice.
	for range 4 {
		key := sha256.Sum256([]byte(old.refreshToken))
		e.mu.Lock()
		if o, ok := e.recent[key]; ok && e.m.cfg.now().Sub(o.at) < e.m.cfg.graceWindow {
			e.mu.Unlock()
			if o.err != nil || opts.isZero() {
				return o.s, o.err
			}
			old = o.s
			continue
		}
		f, joined := e.inflight[key]
		if !joined {
			f = &flight{done: make(chan struct{}), opts: opts}
			e.inflight[key] = f
			go e.run(ctx, key, f, old)
		}
		e.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, &RefreshError{Class: RefreshTransient, Err: ctx.Err()}
		}
		if f.err != nil || f.opts.equal(opts) {
			return f.s, f.err
		}
		old = f.s
	}
	return nil, &RefreshError{Class: RefreshTransient, Err: errors.New("too many concurrent refreshes with different options")}
}

// run performs one grant detached from the request's cancellation and
// bounded by the refresh timeout, so a client that disconnects cannot lose
// a rotated refresh token: the outcome waits in recent for its next request.
func (e *refresher) run(reqCtx context.Context, key [32]byte, f *flight, old *Session) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(reqCtx), e.m.cfg.refreshTimeout)
	defer cancel()
	var s *Session
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = &RefreshError{Class: RefreshTransient, Err: fmt.Errorf("panic during refresh: %v", p)}
			}
		}()
		s, err = e.m.grant(ctx, old, f.opts)
	}()
	e.mu.Lock()
	delete(e.inflight, key)
	now := e.m.cfg.now()
	var re *RefreshError
	if err == nil || (errors.As(err, &re) && re.Class == RefreshTerminal) {
		e.sweep(now)
		e.recent[key] = &outcome{s: s, err: err, at: now}
	}
	f.s, f.err = s, err
	e.mu.Unlock()
	close(f.done)
	e.m.afterGrant(ctx, s, err)
}

// forget drops the grace-window outcomes that would hand out a session
// holding this refresh token, or that were reached from it, so that after
// sign-out an older cookie of the same session is not signed back in.
func (e *refresher) forget(refreshToken string) {
	if refreshToken == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.recent, sha256.Sum256([]byte(refreshToken)))
	for k, o := range e.recent {
		if o.s != nil && o.s.refreshToken == refreshToken {
			delete(e.recent, k)
		}
	}
}

// sweep drops outcomes older than the grace window, at most twice per
// window so inserts stay cheap.
func (e *refresher) sweep(now time.Time) {
	grace := e.m.cfg.graceWindow
	if now.Sub(e.lastSweep) < grace/2 {
		return
	}
	e.lastSweep = now
	for k, o := range e.recent {
		if now.Sub(o.at) >= grace {
			delete(e.recent, k)
		}
	}
}

// afterGrant logs the outcome and calls the hooks; a panicking hook is
// logged, not allowed to take the process down.
func (m *Middleware) afterGrant(ctx context.Context, s *Session, err error) {
	defer func() {
		if p := recover(); p != nil {
			m.cfg.logger.LogAttrs(ctx, slog.LevelError, "oidcsession: refresh hook panicked", slog.Any("panic", p))
		}
	}()
	if err == nil {
		m.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "oidcsession: session refreshed",
			slog.String("subject", s.subject), slog.Time("expiry", s.expiry))
		if m.cfg.onRefreshed != nil {
			m.cfg.onRefreshed(ctx, s)
		}
		return
	}
	var re *RefreshError
	if !errors.As(err, &re) {
		re = &RefreshError{Class: RefreshTransient, Err: err}
	}
	m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "oidcsession: refresh failed",
		slog.String("class", re.Class.String()), slog.String("error", re.Error()))
	if m.cfg.onRefreshFailed != nil {
		m.cfg.onRefreshFailed(ctx, re)
	}
}

// grant performs the refresh-token grant and builds the new session.
func (m *Middleware) grant(ctx context.Context, old *Session, opts RefreshOptions) (*Session, error) {
	ctx = m.providerContext(ctx)
	var tok *oauth2.Token
	var err error
	if opts.isZero() {
		tok, err = m.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: old.refreshToken}).Token()
	} else {
		tok, err = m.refreshWithOptions(ctx, old.refreshToken, opts)
	}
	if err != nil {
		return nil, classify(err, !opts.isZero())
	}
	s, err := m.sessionFromRefresh(ctx, old, tok)
	if err != nil {
		return nil, &RefreshError{Class: RefreshTerminal, Err: err}
	}
	return s, nil
}

// classify sorts a grant failure by data, never by message text: the OAuth
// error code first, then the HTTP status. A failure without a response from
// the token endpoint (network, timeout, unreadable body) is transient.
func classify(err error, narrowed bool) *RefreshError {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return &RefreshError{Class: RefreshTransient, Err: err}
	}
	switch re.ErrorCode {
	case "temporarily_unavailable":
		return &RefreshError{Class: RefreshTransient, Err: err}
	case "invalid_scope", "invalid_target":
		if narrowed {
			// The options asked for too much; the refresh token is still good.
			return &RefreshError{Class: RefreshRejected, Err: err}
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
