package oidcsession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/oauth2"
)

// Session is a signed-in user's session as the middleware read it from the
// request. It is immutable and safe to share between goroutines. Token
// strings are rebuilt on first use, so a handler that does not call
// AccessToken pays nothing for it.
type Session struct {
	subject      string
	created      time.Time // sign-in; the absolute lifetime runs from here
	lastSeen     time.Time // last recorded request; the idle timeout runs from here
	tokenAt      time.Time // when the current access token was obtained
	expiry       time.Time // access-token expiry; zero when the provider gave none
	accessToken  *token
	idToken      *token
	refreshToken string
	tokenType    string
	scope        string
	userInfo     []byte // JSON claims from the userinfo endpoint, if fetched

	// Set by the store: the cookie was sealed with a retired key, so the
	// next response re-seals it with the newest.
	sealedWithOldKey bool
}

// Subject is the "sub" claim of the session's ID token.
func (s *Session) Subject() string { return s.subject }

// Expiry is when the access token expires; zero if the provider did not say.
func (s *Session) Expiry() time.Time { return s.expiry }

// CreatedAt is when the user signed in.
func (s *Session) CreatedAt() time.Time { return s.created }

// AccessToken returns the access token, for calling APIs on the user's
// behalf.
func (s *Session) AccessToken() string { return s.accessToken.String() }

// TokenType is the access token's type, usually "Bearer".
func (s *Session) TokenType() string {
	if s.tokenType == "" {
		return "Bearer"
	}
	return s.tokenType
}

// Scope is the scope the provider granted with the current access token, if
// it said.
func (s *Session) Scope() string { return s.scope }

// IDToken returns the raw ID token, for example as an id_token_hint.
func (s *Session) IDToken() string { return s.idToken.String() }

// HasRefreshToken reports whether the session can be refreshed.
func (s *Session) HasRefreshToken() bool { return s.refreshToken != "" }

// Token returns the access token as an *oauth2.Token for API clients. It
// carries no refresh token on purpose: a client that refreshed on its own
// would spend the refresh token behind the middleware's back.
func (s *Session) Token() *oauth2.Token {
	return &oauth2.Token{AccessToken: s.AccessToken(), TokenType: s.TokenType(), Expiry: s.expiry}
}

// Claims decodes the ID token's claims into v, which is typically a struct
// with json tags or a map[string]any.
func (s *Session) Claims(v any) error {
	payload := s.idToken.payload()
	if payload == nil {
		return errors.New("oidcsession: session has no ID token claims")
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("oidcsession: decoding ID token claims: %w", err)
	}
	return nil
}

// UserInfo decodes the claims last fetched from the userinfo endpoint into
// v. It reports false if they were never fetched.
func (s *Session) UserInfo(v any) (bool, error) {
	if len(s.userInfo) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(s.userInfo, v); err != nil {
		return true, fmt.Errorf("oidcsession: decoding userinfo claims: %w", err)
	}
	return true, nil
}

// String describes the session without any token.
func (s *Session) String() string {
	return fmt.Sprintf("Session{subject: %q, expiry: %s, refresh_token: %t, tokens: [REDACTED]}",
		s.subject, s.expiry.UTC().Format(time.RFC3339), s.refreshToken != "")
}

// GoString keeps %#v from printing tokens.
func (s *Session) GoString() string { return s.String() }

// LogValue keeps tokens out of structured logs.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("subject", s.subject),
		slog.Time("expiry", s.expiry),
		slog.Bool("refresh_token", s.refreshToken != ""),
	)
}

// clone returns a copy the caller may change.
func (s *Session) clone() *Session {
	c := *s
	c.sealedWithOldKey = false
	return &c
}

type ctxKey struct{}

// NewContext returns a context carrying s, as Require does; useful in tests
// of handlers.
func NewContext(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// FromContext returns the session Require put in the request's context. It
// reports false outside Require; it never panics.
func FromContext(ctx context.Context) (*Session, bool) {
	s, ok := ctx.Value(ctxKey{}).(*Session)
	return s, ok && s != nil
}
