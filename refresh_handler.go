package oidcsession

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// RefreshHeader is the request header the refresh and logout handlers
// require, with the value "1". A cross-site form cannot set it, and a
// cross-site fetch that sets it needs a CORS preflight we never grant.
const RefreshHeader = "X-Session-Refresh"

// refreshResponse is the refresh handler's 200 body. It never carries a
// token. RefreshAt is when the handler will next grant (the start of the
// refresh window, rounded up to the second), so a browser can schedule its
// next POST from the server's window instead of guessing; it is left out
// when the session has no refresh token.
type refreshResponse struct {
	ExpiresAt string `json:"expires_at"`
	RefreshAt string `json:"refresh_at,omitempty"`
}

// RefreshHandler returns the endpoint a browser calls after a 401
// try_refresh (mount it at POST /auth/refresh). It accepts only POST (405
// otherwise) that passes http.CrossOriginProtection and carries
// X-Session-Refresh: 1 (403 {"error":"csrf"} otherwise). It answers 200
// {"expires_at":"RFC 3339","refresh_at":"RFC 3339"} with the new cookies, 401 session_expired with
// the cookies cleared when the provider refused the refresh token, and 503
// with Retry-After when the provider is unavailable. When the access token
// is still outside the refresh window it answers 200 without a grant, so
// several tabs that saw one try_refresh cost one grant.
func (m *Middleware) RefreshHandler() http.Handler {
	h := m.errorHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Add("Vary", "Cookie")
		if err := m.checkStateChanging(r); err != nil {
			m.fail(w, r, h, err)
			return
		}
		now := m.cfg.now()
		s, err := m.loadSession(r, now)
		if err != nil {
			m.fail(w, r, h, err)
			return
		}
		changed := m.needsTouch(s, now)
		if due, expired := m.refreshDue(s, now); due {
			switch {
			case s.HasRefreshToken():
				ns, err := m.engine.refresh(r.Context(), s, RefreshOptions{})
				if err != nil {
					m.fail(w, r, h, err)
					return
				}
				s, changed = ns, true
			case expired:
				m.fail(w, r, h, fmt.Errorf("%w: access token expired and there is no refresh token", ErrSessionExpired))
				return
			}
		}
		if changed {
			if err := m.save(w, r, s, now); err != nil {
				m.fail(w, r, h, err)
				return
			}
		}
		body := refreshResponse{ExpiresAt: s.expiry.UTC().Format(time.RFC3339)}
		if start := m.refreshStart(s); s.HasRefreshToken() && !start.IsZero() {
			// Rounded up: a browser that comes back at this second is inside the window.
			body.RefreshAt = start.Add(time.Second - 1).Truncate(time.Second).UTC().Format(time.RFC3339)
		}
		writeJSON(w, http.StatusOK, body)
	})
}

// checkStateChanging is the CSRF defence of the refresh and logout
// handlers: POST only, Go's cross-origin protection (Sec-Fetch-Site and
// Origin), and the custom header.
func (m *Middleware) checkStateChanging(r *http.Request) error {
	if r.Method != http.MethodPost {
		return ErrMethodNotAllowed
	}
	if err := m.csrf.Check(r); err != nil {
		return fmt.Errorf("%w: %w", ErrCSRF, err)
	}
	if r.Header.Get(RefreshHeader) != "1" {
		return fmt.Errorf("%w: missing %s: 1", ErrCSRF, RefreshHeader)
	}
	return nil
}

// RefreshSession refreshes the request's session now, whatever its expiry,
// optionally narrowing scopes or asking for a resource (MonoCloud's
// refreshSession), and writes the new cookies. Call it before writing the
// response body. Concurrent refreshes of one session still share one grant.
// A terminal failure clears the session's cookies; the error says which
// class it was (see RefreshError).
func (m *Middleware) RefreshSession(w http.ResponseWriter, r *http.Request, opts RefreshOptions) (*Session, error) {
	s, err := m.loadSession(r, m.cfg.now())
	if err != nil {
		if !errors.Is(err, ErrNoSession) {
			m.store.clear(w, r)
		}
		return nil, err
	}
	if !s.HasRefreshToken() {
		return nil, fmt.Errorf("%w: the session has no refresh token", ErrRefreshFailed)
	}
	ns, err := m.engine.refresh(r.Context(), s, opts)
	if err != nil {
		if errors.Is(err, ErrSessionExpired) {
			m.store.clear(w, r)
		}
		return nil, err
	}
	if err := m.save(w, r, ns, m.cfg.now()); err != nil {
		return nil, err
	}
	return ns, nil
}
