package oidcsessiontest

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// sessionCookie is the provider's own browser-session cookie, which lets
// prompt=none succeed after a first interactive login.
const sessionCookie = "op_session"

// codeLifetime is how long an authorization code stays redeemable.
const codeLifetime = 60 * time.Second

// handleAuthorize is the authorization endpoint. There is no login form:
// the configured user is signed in at once, so tests only follow redirects.
func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	if err := r.ParseForm(); err != nil {
		writeErrorPage(w, http.StatusBadRequest, "invalid_request", "malformed request: "+err.Error())
		return
	}
	q := r.Form
	// Errors before the client and redirect URI are trusted must not
	// redirect (RFC 6749 4.1.2.1), or the provider becomes an open redirector.
	if len(q["client_id"]) != 1 || q.Get("client_id") != p.cfg.ClientID {
		writeErrorPage(w, http.StatusBadRequest, "invalid_client", "unknown or missing client_id")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if len(q["redirect_uri"]) != 1 || !p.redirectAllowed(redirectURI) {
		writeErrorPage(w, http.StatusBadRequest, "invalid_request", "missing or unregistered redirect_uri")
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) {
		p.redirect(w, r, redirectURI, url.Values{"error": {code}, "error_description": {desc}}, state)
	}
	ar, code, desc := p.checkAuthorizationRequest(q)
	if code != "" {
		fail(code, desc)
		return
	}
	if p.loginPageShown(w, r, q, ar.promptNone, ar.forceLogin, fail) {
		return
	}
	p.issueCode(w, r, ar, redirectURI, state, fail)
}

// authRequest is what an authorization request asks, once checked.
type authRequest struct {
	scopes                 []string
	challenge, nonce       string
	promptNone, forceLogin bool
}

// checkAuthorizationRequest checks the parameters of an authorization
// request whose client and redirect URI are trusted, returning an OAuth
// error code and description for the first thing wrong.
func (p *Provider) checkAuthorizationRequest(q url.Values) (ar authRequest, code, desc string) {
	for _, k := range []string{"response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "prompt"} {
		if len(q[k]) > 1 {
			return ar, "invalid_request", "duplicate parameter " + k
		}
	}
	if rt := q.Get("response_type"); rt != "code" {
		return ar, "unsupported_response_type", "only response_type=code is supported"
	}
	ar.scopes = strings.Fields(q.Get("scope"))
	if !slices.Contains(ar.scopes, "openid") {
		return ar, "invalid_scope", "scope must include openid"
	}
	ar.challenge, ar.nonce = q.Get("code_challenge"), q.Get("nonce")
	switch {
	case ar.challenge == "":
		return ar, "invalid_request", "PKCE is required: code_challenge missing"
	case q.Get("code_challenge_method") != "S256":
		return ar, "invalid_request", "code_challenge_method must be S256"
	case len(ar.challenge) != 43:
		return ar, "invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)"
	}
	prompts := strings.Fields(q.Get("prompt"))
	for _, pr := range prompts {
		switch pr {
		case "none", "login", "consent", "select_account":
		default:
			return ar, "invalid_request", "unsupported prompt value " + pr
		}
	}
	ar.promptNone, ar.forceLogin = slices.Contains(prompts, "none"), slices.Contains(prompts, "login")
	if ar.promptNone && len(prompts) > 1 {
		return ar, "invalid_request", "prompt=none cannot be combined with other values"
	}
	if p.cfg.OfflineAccessRequiresConsent && !slices.Contains(prompts, "consent") {
		// OIDC Core 11: offline access needs the user's consent in this request.
		ar.scopes = slices.DeleteFunc(ar.scopes, func(s string) bool { return s == "offline_access" })
	}
	return ar, "", ""
}

// issueCode signs the user in (or finds their provider session) and
// redirects with a new authorization code; prompt=none without a session
// fails with login_required.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, ar authRequest, redirectURI, state string, fail func(code, desc string)) {
	now := p.cfg.Now()
	cookieSID := ""
	if c, err := r.Cookie(sessionCookie); err == nil {
		cookieSID = c.Value
	}

	p.mu.Lock()
	ops, hasSession := p.sessions[cookieSID]
	if !hasSession && p.forcedLogin {
		ops, hasSession = &opSession{sid: p.forcedSID, authTime: p.forcedAuthTime}, true
	}
	newSID := ""
	switch {
	case ar.promptNone && !hasSession:
		p.mu.Unlock()
		fail("login_required", "no provider session")
		return
	case ar.forceLogin || !hasSession:
		// Sign in (again): a new session with a new auth_time.
		delete(p.sessions, cookieSID)
		newSID = randomString(32)
		ops = &opSession{sid: randomString(16), authTime: now}
		p.sessions[newSID] = ops
	}
	code := randomString(32)
	p.codes[code] = &authCode{
		clientID:    p.cfg.ClientID,
		redirectURI: redirectURI,
		challenge:   ar.challenge,
		nonce:       ar.nonce,
		scopes:      ar.scopes,
		authTime:    ops.authTime,
		sid:         ops.sid,
		expires:     now.Add(codeLifetime),
	}
	p.mu.Unlock()

	if newSID != "" {
		http.SetCookie(w, &http.Cookie{
			Name: sessionCookie, Value: newSID, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteLaxMode,
		})
	}
	p.redirect(w, r, redirectURI, url.Values{"code": {code}}, state)
}

// redirectAllowed reports whether uri may receive authorization responses.
func (p *Provider) redirectAllowed(uri string) bool {
	if len(p.cfg.RedirectURIs) == 0 {
		return isHTTPURI(uri)
	}
	return slices.Contains(p.cfg.RedirectURIs, uri)
}

// redirect sends the authorization response to redirectURI, keeping its
// own query and adding state and iss (RFC 9207) to params.
func (p *Provider) redirect(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values, state string) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		writeErrorPage(w, http.StatusBadRequest, "invalid_request", "bad redirect_uri")
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", p.Issuer())
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}
