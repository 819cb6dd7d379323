package oidcsession

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// logoutResponse is the logout handler's JSON answer.
type logoutResponse struct {
	RedirectTo string `json:"redirect_to"`
}

// LogoutHandler returns the sign-out endpoint (mount it at
// POST /auth/logout). Like RefreshHandler it accepts only a POST that
// passes http.CrossOriginProtection and carries X-Session-Refresh: 1 (405
// or 403 otherwise), so a cross-site page cannot sign the user out. It
// then
//   - revokes the refresh token (else the access token) at the provider's
//     revocation endpoint (RFC 7009), if it has one; a failure is logged
//     and the sign-out goes on;
//   - deletes the session cookies (every chunk) and any sign-in flow
//     cookies;
//   - sends the browser to the provider's end_session_endpoint with
//     id_token_hint, client_id and post_logout_redirect_uri
//     (WithPostLogoutRedirectURL), so the provider session ends too
//     (RP-Initiated Logout); without one, to WithPostLogoutRedirectURL, or
//     "/".
//
// A form POST gets 303 to that URL. A fetch cannot follow a cross-origin
// redirect usefully, so a request whose Accept prefers application/json
// gets 200 {"redirect_to":"…"} and the script navigates there itself.
// Without a session it still clears cookies and answers the same way.
func (m *Middleware) LogoutHandler() http.Handler {
	h := m.errorHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Add("Vary", "Cookie, Accept")
		if err := m.checkStateChanging(r); err != nil {
			m.fail(w, r, h, err)
			return
		}
		// Any readable session, even past its lifetimes: its refresh token
		// may still work at the provider and should be revoked.
		s, err := m.store.load(r)
		if err != nil {
			s = nil
		}
		if s != nil {
			m.engine.forget(s.refreshToken)
			m.revoke(r.Context(), s)
		}
		m.store.clear(w, r)
		m.clearFlows(w, r)
		target := m.logoutTarget(s)
		if prefersJSON(r) {
			writeJSON(w, http.StatusOK, logoutResponse{RedirectTo: target})
			return
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// revoke revokes the session's refresh token, or its access token when it
// has none, and logs a failure. It runs detached from the request's
// cancellation, bounded by the refresh timeout, so a client that goes away
// does not leave a live refresh token behind.
func (m *Middleware) revoke(ctx context.Context, s *Session) {
	endpoint := m.meta.RevocationEndpoint
	if endpoint == "" {
		return
	}
	tok, hint := s.refreshToken, "refresh_token"
	if tok == "" {
		tok, hint = s.AccessToken(), "access_token"
	}
	if tok == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.refreshTimeout)
	defer cancel()
	if err := m.revokeToken(ctx, endpoint, tok, hint); err != nil {
		m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "oidcsession: token revocation at sign-out failed; the session is cleared anyway",
			slog.String("subject", s.subject), slog.String("token_type_hint", hint), slog.String("error", err.Error()))
		return
	}
	m.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "oidcsession: signed out", slog.String("subject", s.subject))
}

// revokeEnded revokes the refresh token of a session the package is
// ending on its own (see fit), and logs why at error: the operator must
// learn that users are being signed out.
func (m *Middleware) revokeEnded(ctx context.Context, s *Session, why string) {
	m.cfg.logger.LogAttrs(ctx, slog.LevelError, "oidcsession: ending the session: "+why+"; its refresh token is revoked",
		slog.String("subject", s.subject))
	if m.meta.RevocationEndpoint == "" || s.refreshToken == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.refreshTimeout)
	defer cancel()
	if err := m.revokeToken(ctx, m.meta.RevocationEndpoint, s.refreshToken, "refresh_token"); err != nil {
		m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "oidcsession: revoking the refresh token of an ended session failed",
			slog.String("subject", s.subject), slog.String("error", err.Error()))
	}
}

// revokeToken is one RFC 7009 request, with client authentication as at
// the token endpoint.
func (m *Middleware) revokeToken(ctx context.Context, endpoint, tok, hint string) error {
	form := url.Values{"token": {tok}, "token_type_hint": {hint}}
	req, err := m.newClientPost(ctx, endpoint, form)
	if err != nil {
		return err
	}
	resp, err := m.cfg.httpClient.Do(req)
	if err != nil {
		return &loginError{kind: ErrProviderUnavailable, reason: "the revocation endpoint could not be reached", cause: &callError{endpoint: endpoint, err: err}}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("oidcsession: revocation endpoint answered %d", resp.StatusCode)
	}
	return nil
}

// logoutTarget is where the browser goes after sign-out.
func (m *Middleware) logoutTarget(s *Session) string {
	after := m.cfg.login.postLogoutRedirectURL
	if ep := m.meta.EndSessionEndpoint; ep != "" {
		if u, err := url.Parse(ep); err == nil {
			q := u.Query()
			if s != nil && s.idToken != nil {
				q.Set("id_token_hint", s.IDToken())
			}
			if after != "" {
				q.Set("post_logout_redirect_uri", after)
			}
			q.Set("client_id", m.oauth.ClientID)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	if after != "" {
		return after
	}
	return "/"
}

// prefersJSON reports whether the request's Accept header ranks
// application/json above text/html.
func prefersJSON(r *http.Request) bool {
	jsonQ, htmlQ := -1.0, -1.0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case "application/json":
			jsonQ = max(jsonQ, q)
		case "text/html":
			htmlQ = max(htmlQ, q)
		}
	}
	return jsonQ > 0 && jsonQ > htmlQ
}
