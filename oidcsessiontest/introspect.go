package oidcsessiontest

import "net/http"

// handleIntrospect is the RFC 7662 introspection endpoint, for resource
// servers in tests: it answers whether an access token is live (issued
// here, not expired, not revoked, its family not revoked or reused) and
// its claims. Callers authenticate as the client does at the token
// endpoint; refresh tokens are never reported active, so the endpoint
// cannot be used to probe them.
func (p *Provider) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	token, ok := p.tokenParameter(w, r)
	if !ok {
		return
	}
	now := p.cfg.Now()
	p.mu.Lock()
	at := p.access[token]
	var out map[string]any
	if at != nil && at.valid(now) {
		out = map[string]any{
			"active": true, "token_type": "Bearer", "client_id": p.cfg.ClientID, "iss": p.Issuer(),
			"sub": at.fam.subject, "aud": at.aud, "scope": at.scope,
			"iat": at.issued.Unix(), "exp": at.expires.Unix(),
		}
	}
	p.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	if out == nil {
		out = map[string]any{"active": false}
	}
	writeJSON(w, http.StatusOK, out)
}
