package oidcsessiontest

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// tokenResponse is the token endpoint's success body (RFC 6749 5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope"`

	expiry time.Time // access token expiry on the Config clock
}

// mintRequest says what one token response should contain.
type mintRequest struct {
	fam         *family
	scopes      []string
	aud         any // access token audience: client_id or the resources
	nonce       string
	withIDToken bool
	idOverride  map[string]any
	withRefresh bool
}

// mint signs and registers an access token, optionally an ID token and a new
// refresh token in m.fam. Signing happens outside the lock so concurrent
// grants do not serialize on RSA.
func (p *Provider) mint(m mintRequest) (*tokenResponse, error) {
	now := p.cfg.Now()
	key := p.currentKey()
	c := p.cfg
	scope := strings.Join(m.scopes, " ")

	at := maps.Clone(c.AccessTokenClaims)
	if at == nil {
		at = map[string]any{}
	}
	std := map[string]any{
		"iss": p.Issuer(), "sub": m.fam.subject, "aud": m.aud, "client_id": c.ClientID,
		"scope": scope, "iat": now.Unix(), "exp": now.Add(c.AccessTokenLifetime).Unix(),
		"jti": randomString(16),
	}
	for k, v := range std {
		if _, ok := at[k]; !ok {
			at[k] = v
		}
	}
	atJWT, err := signJWT(key, "at+jwt", at)
	if err != nil {
		return nil, fmt.Errorf("oidcsessiontest: sign access token: %w", err)
	}
	resp := &tokenResponse{
		AccessToken: atJWT,
		TokenType:   "Bearer",
		ExpiresIn:   int64(c.AccessTokenLifetime / time.Second),
		Scope:       scope,
		expiry:      now.Add(c.AccessTokenLifetime),
	}

	if m.withIDToken {
		id := maps.Clone(c.User.Claims)
		if id == nil {
			id = map[string]any{}
		}
		maps.Copy(id, map[string]any{
			"iss": p.Issuer(), "sub": m.fam.subject, "aud": c.ClientID, "azp": c.ClientID,
			"iat": now.Unix(), "exp": now.Add(c.IDTokenLifetime).Unix(),
			"auth_time": m.fam.authTime.Unix(), "at_hash": atHash(atJWT),
		})
		if m.fam.sid != "" {
			id["sid"] = m.fam.sid
		}
		if m.nonce != "" {
			id["nonce"] = m.nonce
		}
		maps.Copy(id, c.IDTokenClaims)
		maps.Copy(id, m.idOverride)
		if resp.IDToken, err = signJWT(key, "JWT", id); err != nil {
			return nil, fmt.Errorf("oidcsessiontest: sign ID token: %w", err)
		}
	}
	if m.withRefresh {
		resp.RefreshToken = randomString(48)
	}

	p.mu.Lock()
	p.access[atJWT] = &accessToken{fam: m.fam, expires: resp.expiry, issued: now, aud: m.aud, scope: scope}
	if m.withRefresh {
		p.refresh[resp.RefreshToken] = &refreshToken{fam: m.fam, expires: now.Add(c.RefreshTokenLifetime)}
	}
	p.mints++
	if p.mints%sweepEvery == 0 {
		p.sweepLocked(now)
	}
	p.mu.Unlock()
	return resp, nil
}

// IssueOptions tunes IssueTokens.
type IssueOptions struct {
	// Nonce is put in the ID token when set.
	Nonce string
	// Scopes are granted; default openid profile email offline_access.
	Scopes []string
}

// IssueTokens returns a real token set for the configured user, exactly as
// the token endpoint would after a code exchange (the refresh token starts a
// new family), so tests can start a session without the browser flow. The
// oauth2.Token carries "id_token", "scope" and "expires_in" in its Extra.
// It does not count as a grant.
func (p *Provider) IssueTokens(opts IssueOptions) (*oauth2.Token, error) {
	scopes := opts.Scopes
	if len(scopes) == 0 {
		scopes = []string{"openid", "profile", "email", "offline_access"}
	}
	fam := &family{
		clientID: p.cfg.ClientID, subject: p.cfg.User.Subject, sid: randomString(16),
		scopes: append([]string(nil), scopes...), authTime: p.cfg.Now(),
	}
	resp, err := p.mint(mintRequest{
		fam: fam, scopes: fam.scopes, aud: p.cfg.ClientID, nonce: opts.Nonce,
		withIDToken: true, withRefresh: !p.cfg.OmitRefreshToken,
	})
	if err != nil {
		return nil, err
	}
	tok := &oauth2.Token{
		AccessToken:  resp.AccessToken,
		TokenType:    resp.TokenType,
		RefreshToken: resp.RefreshToken,
		Expiry:       resp.expiry,
		ExpiresIn:    resp.ExpiresIn,
	}
	return tok.WithExtra(map[string]any{
		"token_type": resp.TokenType,
		"id_token":   resp.IDToken,
		"scope":      resp.Scope,
		"expires_in": float64(resp.ExpiresIn),
	}), nil
}

// sweepEvery is how many token responses pass between sweeps of expired
// server-side records, so long benchmarks do not grow memory without bound.
const sweepEvery = 4096

// sweepLocked forgets records that can no longer matter: expired access
// tokens, refresh tokens and codes. Spent refresh tokens are kept until they
// expire so reuse is still detected. p.mu must be held.
func (p *Provider) sweepLocked(now time.Time) {
	for k, v := range p.access {
		if !now.Before(v.expires) {
			delete(p.access, k)
		}
	}
	for k, v := range p.refresh {
		if !now.Before(v.expires) {
			delete(p.refresh, k)
		}
	}
	for k, v := range p.codes {
		if !now.Before(v.expires) {
			delete(p.codes, k)
		}
	}
}
