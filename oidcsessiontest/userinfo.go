package oidcsessiontest

import (
	"maps"
	"net/http"
	"strings"
)

// handleUserinfo returns the user's claims for a live access token. Tokens
// are looked up server-side, so revocation and reuse detection take effect
// here at once, as they do at a real provider.
func (p *Provider) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	p.mu.Lock()
	p.userinfo++
	p.mu.Unlock()

	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		// RFC 6750 3.1: no error code when no credentials were sent.
		w.Header().Set("WWW-Authenticate", `Bearer realm="oidcsessiontest"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "bearer access token required")
		return
	}
	now := p.cfg.Now()
	p.mu.Lock()
	at := p.access[token]
	ok := at != nil && at.valid(now)
	sub := ""
	if ok {
		sub = at.fam.subject
	}
	p.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="unknown, expired or revoked access token"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "unknown, expired or revoked access token")
		return
	}
	claims := maps.Clone(p.cfg.User.Claims)
	if claims == nil {
		claims = map[string]any{}
	}
	claims["sub"] = sub
	writeJSON(w, http.StatusOK, claims)
}
