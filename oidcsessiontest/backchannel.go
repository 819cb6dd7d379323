package oidcsessiontest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// backChannelEvent is the member of a logout token's "events" claim that
// makes it one (OIDC Back-Channel Logout 1.0, section 2.4).
const backChannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// BackChannelLogout sends the client a logout token (OIDC Back-Channel
// Logout 1.0) for the user subject and provider session sid, either of
// which may be empty (not both), as a real provider does when a session
// ends. It returns an error unless Config.BackChannelLogoutURI answers
// 2xx; successes are counted in Stats().BackChannelLogouts.
func (p *Provider) BackChannelLogout(subject, sid string) error {
	if p.cfg.BackChannelLogoutURI == "" {
		return fmt.Errorf("oidcsessiontest: no BackChannelLogoutURI configured")
	}
	if subject == "" && sid == "" {
		return fmt.Errorf("oidcsessiontest: a logout token names a subject, a session or both")
	}
	now := p.cfg.Now()
	claims := map[string]any{
		"iss": p.Issuer(), "aud": p.cfg.ClientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": randomString(16), "events": map[string]any{backChannelEvent: map[string]any{}},
	}
	if subject != "" {
		claims["sub"] = subject
	}
	if sid != "" {
		claims["sid"] = sid
	}
	token, err := signJWT(p.currentKey(), "logout+jwt", claims)
	if err != nil {
		return err
	}
	return p.deliverLogoutToken(token)
}

// deliverLogoutToken POSTs a logout token (any, for tests of refusals) to
// the client's back-channel logout URI.
func (p *Provider) deliverLogoutToken(token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.BackChannelLogoutURI, strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := p.cfg.BackChannelLogoutClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("oidcsessiontest: back-channel logout: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("oidcsessiontest: back-channel logout answered %d: %s", resp.StatusCode, body)
	}
	p.mu.Lock()
	p.backchannel++
	p.mu.Unlock()
	return nil
}

// SessionID returns the provider session ("sid") the refresh token
// belongs to, for tests that log a session out by sid; "" for an unknown
// token.
func (p *Provider) SessionID(refreshToken string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rt := p.refresh[refreshToken]; rt != nil {
		return rt.fam.sid
	}
	return ""
}
