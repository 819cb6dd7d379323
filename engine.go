package oidcsession

import (
	"context"
	"errors"
	"fmt"
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
	// Such a token is kept beside the session's own (see Token), never in
	// its place.
	Resource []string

	separate bool // the token goes beside the session's own (Token)
}

func (o RefreshOptions) isZero() bool { return len(o.Scopes) == 0 && len(o.Resource) == 0 }

func (o RefreshOptions) equal(p RefreshOptions) bool {
	return slices.Equal(o.Scopes, p.Scopes) && slices.Equal(o.Resource, p.Resource) && o.separate == p.separate
}

// beside reports whether the grant's token is kept beside the session's
// own: one asked for through Token, or for a resource.
func (o RefreshOptions) beside() bool { return o.separate || len(o.Resource) > 0 }

// engine performs refresh-token grants so that a refresh token the
// provider may have spent is never presented again, by this process or by
// any replica sharing the Coordinator. In front, concurrent refreshes of
// one token in this process share one flight. Behind, the flight's leader
// runs the protocol: it claims the grant key, grants, publishes the
// outcome under the key for the grace window, and releases the claim;
// another replica that holds the claim is waited for (woken by its
// publication), never raced. A request that still carries a spent token
// inside the grace window finds the published outcome and follows it to
// the successor session.
type engine struct {
	m        *Middleware
	coord    Coordinator
	mu       sync.Mutex
	inflight map[string]*flight
}

// flight is one grant in progress in this process; done is closed when s
// and err are set.
type flight struct {
	done    chan struct{}
	opts    RefreshOptions
	force   bool
	s       *Session // the new session; with err, the session that is kept
	err     error
	granted bool // this process made the grant (else: another replica's outcome)
}

// maxHops bounds how many successors one refresh follows; each hop is a
// grant that finished meanwhile, so a handful always suffice.
const maxHops = 8

// refresh returns old's session with fresh tokens, persisted but its
// cookie not yet written. A successor that another request made inside
// the grace window is returned if it answers this refresh (see answers),
// else the grant is made from it; force (RefreshSession) always makes a
// grant, from the newest successor, so a spent token is never presented. ctx only bounds the wait: the grant
// itself is detached from it. On a transient or rejected failure the
// returned session is the one that is kept.
func (e *engine) refresh(ctx context.Context, old *Session, opts RefreshOptions, force bool) (*Session, error) {
	if _, cookies := e.m.storage.(*cookieStorage); cookies && old.HasRefreshToken() {
		if err := e.m.cookieRevoked(ctx, old); err != nil {
			return nil, err
		}
	}
	for range maxHops {
		if !old.HasRefreshToken() {
			if !force && opts.isZero() {
				return old, nil
			}
			return old, fmt.Errorf("%w: the session has no refresh token", ErrRefreshFailed)
		}
		f := e.join(ctx, e.m.storage.grantKey(old), old, opts, force)
		select {
		case <-f.done:
		case <-ctx.Done():
			return old, &RefreshError{Class: RefreshTransient, Err: ctx.Err()}
		}
		switch {
		case !f.opts.equal(opts) || f.force != force:
			// Another kind of grant ran on this token; if it spent the
			// token, its outcome is published now.
		case !f.granted && f.err == nil && f.s != old && !e.answers(f.s, opts, force):
			old = f.s // spent meanwhile for something else: grant from its successor
		default:
			return f.s, f.err
		}
	}
	return old, &RefreshError{Class: RefreshTransient, Err: errors.New("the session was refreshed too many times meanwhile")}
}

// answers reports whether s, the successor another grant left, is what a
// refresh with opts wanted: a Token call, a fresh token for its resource
// and scopes; a plain refresh, a session whose own token is not due; a
// forced one (RefreshSession), never: it makes its own grant.
func (e *engine) answers(s *Session, opts RefreshOptions, force bool) bool {
	now := e.m.cfg.now()
	switch {
	case opts.separate:
		t := s.resource(resourceKey(opts))
		return t != nil && e.m.resourceFresh(t, now)
	case force:
		return false
	}
	due, _ := e.m.refreshDue(s.d, now)
	return !due || !s.HasRefreshToken()
}

