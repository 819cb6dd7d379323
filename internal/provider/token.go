package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// Token makes a token request (RFC 6749 sections 4.1.3 and 6): form holds
// grant_type and its parameters. A refused request is an *Error that
// unwraps to *oauth2.RetrieveError, as from x/oauth2.
func (c *Client) Token(ctx context.Context, form url.Values) (*oauth2.Token, error) {
	resp, body, err := c.post(ctx, opToken, c.TokenURL, form)
	if err != nil {
		return nil, err
	}
	return ParseTokenResponse(c.TokenURL, resp, body)
}

// ParseTokenResponse reads a token endpoint's answer: a JSON object with
// an access_token (RFC 6749 section 5.1), or an error (section 5.2). A
// success status without an access_token is an error too: with an error
// code (some providers answer errors with 200) it is a refusal, without
// one an unusable answer. Every field stays reachable through Token.Extra.
func ParseTokenResponse(endpoint string, resp *http.Response, body []byte) (*oauth2.Token, error) {
	var raw map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	jsonErr := d.Decode(&raw)
	str := func(k string) string { s, _ := raw[k].(string); return s }
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	switch {
	case ok && jsonErr == nil && str("access_token") != "":
		tok := &oauth2.Token{AccessToken: str("access_token"), TokenType: str("token_type"), RefreshToken: str("refresh_token")}
		return tok.WithExtra(raw), nil
	case ok && str("error") == "":
		return nil, &Error{Op: opToken, Endpoint: endpoint, Status: resp.StatusCode, unusable: true, Err: errors.New("no access_token in the answer")}
	}
	return nil, answerError(opToken, endpoint, resp, body)
}

// answerError is the Error for an error answer: its OAuth error fields
// when the body has them, and, for the token endpoint, the
// *oauth2.RetrieveError that callers of x/oauth2 know.
func answerError(op, endpoint string, resp *http.Response, body []byte) *Error {
	var e struct {
		Code        string `json:"error"`
		Description string `json:"error_description"`
		URI         string `json:"error_uri"`
	}
	_ = json.Unmarshal(body, &e)
	re := &oauth2.RetrieveError{Response: resp, Body: body, ErrorCode: e.Code, ErrorDescription: e.Description, ErrorURI: e.URI}
	return &Error{Op: op, Endpoint: endpoint, Status: resp.StatusCode, Code: Code(e.Code), Description: e.Description, Err: re}
}

// Code returns code if it is a plain OAuth error code (letters, digits and
// _ - . only; RFC 6749 allows more, but real codes never need it), else "",
// so that error strings, logs and pages never carry attacker-chosen text.
func Code(code string) string {
	if len(code) > 64 {
		return ""
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' && c != '.' {
			return ""
		}
	}
	return code
}
