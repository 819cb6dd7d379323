package oidcsession

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// clientAuthInHeader tells whether client credentials go in an HTTP Basic
// header (true) or in the form; New always settles the AuthStyle.
func (m *Middleware) clientAuthInHeader() bool {
	return m.oauth.Endpoint.AuthStyle == oauth2.AuthStyleInHeader
}

// newClientPost builds a form POST to one of the provider's endpoints
// (token, revocation) with the client authentication x/oauth2 uses for
// this config: RFC 6749 section 2.3.1 Basic with URL-encoded credentials,
// or client_id and client_secret in the form; a public client sends its
// client_id only.
func (m *Middleware) newClientPost(ctx context.Context, endpoint string, form url.Values) (*http.Request, error) {
	inHeader := m.clientAuthInHeader() && m.oauth.ClientSecret != ""
	if !inHeader {
		form.Set("client_id", m.oauth.ClientID)
		if m.oauth.ClientSecret != "" {
			form.Set("client_secret", m.oauth.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("building request to %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if inHeader {
		req.SetBasicAuth(url.QueryEscape(m.oauth.ClientID), url.QueryEscape(m.oauth.ClientSecret))
	}
	return req, nil
}
