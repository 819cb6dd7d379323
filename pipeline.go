package oidcsession

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/oidcsession/oidcsession/internal/state"
)

// policy says, as data, what one resolution of a request's session wants.
// Require, RefreshHandler and RefreshSession differ only in their policy.
type policy struct {
	force          bool           // grant whatever the expiry (RefreshSession)
	opts           RefreshOptions // what a forced grant asks for
	tryRefresh     bool           // an expired token is answered try_refresh, not refreshed (Require(TryRefresh()))
	serveUnexpired bool           // a transient failure serves a token that has not expired yet (Require, inline)
	renew          bool           // an expired session without a refresh token may be renewed silently (Require)
}

// resolution is what resolve settled on.
type resolution struct {
	s     *Session
	wrote bool // session cookies were written
}

// errRenew asks Require for a silent renewal (renewSilently).
var errRenew = errors.New("oidcsession: renew the session silently")

// resolve is the one session decision: load the request's session, check
// its lifetimes, advance its idle clock, refresh it when it is due (or
// take the successor a grant already made, inside the grace window), and
// save it. It writes the session's cookies (new ones, or deleted ones when
// the session ended or cannot be trusted) but never the answer. On a
// failure that keeps the session, the kept session is returned with the
// error.
func (m *Middleware) resolve(w http.ResponseWriter, r *http.Request, p policy) (resolution, error) {
	ctx, now := r.Context(), m.cfg.now()
	l, err := m.storage.load(r)
	if err != nil {
		m.failed(ctx, w, r, nil, err)
		return resolution{}, err
	}
	s := l.s
	if err := m.checkLifetimes(s.d, now); err != nil {
		m.failed(ctx, w, r, s, err)
		return resolution{}, err
	}
	persist, cookie := l.dirty || m.needsTouch(s.d, now), l.cookie
	due, expired := m.refreshDue(s.d, now)
	switch {
	case p.force || due && !p.tryRefresh && s.HasRefreshToken():
		ns, err := m.engine.refresh(ctx, s, p.opts, p.force)
		if err != nil && !(IsTransient(err) && p.serveUnexpired && !expired) {
			return m.refreshFailed(ctx, w, r, s, ns, err)
		}
		if ns != nil && ns != s && (err == nil || ns.d.RefreshToken != s.d.RefreshToken) { // refreshed, or a successor, or kept without a token the provider may have spent
			s, persist, cookie = ns, false, true
		}
	case due && p.tryRefresh && s.HasRefreshToken():
		// Inside the grace window another request's grant stands in.
		if ns, found, err := m.engine.successor(ctx, m.storage.grantKey(s)); err == nil && found {
			s, persist, cookie = ns, false, true
		}
	}
	if _, expired = m.refreshDue(s.d, now); expired {
		switch {
		case p.tryRefresh:
			return resolution{s: s}, ErrAccessTokenExpired
		case p.renew && !s.HasRefreshToken():
			return resolution{s: s}, errRenew
		case !s.HasRefreshToken():
			err := fmt.Errorf("%w: access token expired and there is no refresh token", ErrSessionExpired)
			m.failed(ctx, w, r, s, err)
			return resolution{}, err
		}
	}
	if !persist && !cookie {
		return resolution{s: s}, nil
	}
	s, err = m.save(ctx, w, r, s, persist)
	return resolution{s: s, wrote: err == nil}, err
}

// refreshFailed settles a failed refresh: a kept session that changed (its
// refresh token dropped) gets its cookie, an ended one loses its cookies.
func (m *Middleware) refreshFailed(ctx context.Context, w http.ResponseWriter, r *http.Request, s, kept *Session, err error) (resolution, error) {
	switch {
	case kept == nil:
		m.failed(ctx, w, r, s, err)
		return resolution{}, err
	case kept != s:
		if _, werr := m.save(ctx, w, r, kept, false); werr != nil {
			return resolution{}, werr
		}
		return resolution{s: kept, wrote: true}, err
	}
	return resolution{s: s}, err
}

