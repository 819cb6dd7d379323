package oidcsession

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
)

// maxUserInfo bounds how much of a userinfo answer is read; the claims end
// up in the session cookie, so a large answer would not fit anyway.
const maxUserInfo = 64 << 10

// RefetchUserInfo fetches the user's claims from the provider's userinfo
// endpoint with the session's access token, stores them in the session
// (read them with Session.UserInfo) and writes the new cookies; call it
// before writing the response body. Behind Require it uses the session
// Require put in the context (possibly just refreshed); elsewhere it loads
// the request's session. The answer's sub must be the session's (OIDC Core
// 5.3.2): otherwise the claims are not stored and the error matches
// ErrUserInfoMismatch. Other failures match ErrUserInfo, or
// ErrProviderUnavailable when trying later may help. The returned session
// is the new one; the request's context still holds the old.
func (m *Middleware) RefetchUserInfo(w http.ResponseWriter, r *http.Request) (*Session, error) {
	s, ok := FromContext(r.Context())
	if !ok {
		var err error
		if s, err = m.loadSession(r, m.cfg.now()); err != nil {
			return nil, err
		}
	}
	raw, err := m.fetchUserInfo(r.Context(), s)
	if err != nil {
		return nil, err
	}
	ns := s.clone()
	ns.userInfo = raw
	if err := m.save(w, r, ns, m.cfg.now()); err != nil {
		return nil, err
	}
	return ns, nil
}

// addUserInfo fetches userinfo into s, a session not yet shared, as best
// effort: on failure it logs and leaves s's previous claims. It serves
// WithUserInfoOnRefresh at sign-in and after refreshes, where the tokens
// are already spent and must not be lost over userinfo.
func (m *Middleware) addUserInfo(ctx context.Context, s *Session, when string) {
	raw, err := m.fetchUserInfo(ctx, s)
	if err != nil {
		m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "oidcsession: userinfo fetch failed; keeping the previous claims",
			slog.String("after", when), slog.String("subject", s.subject), slog.String("error", err.Error()))
		return
	}
	s.userInfo = raw
}

// userInfoAfterRefresh is the WithUserInfoOnRefresh hook of
// sessionFromRefresh.
func (m *Middleware) userInfoAfterRefresh(ctx context.Context, s *Session) {
	if m.cfg.login.userInfoOnRefresh {
		m.addUserInfo(ctx, s, "refresh")
	}
}

// fetchUserInfo GETs the userinfo endpoint with s's access token and
// returns the claims as compact JSON after checking their sub. Only JSON
// answers are supported, not signed (application/jwt) ones.
func (m *Middleware) fetchUserInfo(ctx context.Context, s *Session) ([]byte, error) {
	endpoint := m.meta.UserInfoEndpoint
	if endpoint == "" {
		return nil, &loginError{kind: ErrUserInfo, reason: "the provider has no userinfo endpoint"}
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.refreshTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, &loginError{kind: ErrUserInfo, reason: "building the userinfo request failed", cause: err}
	}
	s.Token().SetAuthHeader(req)
	req.Header.Set("Accept", "application/json")
	resp, err := m.cfg.httpClient.Do(req)
	if err != nil {
		return nil, &loginError{kind: ErrProviderUnavailable, reason: "the userinfo endpoint could not be reached", cause: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUserInfo+1))
	if err != nil {
		return nil, &loginError{kind: ErrProviderUnavailable, reason: "reading the userinfo answer failed", cause: err}
	}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, &loginError{kind: ErrProviderUnavailable, reason: "the userinfo endpoint answered " + strconv.Itoa(resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return nil, &loginError{kind: ErrUserInfo, reason: "the userinfo endpoint answered " + strconv.Itoa(resp.StatusCode)}
	case len(body) > maxUserInfo:
		return nil, &loginError{kind: ErrUserInfo, reason: fmt.Sprintf("the userinfo answer is over %d bytes", maxUserInfo)}
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" {
		return nil, &loginError{kind: ErrUserInfo, reason: fmt.Sprintf("the userinfo answer has content type %q, want application/json", ct)}
	}
	var claims struct {
		Sub *string `json:"sub"`
	}
	if body = bytes.TrimSpace(body); len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &claims) != nil {
		return nil, &loginError{kind: ErrUserInfo, reason: "the userinfo answer is not a JSON object"}
	}
	if claims.Sub == nil || *claims.Sub != s.subject {
		return nil, &loginError{kind: ErrUserInfoMismatch, reason: "the userinfo sub is not the session's (OIDC Core 5.3.2)"}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, body); err != nil {
		return nil, &loginError{kind: ErrUserInfo, reason: "the userinfo answer is not valid JSON", cause: err}
	}
	return buf.Bytes(), nil
}
