package oidcsession

import (
	"context"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/oidcsession/oidcsession/internal/state"
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
//   - ends the session: with a Store its record is deleted, so no copy of
//     the cookie works again on any replica; with cookies, older cookies of
//     the session are no longer handed its successor in the grace window;
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
			h(w, r, err)
			return
		}
		// Any readable session, even past its lifetimes: its refresh token
		// may still work at the provider and should be revoked.
		var d *state.Session
		if l, err := m.storage.load(r); err == nil {
			d = l.s.d
			m.signOut(r.Context(), l.s)
			m.emit(r.Context(), Event{Kind: EventSignOut})
		}
		m.storage.clear(w, r)
		m.clearFlows(w, r)
		target := m.logoutTarget(d)
		if prefersJSON(r) {
			writeJSON(w, http.StatusOK, logoutResponse{RedirectTo: target})
			return
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// signOut ends s everywhere: at the provider (revocation), in the store,
// and in the grace window of every replica.
func (m *Middleware) signOut(ctx context.Context, s *Session) {
	if err := m.endSession(ctx, s); err != nil {
		m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "oidcsession: ending the session in the store failed", slog.String("error", err.Error()))
	}
}

// endSession ends s everywhere, detached from the request's cancellation:
// published as ended (so no older cookie is handed its successor), deleted
// from the store, its refresh token revoked at the provider. It reports a
// store failure; the revocation is attempted whatever happens.
func (m *Middleware) endSession(ctx context.Context, s *Session) error {
	ctx = context.WithoutCancel(ctx)
	m.engine.end(ctx, s.d.ID)
	err := m.storage.end(ctx, s)
	m.revokeAtProvider(ctx, s.d, "")
	return err
}

// revokeAtProvider revokes d's refresh token, or its access token when it
// has none (RFC 7009), detached from the request's cancellation and bounded
// by the refresh timeout, so a client that goes away does not leave a live
// refresh token behind. why, when set, is a session the package ends on
// its own, which it logs at error: the operator must learn that users are
// being signed out. A failure is logged.
func (m *Middleware) revokeAtProvider(ctx context.Context, d *state.Session, why string) {
	if why != "" {
		m.cfg.logger.LogAttrs(ctx, slog.LevelError, "oidcsession: ending the session: "+why+"; its tokens are revoked",
			slog.String("subject", d.Subject))
	}
	if m.meta.RevocationEndpoint == "" {
		return
	}
	tok, hint := d.RefreshToken, "refresh_token"
	if tok == "" {
		tok, hint = d.AccessToken.String(), "access_token"
	}
	if tok == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.refreshTimeout)
	defer cancel()
	if err := m.client.Revoke(ctx, tok, hint); err != nil {
		m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "oidcsession: token revocation failed; the session is ended anyway",
			slog.String("subject", d.Subject), slog.String("token_type_hint", hint), slog.String("error", err.Error()))
		return
	}
	if why == "" {
		m.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "oidcsession: signed out", slog.String("subject", d.Subject))
	}
}

// logoutTarget is where the browser goes after sign-out.
func (m *Middleware) logoutTarget(d *state.Session) string {
	after := m.cfg.signIn.postLogoutRedirectURL
	if ep := m.meta.EndSessionEndpoint; ep != "" {
		if u, err := url.Parse(ep); err == nil {
			q := u.Query()
			if d != nil && d.IDToken != nil {
				q.Set("id_token_hint", d.IDToken.String())
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
