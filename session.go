package oidcsession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/internal/state"
)

// Session is a signed-in user's session as the middleware read it from the
// request. It is immutable and safe to share between goroutines. Token
// strings are rebuilt on first use, so a handler that does not call
// AccessToken pays nothing for it.
type Session struct {
	d   *state.Session
	gen uint64 // server-side sessions: the record generation it was read from; 0 in cookies
	// replaced lists, with a Store, the record's recent generations and
	// when each was replaced (the grace window of their cookies).
	replaced []state.Replaced
}

// ID names the session: random at sign-in, kept across refreshes. With a
// Store it is the key of the session's record (see Middleware.Sessions).
func (s *Session) ID() string { return s.d.ID }

// Subject is the "sub" claim of the session's ID token.
func (s *Session) Subject() string { return s.d.Subject }

// SID is the ID token's "sid" claim (the provider's session), if it had
// one; back-channel logout matches sessions by it.
func (s *Session) SID() string { return s.d.SID }

// Expiry is when the access token expires; zero if the provider did not say.
func (s *Session) Expiry() time.Time { return s.d.Expiry }

// CreatedAt is when the user signed in.
func (s *Session) CreatedAt() time.Time { return s.d.Created }

// LastSeen is the last request the session recorded (at most every eighth
// of the idle timeout).
func (s *Session) LastSeen() time.Time { return s.d.LastSeen }

// AccessToken returns the access token, for calling APIs on the user's
// behalf.
func (s *Session) AccessToken() string { return s.d.AccessToken.String() }

// TokenType is the access token's type, usually "Bearer".
func (s *Session) TokenType() string {
	if s.d.TokenType == "" {
		return "Bearer"
	}
	return s.d.TokenType
}

// Scope is the scope the provider granted with the current access token, if
// it said.
func (s *Session) Scope() string { return s.d.Scope }

// IDToken returns the raw ID token, for example as an id_token_hint.
func (s *Session) IDToken() string { return s.d.IDToken.String() }

// HasRefreshToken reports whether the session can be refreshed.
func (s *Session) HasRefreshToken() bool { return s.d.RefreshToken != "" }

// Token returns the access token as an *oauth2.Token for API clients. It
// carries no refresh token on purpose: a client that refreshed on its own
// would spend the refresh token behind the middleware's back.
func (s *Session) Token() *oauth2.Token {
	return &oauth2.Token{AccessToken: s.AccessToken(), TokenType: s.TokenType(), Expiry: s.d.Expiry}
}

// Claims decodes the ID token's claims into v, which is typically a struct
// with json tags or a map[string]any.
func (s *Session) Claims(v any) error {
	payload := s.d.IDToken.Payload()
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
	if len(s.d.UserInfo) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(s.d.UserInfo, v); err != nil {
		return true, fmt.Errorf("oidcsession: decoding userinfo claims: %w", err)
	}
	return true, nil
}

// String describes the session without any token.
func (s *Session) String() string {
	return fmt.Sprintf("Session{subject: %q, expiry: %s, refresh_token: %t, tokens: [REDACTED]}",
		s.d.Subject, s.d.Expiry.UTC().Format(time.RFC3339), s.HasRefreshToken())
}

// GoString keeps %#v from printing tokens.
func (s *Session) GoString() string { return s.String() }

// LogValue keeps tokens out of structured logs.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("subject", s.d.Subject),
		slog.Time("expiry", s.d.Expiry),
		slog.Bool("refresh_token", s.HasRefreshToken()),
	)
}

// with returns a Session holding d, from the same record as s.
func (s *Session) with(d *state.Session) *Session {
	return &Session{d: d, gen: s.gen, replaced: s.replaced}
}

type ctxKey struct{}

// ctxCell holds the request's session. Token, RefreshSession and
// RefetchUserInfo replace what it holds, so a handler that calls them
// and then FromContext (or a second Token) sees the session they wrote
// rather than the one Require read.
// mu makes API calls of one request take turns at the session (see
// Middleware.token). The cell is itself the context that carries it, so
// Require's valid path allocates one object for both.
type ctxCell struct {
	context.Context
	mu sync.Mutex
	s  atomic.Pointer[Session]
}

// Value answers ctxKey with the cell, and anything else as its parent.
func (c *ctxCell) Value(key any) any {
	if key == (ctxKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// NewContext returns a context carrying s, as Require does; useful in tests
// of handlers.
func NewContext(ctx context.Context, s *Session) context.Context {
	c := &ctxCell{Context: ctx}
	c.s.Store(s)
	return c
}

// FromContext returns the session Require put in the request's context,
// or the one a later Token, RefreshSession or RefetchUserInfo of the same
// request wrote. It reports false outside Require; it never panics.
func FromContext(ctx context.Context) (*Session, bool) {
	c := cellOf(ctx)
	if c == nil {
		return nil, false
	}
	s := c.s.Load()
	return s, s != nil && s.d != nil
}

// cellOf returns ctx's session cell, if it has one.
func cellOf(ctx context.Context) *ctxCell {
	c, _ := ctx.Value(ctxKey{}).(*ctxCell)
	return c
}

// lockSession makes the calls that update ctx's session take turns; it
// returns the unlock.
func lockSession(ctx context.Context) (unlock func()) {
	c := cellOf(ctx)
	if c == nil {
		return func() {}
	}
	c.mu.Lock()
	return c.mu.Unlock
}

// withSessionCell returns r with a session cell in its context: its own,
// or an empty one that the first Token call fills, so that the calls of a
// Client made outside Require take turns too.
func withSessionCell(r *http.Request) *http.Request {
	if cellOf(r.Context()) != nil {
		return r
	}
	return r.WithContext(&ctxCell{Context: r.Context()})
}

// updateContext makes s the request's session, if ctx carries one; nil
// (the session ended) leaves it without.
func updateContext(ctx context.Context, s *Session) {
	if c := cellOf(ctx); c != nil {
		c.s.Store(s)
	}
}
