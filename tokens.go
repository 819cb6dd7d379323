package oidcsession

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/internal/state"
)

// TokenRequest asks for an access token for one API: an RFC 8707 resource
// indicator, a scope set (RFC 6749 section 6: a subset of what the grant
// holds, or the API's own scopes at providers that register them), or
// both. The zero TokenRequest is the session's own access token.
type TokenRequest struct {
	Resource string   // an absolute URI naming the API; "" for the provider's default audience
	Scopes   []string // empty: whatever the provider grants by default
}

func (q TokenRequest) options() RefreshOptions {
	o := RefreshOptions{Scopes: slices.Clone(q.Scopes), separate: true}
	if q.Resource != "" {
		o.Resource = []string{q.Resource}
	}
	return o
}

func (q TokenRequest) zero() bool { return q.Resource == "" && len(q.Scopes) == 0 }

// resourceKey names what opts asks for among a session's tokens.
func resourceKey(opts RefreshOptions) string {
	return strings.Join(opts.Resource, " ") + " " + scopeSet(opts.Scopes)
}

// scopeSet is scopes in one order, as kept in a session.
func scopeSet(scopes []string) string {
	return strings.Join(slices.Sorted(slices.Values(scopes)), " ")
}

func resourceKeyOf(r state.Resource) string { return r.Resource + " " + r.Scopes }

// TokenInfo describes one access token a session holds, without its value.
type TokenInfo struct {
	Resource string    // "" for the provider's default audience; space-separated when a RefreshSession asked for several
	Scopes   []string  // as asked for; none: the provider's default
	Scope    string    // as granted, if the provider said
	Expiry   time.Time // zero when the provider gave none
	Primary  bool      // the session's own token (from sign-in and refreshes)
}

// Tokens lists the access tokens the session holds: its own first, then
// one per resource and scope set obtained through Token.
func (s *Session) Tokens() []TokenInfo {
	out := []TokenInfo{{Scope: s.d.Scope, Expiry: s.d.Expiry, Primary: true}}
	for _, r := range s.d.Resources {
		out = append(out, TokenInfo{Resource: r.Resource, Scopes: strings.Fields(r.Scopes), Scope: r.Scope, Expiry: r.Expiry})
	}
	return out
}

// Token returns an access token for req that will not expire within the
// refresh window: the session's own for the zero TokenRequest (refreshed
// if due), else the one the session keeps for req's resource and scopes,
// or one obtained now with the session's refresh token (RFC 8707 resource,
// RFC 6749 section 6 scope) and kept beside the others. A grant for a
// resource spends the session's refresh token like any refresh: through
// the same single grant per token, across replicas, and a rotated refresh
// token serves every resource; the session's own token is never replaced
// by a resource's. Call it before writing the response body: it may write
// the session's cookies. Behind Require it uses (and updates) the session
// in the request's context. The token carries no refresh token.
//
// Errors: those of RefreshSession; a refused resource or scope is a
// RefreshRejected *RefreshError (after invalid_target the session keeps
// no refresh token, see README); ErrSessionTooLarge when a cookie session
// cannot keep the new token even alone (it is not handed out; use a
// Store).
func (m *Middleware) Token(w http.ResponseWriter, r *http.Request, req TokenRequest) (*oauth2.Token, error) {
	tok, _, err := m.token(w, r, req, "")
	return tok, err
}

// token is Token. refused, if not empty, is a token an API refused as
// invalid: unless the session already holds another, a new one is
// obtained. fresh reports a token obtained during this call. Calls for one
// request take turns (the request's session cell), so concurrent API
// calls of a handler share one grant and one cookie write.
func (m *Middleware) token(w http.ResponseWriter, r *http.Request, req TokenRequest, refused string) (tok *oauth2.Token, fresh bool, err error) {
	if req.Resource != "" {
		if u, err := url.Parse(req.Resource); err != nil || !u.IsAbs() || u.Fragment != "" {
			return nil, false, fmt.Errorf("oidcsession: Token: resource %q is not an absolute URI without fragment (RFC 8707)", req.Resource)
		}
	}
	defer lockSession(r.Context())()
	s, err := m.current(w, r)
	if err != nil {
		return nil, false, err
	}
	now := m.cfg.now()
	if req.zero() {
		old := s.AccessToken()
		renew := refused != "" && old == refused
		if due, _ := m.refreshDue(s.d, now); due || renew {
			if s, err = m.grantFor(w, r, s, RefreshOptions{}, renew); err != nil {
				return nil, false, err
			}
		}
		return s.Token(), s.AccessToken() != old, nil
	}
	opts := req.options()
	key := resourceKey(opts)
	if t := s.resource(key); t != nil {
		renew := refused != "" && t.Access.String() == refused
		if !renew && m.resourceFresh(t, now) {
			return resourceToken(t), false, nil
		}
	}
	if s, err = m.grantFor(w, r, s, opts, true); err != nil {
		return nil, false, err
	}
	if t := s.resource(key); t != nil {
		return resourceToken(t), true, nil
	}
	return nil, false, fmt.Errorf("%w: the token for %q does not fit in the session's cookies even alone; keep sessions in a Store", ErrSessionTooLarge, strings.TrimSpace(key))
}

// grantFor refreshes s (forced: whatever its expiry) through the engine,
// writes the result's cookies and makes it the request's session. On
// failure it settles like resolve (a kept session that changed is written,
// an ended one cleared) and returns the kept session, if any, with the
// error.
func (m *Middleware) grantFor(w http.ResponseWriter, r *http.Request, s *Session, opts RefreshOptions, force bool) (*Session, error) {
	ctx := r.Context()
	ns, err := m.engine.refresh(ctx, s, opts, force)
	if err != nil {
		res, rerr := m.refreshFailed(ctx, w, r, s, ns, err)
		updateContext(ctx, res.s)
		return res.s, rerr
	}
	if ns != s {
		if ns, err = m.save(ctx, w, r, ns, false); err != nil {
			return nil, err
		}
		updateContext(ctx, ns)
	}
	return ns, nil
}

// current is the request's session: the one in its context, else
// resolved now (and kept in the context's cell, if it has one).
func (m *Middleware) current(w http.ResponseWriter, r *http.Request) (*Session, error) {
	if s, ok := FromContext(r.Context()); ok {
		return s, nil
	}
	res, err := m.resolve(w, r, policy{})
	if err != nil {
		return nil, err
	}
	updateContext(r.Context(), res.s)
	return res.s, nil
}

// resourceFresh reports whether a kept resource token is outside its
// refresh window (the same window as the session's own token), or has no
// expiry to go by.
func (m *Middleware) resourceFresh(t *state.Resource, now time.Time) bool {
	due, _ := m.refreshDue(&state.Session{TokenAt: t.TokenAt, Expiry: t.Expiry}, now)
	return !due
}

// resource returns the token the session keeps under key.
func (s *Session) resource(key string) *state.Resource {
	for i := range s.d.Resources {
		if resourceKeyOf(s.d.Resources[i]) == key {
			return &s.d.Resources[i]
		}
	}
	return nil
}

func resourceToken(t *state.Resource) *oauth2.Token {
	tt := t.TokenType
	if tt == "" {
		tt = "Bearer"
	}
	return &oauth2.Token{AccessToken: t.Access.String(), TokenType: tt, Expiry: t.Expiry}
}