// successor returns the session a finished grant left for key inside the
// grace window, for a request that may not grant itself (try-refresh). A
// terminal outcome, or a session signed out since, is an error.
func (e *engine) successor(ctx context.Context, key string) (next *Session, found bool, err error) {
	o, err := e.lookup(ctx, key)
	if err != nil || o == nil || o.kind == outcomeTransient {
		return nil, false, err
	}
	s, err := e.follow(ctx, o)
	return s, true, err
}

// follow is where an outcome leads: its session, unless that was signed
// out since, or its error.
func (e *engine) follow(ctx context.Context, o *outcome) (*Session, error) {
	if o.err != nil {
		return nil, o.err
	}
	if ended, err := e.lookup(ctx, endedKey(o.s.d.ID)); err != nil || ended != nil {
		return nil, fmt.Errorf("%w: the session was signed out", ErrSessionExpired)
	}
	return o.s, nil
}

// join returns the flight for key in this process, starting it if there
// is none.
func (e *engine) join(ctx context.Context, key string, old *Session, opts RefreshOptions, force bool) *flight {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f, ok := e.inflight[key]; ok {
		return f
	}
	f := &flight{done: make(chan struct{}), opts: opts, force: force}
	e.inflight[key] = f
	go e.fly(context.WithoutCancel(ctx), key, f, old)
	return f
}

// fly runs a flight detached from the request's cancellation, so a client
// that disconnects cannot lose a rotated refresh token: the outcome is
// published for its next request.
func (e *engine) fly(ctx context.Context, key string, f *flight, old *Session) {
	ctx, cancel := context.WithTimeout(ctx, e.m.cfg.refreshTimeout+claimMargin+storeTimeout)
	defer cancel()
	var s *Session
	var err error
	granted, start := false, time.Now()
	func() {
		defer func() {
			if p := recover(); p != nil {
				s, err = old, &RefreshError{Class: RefreshTransient, Err: errors.New("panic during the refresh grant")}
			}
		}()
		s, err, granted = e.lead(ctx, key, old, f.opts, f.force)
	}()
	// Hooks and events run before the waiters are released, so a request
	// that caused a grant is answered only after the grant was reported.
	if granted {
		e.m.afterGrant(ctx, s, err, time.Since(start))
	}
	e.mu.Lock()
	delete(e.inflight, key)
	f.s, f.err, f.granted = s, err, granted
	e.mu.Unlock()
	close(f.done)
}

// claimMargin is how long after a claim's deadline a waiter still waits
// for the holder's outcome before it concludes the outcome is lost.
const claimMargin = 2 * time.Second

// maxClaims bounds how often a leader tries to take a released claim.
const maxClaims = 4

