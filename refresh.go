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
// presents a refresh token the provider may have spent: concurrent
// refreshes of a token share one grant (single-flight), and for the grace
// window the outcome of a grant is kept under the token it spent, so a
// request that still carries that token is given its successor.
type refresher struct {
	m        *Middleware
	mu       sync.Mutex
	inflight map[[32]byte]*flight  // keyed by SHA-256 of the refresh token
	recent   map[[32]byte]*outcome // finished grants, kept for the grace window
}

// flight is one grant in progress; done is closed when s and err are set.
type flight struct {
	done chan struct{}
	opts RefreshOptions
	s    *Session // the new session; with err, the session that is kept
	err  error
}

// outcome is what a finished grant left for the tokens it spent: the
// successor session, or the terminal error that ended the session.
type outcome struct {
	s   *Session
	err error
	at  time.Time
}

func newRefresher(m *Middleware) *refresher {
	return &refresher{m: m, inflight: map[[32]byte]*flight{}, recent: map[[32]byte]*outcome{}}
}

// maxHops bounds how many successors one refresh follows; each hop is a
// grant that finished meanwhile, so a handful always suffice.
const maxHops = 8

// refresh returns old's session with fresh tokens, not yet saved. Unless
// force is set, a session that another request refreshed inside the grace
// window (its successor) is returned as it is. force (RefreshSession)
// always makes a grant, from the newest successor, so a spent token is
// never presented. ctx only bounds the wait: the grant itself is detached
// from it. On a transient or rejected failure the returned session is the
// one that is kept.
func (e *refresher) refresh(ctx context.Context, old *Session, opts RefreshOptions, force bool) (*Session, error) {
	plain := !force && opts.isZero()
	var skip [32]byte // a key whose outcome kept the same, unspent token
	for range maxHops {
		if old.refreshToken == "" {
			if plain {
				return old, nil
			}
			return old, fmt.Errorf("%w: the session has no refresh token", ErrRefreshFailed)
		}
		key := sha256.Sum256([]byte(old.refreshToken))
		e.mu.Lock()
		if o := e.recent[key]; o != nil && key != skip && e.m.cfg.now().Sub(o.at) < e.m.cfg.graceWindow {
			e.mu.Unlock()
			switch {
			case o.err != nil:
				return nil, o.err
			case plain:
				return o.s, nil
			case o.s.refreshToken == old.refreshToken:
				// The provider did not rotate: old's token is still good.
				old, skip = o.s, key
			default:
				// Spent: go on from its successor.
				old = o.s
			}
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
			return old, &RefreshError{Class: RefreshTransient, Err: ctx.Err()}
		}
		if f.opts.equal(opts) {
			return f.s, f.err
		}
		// A grant with other options ran on this token; its outcome, if
		// it spent the token, is in recent now.
	}
	return old, &RefreshError{Class: RefreshTransient, Err: errors.New("the session was refreshed too many times meanwhile")}
}

// run performs one grant detached from the request's cancellation and
// bounded by the refresh timeout, so a client that disconnects cannot lose
// a rotated refresh token: the outcome waits in recent for its next
// request.
func (e *refresher) run(reqCtx context.Context, key [32]byte, f *flight, old *Session) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(reqCtx), e.m.cfg.refreshTimeout)
	defer cancel()
	var s *Session
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				s, err = old, &RefreshError{Class: RefreshTransient, Err: errors.New("panic during the refresh grant")}
			}
		}()
		s, err = e.m.grant(ctx, old, f.opts)
	}()
	var re *RefreshError
	errors.As(err, &re)
	e.mu.Lock()
	delete(e.inflight, key)
	switch {
	case err == nil:
		e.keep(key, &outcome{s: s})
	case re != nil && re.Class == RefreshTerminal:
		e.keep(key, &outcome{err: err})
	case re != nil && re.spent:
		// Refused after the provider may have spent the token: everyone
		// who still holds it gets the session without it.
		e.keep(key, &outcome{s: s})
	}
	f.s, f.err = s, err
	e.mu.Unlock()
	close(f.done)
	e.m.afterGrant(ctx, s, err)
}

// keep records o under key for the grace window and drops it when the
// window ends, so the refresh tokens it holds do not outlive it in memory.
// e.mu must be held.
func (e *refresher) keep(key [32]byte, o *outcome) {
	o.at = e.m.cfg.now()
	e.recent[key] = o
	time.AfterFunc(e.m.cfg.graceWindow, func() {
		e.mu.Lock()
		if e.recent[key] == o {
			delete(e.recent, key)
		}
		e.mu.Unlock()
	})
}

// kept returns how many outcomes the grace window holds.
func (e *refresher) kept() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.recent)
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

// afterGrant logs the outcome and calls the hooks; a panicking hook is
// logged, not allowed to take the process down.
func (m *Middleware) afterGrant(ctx context.Context, s *Session, err error) {
	defer func() {
		if p := recover(); p != nil {
			m.cfg.logger.LogAttrs(ctx, slog.LevelError, "oidcsession: refresh hook panicked")
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