// failed deletes the session's cookies when it has ended or cannot be
// trusted, and ends an ended session where it is stored.
func (m *Middleware) failed(ctx context.Context, w http.ResponseWriter, r *http.Request, s *Session, err error) {
	switch {
	case errors.Is(err, ErrSessionExpired):
		if s != nil {
			_ = m.storage.end(ctx, s)
		}
		m.storage.clear(w, r)
	case errors.Is(err, ErrInvalidSession):
		m.storage.clear(w, r)
	}
}

// save stores s (when persist: with its idle clock advanced, as the next
// generation) and writes its cookies. A store write that lost a race to
// another write of the same session is not an error: the other write
// stands, and this request's cookie stays valid for the grace window.
func (m *Middleware) save(ctx context.Context, w http.ResponseWriter, r *http.Request, s *Session, persist bool) (*Session, error) {
	if persist {
		d, now := s.d.Clone(), m.cfg.now()
		if d.LastSeen.Before(now.Truncate(time.Second)) {
			d.LastSeen = now
		}
		if d.ID == "" {
			d.ID = newSessionID() // a session from before IDs existed
		}
		ps, err := m.storage.persist(ctx, s.with(d))
		switch {
		case errors.Is(err, ErrConflict):
			return s, nil
		case err != nil:
			return nil, err
		}
		s = ps
	}
	if err := m.storage.writeCookie(w, r, s); err != nil {
		return nil, err
	}
	w.Header().Set("Cache-Control", "no-store")
	return s, nil
}

// checkLifetimes ends a session past its absolute lifetime or idle
// timeout, measured from the session itself with the clock.
func (m *Middleware) checkLifetimes(d *state.Session, now time.Time) error {
	if !now.Before(d.Created.Add(m.cfg.absoluteLifetime)) {
		return fmt.Errorf("%w: absolute lifetime of %s reached", ErrSessionExpired, m.cfg.absoluteLifetime)
	}
	if m.cfg.idleTimeout > 0 && !now.Before(d.LastSeen.Add(m.cfg.idleTimeout)) {
		return fmt.Errorf("%w: idle for more than %s", ErrSessionExpired, m.cfg.idleTimeout)
	}
	return nil
}

// expires is when a session ends if nothing happens: its absolute
// lifetime, or its idle timeout if that comes first.
func (m *Middleware) expires(d *state.Session) time.Time {
	end := d.Created.Add(m.cfg.absoluteLifetime)
	if idle := d.LastSeen.Add(m.cfg.idleTimeout); m.cfg.idleTimeout > 0 && idle.Before(end) {
		return idle
	}
	return end
}

// needsTouch reports whether the idle clock should be advanced: at most
// every eighth of the idle timeout, so an active session is written
// rarely.
func (m *Middleware) needsTouch(d *state.Session, now time.Time) bool {
	return m.cfg.idleTimeout > 0 && now.Sub(d.LastSeen) >= m.cfg.idleTimeout/8
}

// refreshDue reports whether the access token is inside the refresh window
// (due) and whether it has expired.
func (m *Middleware) refreshDue(d *state.Session, now time.Time) (due, expired bool) {
	if d.Expiry.IsZero() {
		return false, false
	}
	return !now.Before(m.refreshAt(d)), !now.Before(d.Expiry)
}

// refreshAt is when the refresh window opens: WithRefreshSkew before
// expiry, capped at a quarter of the token's lifetime so short-lived
// tokens are not refreshed on every request.
func (m *Middleware) refreshAt(d *state.Session) time.Time {
	skew := m.cfg.refreshSkew
	if !d.TokenAt.IsZero() {
		if life := d.Expiry.Sub(d.TokenAt); life > 0 && skew > life/4 {
			skew = life / 4
		}
	}
	return d.Expiry.Add(-skew)
}

// reload reads s's session again from where it is stored.
func (m *Middleware) reload(ctx context.Context, s *Session) (*Session, error) {
	return m.storage.reload(ctx, s)
}
