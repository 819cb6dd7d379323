package oidcsessiontest

import "net/http"

// tokenParameter reads the token of a revocation or introspection request
// from an authenticated client; it answers the request itself when it
// cannot.
func (p *Provider) tokenParameter(w http.ResponseWriter, r *http.Request) (string, bool) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return "", false
	}
	if !p.authenticateClient(w, r) {
		return "", false
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "token missing")
		return "", false
	}
	return token, true
}

// handleRevoke is the RFC 7009 revocation endpoint. Revoking a refresh token
// revokes its whole family (and so its access tokens); unknown tokens are
// answered 200 as the RFC requires, so clients cannot probe for tokens.
func (p *Provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	p.mu.Lock()
	p.revocations++
	p.mu.Unlock()
	token, ok := p.tokenParameter(w, r)
	if !ok {
		return
	}
	// token_type_hint is only an optimisation; both tables are checked.
	p.mu.Lock()
	if rt := p.refresh[token]; rt != nil && rt.fam.clientID == p.cfg.ClientID {
		rt.fam.revoked = true
	}
	if at := p.access[token]; at != nil && at.fam.clientID == p.cfg.ClientID {
		at.revoked = true
	}
	p.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
