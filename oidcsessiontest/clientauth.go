package oidcsessiontest

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
)

// authenticateClient checks client credentials on /token and /revoke per
// TokenEndpointAuthMethods (RFC 6749 2.3.1). On failure it writes a 401
// invalid_client response and returns false. r.PostForm must be parsed.
func (p *Provider) authenticateClient(w http.ResponseWriter, r *http.Request) bool {
	allowed := func(m string) bool { return slices.Contains(p.cfg.TokenEndpointAuthMethods, m) }
	noneOK := p.cfg.PublicClient || allowed("none")
	fail := func(basic bool, desc string) bool {
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="oidcsessiontest"`)
		}
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", desc)
		return false
	}
	secretOK := func(s string) bool {
		return subtle.ConstantTimeCompare([]byte(s), []byte(p.cfg.ClientSecret)) == 1
	}
	bodyID, bodySecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")

	if rawID, rawSecret, ok := r.BasicAuth(); ok {
		// RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
		id, err1 := url.QueryUnescape(rawID)
		secret, err2 := url.QueryUnescape(rawSecret)
		switch {
		case err1 != nil || err2 != nil:
			return fail(true, "malformed Basic credentials")
		case bodySecret != "":
			return fail(true, "more than one client authentication method used")
		case bodyID != "" && bodyID != id:
			return fail(true, "client_id in body does not match Basic credentials")
		case id != p.cfg.ClientID:
			return fail(true, "unknown client")
		case p.cfg.PublicClient:
			return true // a public client has no secret to check (x/oauth2 sends "client:")
		case !allowed("client_secret_basic"):
			return fail(true, "client_secret_basic is not allowed for this client")
		case !secretOK(secret):
			return fail(true, "wrong client secret")
		}
		return true
	}
	switch {
	case bodyID == "":
		return fail(false, "client authentication required")
	case bodyID != p.cfg.ClientID:
		return fail(false, "unknown client")
	case bodySecret != "" && p.cfg.PublicClient:
		return true
	case bodySecret != "":
		if !allowed("client_secret_post") {
			return fail(false, "client_secret_post is not allowed for this client")
		}
		if !secretOK(bodySecret) {
			return fail(false, "wrong client secret")
		}
		return true
	case noneOK:
		return true
	}
	return fail(false, "client authentication required")
}
