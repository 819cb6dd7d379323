package oidcsessiontest

import (
	"net/http"
	"net/url"
	"slices"
)

// handleEndSession is the RP-Initiated Logout endpoint (OIDC RP-Initiated
// Logout 1.0). It ends the provider session so a later prompt=none fails
// with login_required, the way a real provider behaves after logout.
func (p *Provider) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	p.mu.Lock()
	p.endSessions++
	p.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "malformed request")
		return
	}
	q := r.Form
	if id := q.Get("client_id"); id != "" && id != p.cfg.ClientID {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "unknown client_id")
		return
	}
	if hint := q.Get("id_token_hint"); hint != "" {
		p.mu.Lock()
		keys := slices.Clone(p.keys)
		p.mu.Unlock()
		// Expiry is ignored on purpose: logout usually happens with an
		// expired ID token.
		claims, err := verifyJWT(keys, hint)
		if err != nil || claims["iss"] != p.Issuer() || !audContains(claims["aud"], p.cfg.ClientID) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "id_token_hint is not a valid ID token from this provider")
			return
		}
	}
	target := q.Get("post_logout_redirect_uri")
	if target != "" {
		allowed := isHTTPURI(target)
		if len(p.cfg.PostLogoutRedirectURIs) > 0 {
			allowed = slices.Contains(p.cfg.PostLogoutRedirectURIs, target)
		}
		if !allowed {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "post_logout_redirect_uri not registered")
			return
		}
	}

	p.mu.Lock()
	var ended *opSession
	if c, err := r.Cookie(sessionCookie); err == nil {
		ended = p.sessions[c.Value]
		delete(p.sessions, c.Value)
	}
	if ended == nil && p.forcedLogin {
		ended = &opSession{sid: p.forcedSID}
	}
	p.forcedLogin = false
	p.mu.Unlock()
	if ended != nil && p.cfg.BackChannelLogoutURI != "" {
		// OIDC Back-Channel Logout 1.0: tell the client the session ended.
		// A failure is the client's problem; the sign-out goes on.
		_ = p.BackChannelLogout(p.cfg.User.Subject, ended.sid)
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")

	if target != "" {
		u, err := url.Parse(target)
		if err != nil {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "bad post_logout_redirect_uri")
			return
		}
		if state := q.Get("state"); state != "" {
			qq := u.Query()
			qq.Set("state", state)
			u.RawQuery = qq.Encode()
		}
		http.Redirect(w, r, u.String(), http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte("<!doctype html><title>Signed out</title><h1>Signed out</h1><p>You have been signed out of the test provider.</p>\n"))
}

// audContains reports whether a JWT aud claim (string or array) names id.
func audContains(aud any, id string) bool {
	switch a := aud.(type) {
	case string:
		return a == id
	case []any:
		for _, v := range a {
			if v == id {
				return true
			}
		}
	}
	return false
}
