package oidcsession

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// CSRFHeader is the request header the refresh, logout and API-proxy
// handlers require on state-changing requests, with the value "1". A
// cross-site form cannot set it, and a cross-site fetch that sets it needs
// a CORS preflight this package never grants.
const CSRFHeader = "X-Session-Refresh"

// refreshResponse is the refresh handler's 200 body. It never carries a
// token.
type refreshResponse struct {
	ExpiresAt string `json:"expires_at"`           // the access token's expiry
	RefreshAt string `json:"refresh_at,omitempty"` // RefreshAt: when to come back; none without a refresh token
}

// RefreshAt is when the refresh handler will next grant a refresh of s:
// the start of the refresh window (WithRefreshSkew, capped at a quarter of
// the token's lifetime), rounded up to the second. The handler reports it
// as refresh_at; render it into a page so the browser helper's
// scheduleRefresh starts from the server's window instead of guessing.
// Zero when s has no refresh token or its token no expiry.
func (m *Middleware) RefreshAt(s *Session) time.Time {
	if s == nil || !s.HasRefreshToken() || s.d.Expiry.IsZero() {
		return time.Time{}
	}
	return m.refreshAt(s.d).Add(time.Second - 1).Truncate(time.Second).UTC()
}

// RefreshHandler returns the endpoint a browser calls after a 401
// try_refresh (mount it at POST /auth/refresh). It accepts only POST (405
// otherwise) that passes http.CrossOriginProtection and carries
// X-Session-Refresh: 1 (403 {"error":"csrf"} otherwise). It answers 200
// {"expires_at":"RFC 3339","refresh_at":"RFC 3339"} (see RefreshAt) with
// the new cookies,
// 401 session_expired with the cookies cleared when the provider refused
// the refresh token, and 503 with Retry-After when the provider is
// unavailable. When the access token is still outside the refresh window
// it answers 200 without a grant, so several tabs that saw one try_refresh
// cost one grant; refresh_at says when to come back.
func (m *Middleware) RefreshHandler() http.Handler {
	h := m.errorHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Add("Vary", "Cookie")
		if err := m.checkStateChanging(r); err != nil {
			h(w, r, err)
			return
		}
		res, err := m.resolve(w, r, policy{})
		if err != nil {
			h(w, r, err)
			return
		}
		body := refreshResponse{ExpiresAt: res.s.d.Expiry.UTC().Format(time.RFC3339)}
		if at := m.RefreshAt(res.s); !at.IsZero() {
			body.RefreshAt = at.Format(time.RFC3339)
		}
		writeJSON(w, http.StatusOK, body)
	})
}

// checkStateChanging is the CSRF defence of the state-changing handlers:
// POST only, Go's cross-origin protection (Sec-Fetch-Site and Origin), and
// the custom header.
func (m *Middleware) checkStateChanging(r *http.Request) error {
	if r.Method != http.MethodPost {
		return ErrMethodNotAllowed
	}
	return m.checkCSRF(r)
}

// CheckCSRF applies the refresh and sign-out endpoints' defence to an
// application's own state-changing endpoint (a "sign out this device"
// button, say): Go's http.CrossOriginProtection with WithTrustedOrigins,
// and the header X-Session-Refresh: 1, which no form can send and no other
// origin can add without a CORS preflight. The error matches ErrCSRF;
// WriteError answers it 403 {"error":"csrf"}.
func (m *Middleware) CheckCSRF(r *http.Request) error { return m.checkCSRF(r) }

// checkCSRF is the cross-origin check and the custom header.
func (m *Middleware) checkCSRF(r *http.Request) error {
	if err := m.csrf.Check(r); err != nil {
		return fmt.Errorf("%w: %w", ErrCSRF, err)
	}
	if r.Header.Get(CSRFHeader) != "1" {
		return fmt.Errorf("%w: missing %s: 1", ErrCSRF, CSRFHeader)
	}
	return nil
}

// RefreshSession refreshes the request's session now, whatever its expiry,
// optionally narrowing scopes or asking for a resource (MonoCloud's
// refreshSession), and writes the new cookies. Call it before writing the
// response body. It always makes a grant, also with a cookie from before
// the last refresh (then from that refresh's outcome, so a spent refresh
// token is never presented), and concurrent calls with the same options
// share one grant. Behind Require it refreshes the session in the
// request's context and puts the new one there (see FromContext).
//
// On failure the error says which class it was (see RefreshError). A
// terminal failure clears the session's cookies and returns no session.
// On a transient or rejected failure the session is kept and returned
// with the error; when the provider may have spent the refresh token
// (invalid_target) the kept session has none: its cookies are rewritten
// without it and it lasts until its access token expires.
func (m *Middleware) RefreshSession(w http.ResponseWriter, r *http.Request, opts RefreshOptions) (*Session, error) {
	defer lockSession(r.Context())()
	var s *Session
	var err error
	if cur, ok := FromContext(r.Context()); ok {
		s, err = m.grantFor(w, r, cur, opts, true)
	} else {
		var res resolution
		res, err = m.resolve(w, r, policy{force: true, opts: opts})
		s = res.s
	}
	if err != nil && errors.Is(err, ErrSessionExpired) {
		return nil, err
	}
	return s, err
}
