package oidcsession

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Middleware keeps OpenID Connect sessions alive for one client of one
// provider. Create it with New; it is immutable and safe for concurrent use.
type Middleware struct {
	cfg      config
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	meta     providerMetadata
	store    sessionStore
	sealer   *sealer // seals session and flow cookies, whatever the store
	engine   *refresher
	csrf     *http.CrossOriginProtection
	issuer   string
}

// providerMetadata is what we read from discovery beyond go-oidc's fields.
type providerMetadata struct {
	Issuer              string   `json:"issuer"`
	RevocationEndpoint  string   `json:"revocation_endpoint"`
	EndSessionEndpoint  string   `json:"end_session_endpoint"`
	UserInfoEndpoint    string   `json:"userinfo_endpoint"`
	TokenAuthMethods    []string `json:"token_endpoint_auth_methods_supported"`
	IssParameterSupport bool     `json:"authorization_response_iss_parameter_supported"`
}

// New returns a Middleware for the client oc of provider. oc.Endpoint may be
// left empty (the provider's is used); oc.Scopes defaults to openid and must
// contain it; add oidc.ScopeOfflineAccess to get refresh tokens. WithKeys is
// required. Every input is checked here, so a Middleware that exists is
// usable.
func New(provider *oidc.Provider, oc oauth2.Config, opts ...Option) (*Middleware, error) {
	if provider == nil {
		return nil, errors.New("oidcsession: New: provider is nil")
	}
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	if cfg.insecureCookies && !cfg.cookieNameSet {
		cfg.cookieName = "oidcsession"
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if oc.ClientID == "" {
		return nil, errors.New("oidcsession: New: oauth2.Config.ClientID is empty")
	}
	var meta providerMetadata
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("oidcsession: New: reading provider metadata: %w", err)
	}
	if oc.Endpoint.TokenURL == "" {
		style := oc.Endpoint.AuthStyle
		oc.Endpoint = provider.Endpoint()
		if style != oauth2.AuthStyleAutoDetect {
			oc.Endpoint.AuthStyle = style
		}
	}
	if oc.Endpoint.AuthStyle == oauth2.AuthStyleAutoDetect {
		oc.Endpoint.AuthStyle = authStyleFor(meta.TokenAuthMethods, oc.ClientSecret)
	}
	oc.Scopes = slices.Clone(oc.Scopes)
	if len(oc.Scopes) == 0 {
		oc.Scopes = []string{oidc.ScopeOpenID}
	}
	if !slices.Contains(oc.Scopes, oidc.ScopeOpenID) {
		return nil, errors.New(`oidcsession: New: oauth2.Config.Scopes must contain "openid"`)
	}
	if oc.RedirectURL != "" {
		u, err := url.Parse(oc.RedirectURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("oidcsession: New: RedirectURL %q is not an absolute http(s) URL", oc.RedirectURL)
		}
	}
	csrf := http.NewCrossOriginProtection()
	for _, o := range cfg.trustedOrigins {
		if err := csrf.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("oidcsession: WithTrustedOrigins: %w", err)
		}
	}
	sl := newSealer(&cfg)
	m := &Middleware{
		cfg:      cfg,
		provider: provider,
		oauth:    oc,
		verifier: provider.Verifier(&oidc.Config{ClientID: oc.ClientID, Now: cfg.now}),
		meta:     meta,
		csrf:     csrf,
		issuer:   meta.Issuer,
		sealer:   sl,
		store: &cookieStore{
			sealer:   sl,
			name:     cfg.cookieName,
			absolute: cfg.absoluteLifetime,
			now:      cfg.now,
			opened:   newOpenedCache(cfg.openedCacheBytes),
		},
	}
	m.engine = newRefresher(m)
	return m, nil
}

// RequireOption configures one Require.
type RequireOption func(*requireConfig)

type requireConfig struct {
	tryRefresh   bool
	optional     bool
	errorHandler func(http.ResponseWriter, *http.Request, error)
}

// TryRefresh makes Require answer an expired access token with 401
// {"error":"try_refresh"} instead of refreshing inline: the browser calls
// the refresh handler and retries (the SuperTokens contract). A token inside
// the refresh window but not yet expired still passes.
func TryRefresh() RequireOption {
	return func(c *requireConfig) { c.tryRefresh = true }
}

// Optional lets requests without a usable session through, with no
// session in the context, instead of answering them as errors: for public
// pages that show more to a signed-in user. A session that is present is
// still refreshed, and one that has ended or cannot be trusted is still
// deleted.
func Optional() RequireOption {
	return func(c *requireConfig) { c.optional = true }
}

// OnError answers this Require's errors with h instead of the Middleware's
// error handler.
func OnError(h func(http.ResponseWriter, *http.Request, error)) RequireOption {
	return func(c *requireConfig) {
		if h != nil {
			c.errorHandler = h
		}
	}
}

