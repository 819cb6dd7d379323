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
	for _, k := range []string{"response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "prompt"} {
		if len(q[k]) > 1 {
			fail("invalid_request", "duplicate parameter "+k)
			return
		}
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		fail("invalid_scope", "scope must include openid")
		return
	}
	challenge := q.Get("code_challenge")
	if challenge == "" {
		fail("invalid_request", "PKCE is required: code_challenge missing")
		return
	}
	if m := q.Get("code_challenge_method"); m != "S256" {
		fail("invalid_request", "code_challenge_method must be S256")
		return
	}
	if len(challenge) != 43 {
		fail("invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)")
		return
	}
	prompts := strings.Fields(q.Get("prompt"))
	for _, pr := range prompts {
		switch pr {
		case "none", "login", "consent", "select_account":
		default:
			fail("invalid_request", "unsupported prompt value "+pr)
			return
		}
	}
	promptNone := slices.Contains(prompts, "none")
	if promptNone && len(prompts) > 1 {
		fail("invalid_request", "prompt=none cannot be combined with other values")
		return
	}
	forceLogin := slices.Contains(prompts, "login")
	if p.cfg.OfflineAccessRequiresConsent && !slices.Contains(prompts, "consent") {
		// OIDC Core 11: offline access needs the user's consent in this request.
		scopes = slices.DeleteFunc(scopes, func(s string) bool { return s == "offline_access" })
	}
	if p.loginPageShown(w, r, q, promptNone, forceLogin, fail) {
		return
	}

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
	case promptNone && !hasSession:
		p.mu.Unlock()
		fail("login_required", "no provider session")
		return
	case forceLogin || !hasSession:
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
		challenge:   challenge,
		nonce:       q.Get("nonce"),
		scopes:      scopes,
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
