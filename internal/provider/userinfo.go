package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
)

// MaxUserInfo bounds a userinfo answer; its claims end up in the session.
const MaxUserInfo = 64 << 10

// UserInfo GETs the userinfo endpoint (OIDC Core 5.3) with an access token
// and returns the claims as compact JSON and their "sub". Only JSON answers
// are supported, not signed (application/jwt) ones.
func (c *Client) UserInfo(ctx context.Context, accessToken, tokenType string) (claims []byte, sub string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.UserInfoURL, nil)
	if err != nil {
		return nil, "", &Error{Op: opUserInfo, Endpoint: c.UserInfoURL, Err: err}
	}
	req.Header.Set("Authorization", tokenType+" "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, body, err := c.do(opUserInfo, c.UserInfoURL, req)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", answerError(opUserInfo, c.UserInfoURL, resp, body)
	}
	unusable := func(why string) error {
		return &Error{Op: opUserInfo, Endpoint: c.UserInfoURL, Status: resp.StatusCode, unusable: true, Err: errors.New(why)}
	}
	if len(body) > MaxUserInfo {
		return nil, "", unusable(fmt.Sprintf("answer over %d bytes", MaxUserInfo))
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" {
		return nil, "", unusable(fmt.Sprintf("answer has content type %q, want application/json", ct))
	}
	var s struct {
		Sub *string `json:"sub"`
	}
	body = bytes.TrimSpace(body)
	var buf bytes.Buffer
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &s) != nil || json.Compact(&buf, body) != nil {
		return nil, "", unusable("answer is not a JSON object")
	}
	if s.Sub == nil {
		return nil, "", unusable("answer has no sub")
	}
	return buf.Bytes(), *s.Sub, nil
}