// Require returns middleware that lets a request through only with a valid
// session, which it puts in the request's context (see FromContext). An
// access token that has expired or is inside the refresh window is
// refreshed inline before next runs, or, with TryRefresh, reported as 401
// try_refresh once expired. Set-Cookie is written only when the session
// changed: refreshed, its idle clock advanced (at most every eighth of the
// idle timeout), or it was sealed with a retired key.
func (m *Middleware) Require(opts ...RequireOption) func(http.Handler) http.Handler {
	rc := requireConfig{errorHandler: m.errorHandler()}
	for _, opt := range opts {
		if opt != nil {
			opt(&rc)
		}
	}
	if rc.optional {
		rc.errorHandler = nil // set per handler below
	}
	return func(next http.Handler) http.Handler {
		rc := rc
		if rc.optional {
			// Without a session the request goes on, anonymous.
			rc.errorHandler = func(w http.ResponseWriter, r *http.Request, _ error) { next.ServeHTTP(w, r) }
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Vary", "Cookie")
			now := m.cfg.now()
			s, err := m.loadSession(r, now)
			if err != nil {
				m.fail(w, r, rc.errorHandler, err)
				return
			}
			changed := m.needsTouch(s, now)
			if due, expired := m.refreshDue(s, now); due {
				switch {
				case rc.tryRefresh && expired:
					m.fail(w, r, rc.errorHandler, ErrAccessTokenExpired)
					return
				case rc.tryRefresh:
					// Inside the window, not yet expired: serve it; the
					// client refreshes when it sees try_refresh.
				case !s.HasRefreshToken() && expired:
					m.fail(w, r, rc.errorHandler, fmt.Errorf("%w: access token expired and there is no refresh token", ErrSessionExpired))
					return
				case !s.HasRefreshToken():
				default:
					ns, err := m.engine.refresh(r.Context(), s, RefreshOptions{})
					if err != nil {
						if IsTransient(err) && !expired {
							break // the old token is still good for a moment
						}
						m.fail(w, r, rc.errorHandler, err)
						return
					}
					s, changed = ns, true
				}
			}
			if changed {
				if err := m.save(w, r, s, now); err != nil {
					m.fail(w, r, rc.errorHandler, err)
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), s)))
		})
	}
}

// loadSession reads the request's session and enforces its lifetimes at
// now.
func (m *Middleware) loadSession(r *http.Request, now time.Time) (*Session, error) {
	s, err := m.store.load(r)
	if err != nil {
		return nil, err
	}
	if !now.Before(s.created.Add(m.cfg.absoluteLifetime)) {
		return nil, fmt.Errorf("%w: absolute lifetime of %s reached", ErrSessionExpired, m.cfg.absoluteLifetime)
	}
	if m.cfg.idleTimeout > 0 && !now.Before(s.lastSeen.Add(m.cfg.idleTimeout)) {
		return nil, fmt.Errorf("%w: idle for more than %s", ErrSessionExpired, m.cfg.idleTimeout)
	}
	return s, nil
}

// save records activity and writes the session.
func (m *Middleware) save(w http.ResponseWriter, r *http.Request, s *Session, now time.Time) error {
	if s.lastSeen.Before(now.Truncate(time.Second)) {
		s = s.clone()
		s.lastSeen = now
	}
	if err := m.store.save(w, r, s); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return nil
}

// needsTouch reports whether the session must be written even though its
// tokens did not change: to advance the idle clock, or to re-seal it with
// the newest key.
func (m *Middleware) needsTouch(s *Session, now time.Time) bool {
	if s.sealedWithOldKey {
		return true
	}
	return m.cfg.idleTimeout > 0 && now.Sub(s.lastSeen) >= m.cfg.idleTimeout/8
}

// refreshDue reports whether the access token is inside the refresh window
// (due) and whether it has expired. The window is WithRefreshSkew, capped at
// a quarter of the token's lifetime so short-lived tokens are not refreshed
// on every request.
func (m *Middleware) refreshDue(s *Session, now time.Time) (due, expired bool) {
	if s.expiry.IsZero() {
		return false, false
	}
	skew := m.cfg.refreshSkew
	if !s.tokenAt.IsZero() {
		if life := s.expiry.Sub(s.tokenAt); life > 0 && skew > life/4 {
			skew = life / 4
		}
	}
	return !now.Before(s.expiry.Add(-skew)), !now.Before(s.expiry)
}

// refreshStart is when s's access token enters the window of refreshDue
// (zero for a token without expiry), so the refresh handler can tell the
// browser when a refresh will actually happen.
func (m *Middleware) refreshStart(s *Session) time.Time {
	if s.expiry.IsZero() {
		return time.Time{}
	}
	skew := m.cfg.refreshSkew
	if !s.tokenAt.IsZero() {
		if life := s.expiry.Sub(s.tokenAt); life > 0 && skew > life/4 {
			skew = life / 4
		}
	}
	return s.expiry.Add(-skew)
}

// fail clears the session when it has ended or cannot be trusted, then
// answers with the error handler.
func (m *Middleware) fail(w http.ResponseWriter, r *http.Request, h func(http.ResponseWriter, *http.Request, error), err error) {
	if errors.Is(err, ErrInvalidSession) || errors.Is(err, ErrSessionExpired) {
		m.store.clear(w, r)
	}
	w.Header().Set("Cache-Control", "no-store")
	h(w, r, err)
}

func (m *Middleware) errorHandler() func(http.ResponseWriter, *http.Request, error) {
	if m.cfg.errorHandler != nil {
		return m.cfg.errorHandler
	}
	return m.WriteError
}

// providerContext attaches the configured HTTP client for go-oidc and
// x/oauth2 calls.
func (m *Middleware) providerContext(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, m.cfg.httpClient)
	return context.WithValue(ctx, oauth2.HTTPClient, m.cfg.httpClient)
}

// authStyleFor picks how to authenticate the client from the provider's
// advertised methods. It is always decided up front: x/oauth2's
// auto-detection retries a failed request with the other style, which
// would present a refresh token twice (and trip reuse detection).
func authStyleFor(methods []string, secret string) oauth2.AuthStyle {
	switch {
	case secret == "":
		return oauth2.AuthStyleInParams
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}
