package oidcsessiontest

import (
	"net/http"
	"slices"
	"strings"
)

// handleToken is the token endpoint: authorization_code and refresh_token
// grants, with injected faults applied to refresh_token grants first.
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	grant := r.PostForm.Get("grant_type")
	p.mu.Lock()
	p.grants[grant]++
	p.mu.Unlock()

	if grant == "refresh_token" && p.applyRefreshFault(w, r) {
		return
	}
	if !p.authenticateClient(w, r) {
		return
	}
	var resp *tokenResponse
	switch grant {
	case "authorization_code":
		resp = p.codeGrant(w, r)
	case "refresh_token":
		if p.cfg.OmitRefreshToken {
			writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", "refresh_token grant not enabled")
			return
		}
		resp = p.refreshGrant(w, r)
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "grant_type missing")
		return
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type "+grant)
		return
	}
	if resp == nil {
		return // error already written
	}
	p.mu.Lock()
	p.successes[grant]++
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// codeGrant redeems an authorization code. It writes the error response
// itself and returns nil on failure.
func (p *Provider) codeGrant(w http.ResponseWriter, r *http.Request) *tokenResponse {
	f := r.PostForm
	code, verifier := f.Get("code"), f.Get("code_verifier")
	if code == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "code missing")
		return nil
	}
	aud, refused := p.audience(f["resource"])
	if refused != "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_target", refused)
		return nil
	}
	now := p.cfg.Now()
	p.mu.Lock()
	c := p.codes[code]
	var desc string
	switch {
	case c == nil:
		desc = "unknown authorization code"
	case c.used:
		// RFC 6749 4.1.2: a replayed code revokes what it issued.
		if c.fam != nil {
			c.fam.revoked = true
		}
		desc = "authorization code already used"
	case !now.Before(c.expires):
		desc = "authorization code expired"
	case c.clientID != p.cfg.ClientID:
		desc = "authorization code was issued to another client"
	case f.Get("redirect_uri") != c.redirectURI:
		desc = "redirect_uri does not match the authorization request"
	case verifier == "" || len(verifier) < 43 || len(verifier) > 128:
		desc = "code_verifier missing or malformed"
	case s256(verifier) != c.challenge:
		desc = "PKCE verification failed"
	}
	if c != nil {
		c.used = true // any redemption attempt spends the code
	}
	if desc != "" {
		p.mu.Unlock()
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", desc)
		return nil
	}
	fam := &family{
		clientID: c.clientID, subject: p.cfg.User.Subject, sid: c.sid,
		scopes: c.scopes, authTime: c.authTime,
	}
	c.fam = fam
	p.mu.Unlock()

	resp, err := p.mint(mintRequest{
		fam: fam, scopes: fam.scopes, aud: aud, nonce: c.nonce,
		withIDToken: true, withRefresh: p.issuesRefreshToken(fam.scopes),
	})
	if err != nil {
		writeOAuthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return nil
	}
	return resp
}

// refreshGrant runs the refresh_token grant: rotation, reuse detection,
// scope narrowing and resource indicators. The token is checked first; the
// requested scope and resource are checked before it is spent, unless
// InvalidScopeSpendsRefreshToken or InvalidTargetSpendsRefreshToken move
// that check after. It writes the error response itself and returns nil
// on failure.
func (p *Provider) refreshGrant(w http.ResponseWriter, r *http.Request) *tokenResponse {
	f := r.PostForm
	rt := f.Get("refresh_token")
	if rt == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "refresh_token missing")
		return nil
	}
	requested := strings.Fields(f.Get("scope"))
	now := p.cfg.Now()
	rotate := !p.cfg.DisableRefreshRotation

	p.mu.Lock()
	rec := p.refresh[rt]
	code, desc := "invalid_grant", ""
	switch {
	case rec == nil:
		desc = "unknown refresh token"
	case rec.fam.clientID != p.cfg.ClientID:
		desc = "refresh token was issued to another client"
	case rec.spent:
		p.reuses++
		if !p.cfg.DisableReuseDetection {
			rec.fam.revoked = true
		}
		desc = "refresh token reuse detected"
	case rec.fam.revoked:
		desc = "refresh token revoked"
	case !now.Before(rec.expires):
		desc = "refresh token expired"
	}
	var scopes []string
	var aud any
	if desc == "" {
		allowed := rec.fam.scopes
		if res := f["resource"]; len(res) == 1 && p.cfg.ResourceScopes[res[0]] != nil {
			allowed = p.cfg.ResourceScopes[res[0]]
		}
		scopes = allowed
		if len(requested) > 0 {
			scopes = requested
			for _, s := range requested {
				if !slices.Contains(allowed, s) {
					code, desc = "invalid_scope", "scope "+s+" was not granted"
					rec.spent = rec.spent || (rotate && p.cfg.InvalidScopeSpendsRefreshToken)
					break
				}
			}
		}
	}
	if desc == "" {
		if aud, desc = p.audience(f["resource"]); desc != "" {
			code = "invalid_target"
			rec.spent = rec.spent || (rotate && p.cfg.InvalidTargetSpendsRefreshToken)
		}
	}
	if desc != "" {
		p.mu.Unlock()
		writeOAuthError(w, http.StatusBadRequest, code, desc)
		return nil
	}
	if rotate {
		rec.spent = true
	}
	override := p.overrideClaims
	p.overrideClaims = nil
	p.mu.Unlock()

	resp, err := p.mint(mintRequest{
		fam: rec.fam, scopes: scopes, aud: aud,
		withIDToken: !p.cfg.OmitIDTokenOnRefresh, idOverride: override,
		withRefresh: rotate,
	})
	if err != nil {
		writeOAuthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return nil
	}
	return resp
}

// issuesRefreshToken reports whether a code grant for scopes comes with a
// refresh token.
func (p *Provider) issuesRefreshToken(scopes []string) bool {
	if p.cfg.OmitRefreshToken {
		return false
	}
	return !p.cfg.OfflineAccessRequiresConsent || slices.Contains(scopes, "offline_access")
}

// audience validates RFC 8707 resource parameters and returns the access
// token's aud: the client_id without resources, the resource when there is
// one, a list otherwise. A refused resource gives the reason for an
// invalid_target answer.
func (p *Provider) audience(resources []string) (aud any, refused string) {
	for _, res := range resources {
		if !isAbsoluteURI(res) {
			return nil, "resource must be an absolute URI without fragment"
		}
		if len(p.cfg.Resources) > 0 && !slices.Contains(p.cfg.Resources, res) {
			return nil, "unknown resource " + res
		}
	}
	switch len(resources) {
	case 0:
		return p.cfg.ClientID, ""
	case 1:
		return resources[0], ""
	}
	return slices.Clone(resources), ""
}
