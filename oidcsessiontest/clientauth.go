package oidcsessiontest

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
)

// clientAssertionType is the only client_assertion_type of RFC 7523.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// authenticateClient checks client credentials on /token and /revoke. The
// method a request uses must be advertised (TokenEndpointAuthMethods) and,
// when ClientAuthMethod is set, be the registered one. On failure it writes
// a 401 invalid_client response and returns false. r.PostForm must be
// parsed.
func (p *Provider) authenticateClient(w http.ResponseWriter, r *http.Request) bool {
	fail := func(basic bool, desc string) bool {
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="oidcsessiontest"`)
		}
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", desc)
		return false
	}
	form := r.PostForm
	bodyID, bodySecret, assertion := form.Get("client_id"), form.Get("client_secret"), form.Get("client_assertion")
	rawID, rawSecret, basic := r.BasicAuth()

	var method, id string
	switch {
	case basic && (bodySecret != "" || assertion != ""), bodySecret != "" && assertion != "":
		return fail(basic, "more than one client authentication method used")
	case basic:
		// RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
		var err1, err2 error
		id, err1 = url.QueryUnescape(rawID)
		rawSecret, err2 = url.QueryUnescape(rawSecret)
		if err1 != nil || err2 != nil {
			return fail(true, "malformed Basic credentials")
		}
		if bodyID != "" && bodyID != id {
			return fail(true, "client_id in body does not match Basic credentials")
		}
		method = "client_secret_basic"
		if p.cfg.PublicClient && rawSecret == "" {
			method = "none" // x/oauth2 sends "client:" for a public client
		}
	case assertion != "":
		if form.Get("client_assertion_type") != clientAssertionType {
			return fail(false, "unsupported client_assertion_type")
		}
		method, id = "private_key_jwt", bodyID
	case bodySecret != "":
		method, id = "client_secret_post", bodyID
	case bodyID != "":
		method, id = "none", bodyID
	default:
		return fail(false, "client authentication required")
	}
	switch {
	case method != "private_key_jwt" && id != p.cfg.ClientID:
		return fail(basic, "unknown client")
	case !slices.Contains(p.cfg.TokenEndpointAuthMethods, method):
		return fail(basic, method+" is not supported")
	case p.cfg.ClientAuthMethod != "" && method != p.cfg.ClientAuthMethod:
		return fail(basic, "the client is registered for "+p.cfg.ClientAuthMethod+", not "+method)
	}
	switch method {
	case "client_secret_basic":
		secret := rawSecret
		if subtle.ConstantTimeCompare([]byte(secret), []byte(p.cfg.ClientSecret)) != 1 {
			return fail(true, "wrong client secret")
		}
	case "client_secret_post":
		if subtle.ConstantTimeCompare([]byte(bodySecret), []byte(p.cfg.ClientSecret)) != 1 {
			return fail(false, "wrong client secret")
		}
	case "private_key_jwt":
		if desc := p.checkClientAssertion(assertion, bodyID); desc != "" {
			return fail(false, desc)
		}
	}
	return true
}
