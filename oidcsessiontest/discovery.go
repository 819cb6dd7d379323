package oidcsessiontest

import (
	"net/http"
	"slices"
	"sort"
)

// handleDiscovery serves the OpenID Provider Metadata (OIDC Discovery 3),
// leaving out disabled endpoints so clients can test their fallbacks.
func (p *Provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	iss := p.Issuer()
	claims := []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash"}
	for k := range p.cfg.User.Claims {
		if !slices.Contains(claims, k) {
			claims = append(claims, k)
		}
	}
	sort.Strings(claims[9:])
	grants := []string{"authorization_code"}
	if !p.cfg.OmitRefreshToken {
		grants = append(grants, "refresh_token")
	}
	doc := map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/authorize",
		"token_endpoint":                                 iss + "/token",
		"userinfo_endpoint":                              iss + "/userinfo",
		"jwks_uri":                                       iss + "/jwks",
		"introspection_endpoint":                         iss + "/introspect",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{p.cfg.Algorithm},
		"code_challenge_methods_supported":               []string{"S256"},
		"grant_types_supported":                          grants,
		"token_endpoint_auth_methods_supported":          p.cfg.TokenEndpointAuthMethods,
		"scopes_supported":                               []string{"openid", "profile", "email", "offline_access"},
		"claims_supported":                               claims,
		"prompt_values_supported":                        []string{"none", "login", "consent", "select_account"},
		"authorization_response_iss_parameter_supported": true,
	}
	if !p.cfg.DisableRevocation {
		doc["revocation_endpoint"] = iss + "/revoke"
		doc["revocation_endpoint_auth_methods_supported"] = p.cfg.TokenEndpointAuthMethods
	}
	if !p.cfg.DisableEndSession {
		doc["end_session_endpoint"] = iss + "/end_session"
	}
	if p.cfg.BackChannelLogoutURI != "" {
		doc["backchannel_logout_supported"] = true
		doc["backchannel_logout_session_supported"] = true
	}
	writeJSON(w, http.StatusOK, doc)
}

// handleJWKS publishes every public key, current and rotated out.
func (p *Provider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	p.mu.Lock()
	keys := make([]map[string]any, 0, len(p.keys))
	for i := len(p.keys) - 1; i >= 0; i-- { // current key first
		if j := p.keys[i].jwk(); j != nil {
			keys = append(keys, j)
		}
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}
