package oidcsession

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// maxTokenResponse bounds how much of a token endpoint's answer is read.
const maxTokenResponse = 1 << 20

// tokenRequest is one request to the token endpoint (RFC 6749 sections
// 4.1.3 and 6) with the client's authentication. Every token request of
// the package goes through here, so a request is sent exactly once: there
// is no retry with another authentication method. A refused request comes
// back as *oauth2.RetrieveError, as from x/oauth2; a request that got no
// answer as a *callError.
func (m *Middleware) tokenRequest(ctx context.Context, form url.Values) (*oauth2.Token, error) {
	endpoint := m.oauth.Endpoint.TokenURL
	req, err := m.newClientPost(ctx, endpoint, form)
	if err != nil {
		return nil, err
	}
	resp, err := m.cfg.httpClient.Do(req)
	if err != nil {
		return nil, &callError{endpoint: endpoint, err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return nil, &callError{endpoint: endpoint, err: err}
	}
	return parseTokenResponse(resp, body)
}

// parseTokenResponse reads a token endpoint's answer: a JSON object with
// an access_token (RFC 6749 section 5.1), or an error (section 5.2). A
// success status without an access_token is an error too (some providers
// answer errors with 200). Every field stays reachable through
// Token.Extra.
func parseTokenResponse(resp *http.Response, body []byte) (*oauth2.Token, error) {
	var raw map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	jsonErr := d.Decode(&raw)
	str := func(k string) string { s, _ := raw[k].(string); return s }
	if resp.StatusCode < 200 || resp.StatusCode > 299 || str("access_token") == "" {
		re := &oauth2.RetrieveError{Response: resp, Body: body}
		if jsonErr == nil {
			re.ErrorCode, re.ErrorDescription, re.ErrorURI = str("error"), str("error_description"), str("error_uri")
		}
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 && re.ErrorCode == "" {
			return nil, errNoAccessToken
		}
		return nil, re
	}
	if jsonErr != nil || raw == nil {
		return nil, errNoAccessToken
	}
	tok := &oauth2.Token{AccessToken: str("access_token"), TokenType: str("token_type"), RefreshToken: str("refresh_token")}
	return tok.WithExtra(raw), nil
}

// errNoAccessToken is a success answer that is not a usable token response.
var errNoAccessToken = errors.New("oidcsession: the token endpoint's answer has no access_token")

// codeExchange redeems an authorization code with its PKCE verifier (RFC
// 6749 section 4.1.3, RFC 7636 section 4.5).
func (m *Middleware) codeExchange(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	return m.tokenRequest(ctx, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {m.oauth.RedirectURL},
		"code_verifier": {verifier},
	})
}