// lead spends old's refresh token at most once across replicas. One
// Claim both takes the claim on key and finds any outcome already
// published under it: an outcome is followed (a grant already spent the
// token; a forced grant still grants when the provider kept the same,
// unspent token); a claim taken is granted and settled; a claim held
// elsewhere is waited for, woken by its Settle. granted reports whether
// this process made the grant.
func (e *engine) lead(ctx context.Context, key string, old *Session, opts RefreshOptions, force bool) (s *Session, err error, granted bool) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	wake, err := e.coord.Watch(wctx, key)
	if err != nil {
		return old, storeDown(err), false
	}
	// Claims are about real time on every replica, not the session clock.
	holder := claimValue(time.Now().Add(e.m.cfg.refreshTimeout))
	var waitedFor []byte // the claim of the replica this one waited for
	for range maxClaims {
		c, err := e.coord.Claim(ctx, key, holder, e.m.cfg.refreshTimeout+e.m.cfg.graceWindow+claimMargin)
		if err != nil {
			return old, storeDown(err), false
		}
		if o := e.decode(c.Published); o != nil && e.usable(o, old, force, waitedFor) {
			if c.Taken {
				_ = e.coord.Release(ctx, key, holder) // not needed: the outcome answers
			}
			if o.kind == outcomeTransient {
				return old, &RefreshError{Class: RefreshTransient, Err: errors.New("the grant failed on another replica; try again")}, false
			}
			s, err := e.follow(ctx, o)
			return s, err, false
		}
		if c.Taken {
			s, err := e.grantOnce(ctx, key, old, opts, holder)
			return s, err, true
		}
		waitedFor = c.Held
		deadline, ok := claimDeadline(c.Held)
		wait := time.Until(deadline.Add(claimMargin))
		if !ok || wait <= 0 {
			return nil, &RefreshError{Class: RefreshTerminal, Err: errors.New("the replica that spent the refresh token never reported back; the token may be spent")}, false
		}
		select {
		case <-wake:
		case <-time.After(wait):
		case <-ctx.Done():
			return old, &RefreshError{Class: RefreshTransient, Err: ctx.Err()}, false
		}
	}
	return old, &RefreshError{Class: RefreshTransient, Err: errors.New("the grant changed hands too often")}, false
}

// usable reports whether a published outcome answers this grant: a
// transient one only if it is the failure of the claim this replica waited
// for; a session that kept old's unspent token not for a forced grant.
func (e *engine) usable(o *outcome, old *Session, force bool, waitedFor []byte) bool {
	switch {
	case o.kind == outcomeTransient:
		return waitedFor != nil && string(o.holder) == string(waitedFor)
	case force && o.kind == outcomeSession && o.s.d.RefreshToken == old.d.RefreshToken:
		return false
	}
	return true
}

// grantOnce makes the grant under a claim and settles it: the session
// stored (with a Store), the outcome published and the claim released, in
// one step. Another write of the same session meanwhile (a touch on
// another replica) is merged into; a store that is down is retried until
// the grant's time is up, and after that the new refresh token is
// revoked, since no one could use it.
func (e *engine) grantOnce(ctx context.Context, key string, old *Session, opts RefreshOptions, holder []byte) (*Session, error) {
	deadline, _ := claimDeadline(holder)
	gctx, cancel := context.WithDeadline(ctx, deadline)
	s, gerr := e.m.grant(gctx, old, opts)
	cancel()
	for delay := 50 * time.Millisecond; ; delay *= 2 {
		settled, err := e.settle(ctx, key, holder, old, s, gerr)
		switch {
		case err == nil:
			return settled, gerr
		case errors.Is(err, ErrConflict):
			cur, rerr := e.m.reload(ctx, old)
			if rerr == nil && cur.d.RefreshToken == old.d.RefreshToken {
				s = &Session{d: s.d, gen: cur.gen, replaced: cur.replaced} // only touched meanwhile: ours wins
				continue
			}
			if rerr == nil {
				// Our own write, whose answer was lost; or rotated
				// elsewhere despite the claim: keep that one, and revoke
				// ours, which no one will use.
				if cur.d.RefreshToken != s.d.RefreshToken {
					e.m.revokeAtProvider(ctx, s.d, "a concurrent rotation was stored first")
				}
				return cur, nil
			}
			err = rerr
		}
		if ctx.Err() != nil || delay > e.m.cfg.refreshTimeout {
			if s != nil && s != old {
				e.m.revokeAtProvider(ctx, s.d, "the refreshed session could not be stored")
			}
			return nil, &RefreshError{Class: RefreshTerminal, Err: fmt.Errorf("storing the refreshed session: %w", err)}
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
}

// storeDown is the transient failure of an unavailable coordinator.
func storeDown(err error) *RefreshError {
	return &RefreshError{Class: RefreshTransient, Err: fmt.Errorf("%w: %w", ErrStoreUnavailable, err)}
}
