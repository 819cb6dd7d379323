package oidcsession

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/internal/cookie"
	"github.com/oidcsession/oidcsession/internal/provider"
	"github.com/oidcsession/oidcsession/internal/state"
)

// Middleware keeps OpenID Connect sessions alive for one client of one
// provider. Create it with New; it is immutable and safe for concurrent use.
type Middleware struct {
	cfg      config
	provider *oidc.Provider
	oauth    oauth2.Config // authorization requests
	verifier *oidc.IDTokenVerifier
	meta     providerMetadata
	client   *provider.Client // token, revocation and userinfo calls
	sealer   *cookie.Sealer   // sessions, flows, outcomes, references
	storage  storage          // where sessions live: cookies or a Store
	engine   *engine          // refresh grants, once per token across replicas
	csrf     *http.CrossOriginProtection
	attrs    cookie.Attrs // of session cookies

	maxFlowValue int // the longest sealed flow cookie value the package writes
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
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var meta providerMetadata
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("oidcsession: New: reading provider metadata: %w", err)
	}
	if err := checkClient(&oc, provider); err != nil {
		return nil, err
	}
	method, err := cfg.clientAuthFor(oc.ClientSecret, meta.TokenAuthMethods)
	if err != nil {
		return nil, fmt.Errorf("oidcsession: invalid configuration: %w", err)
	}
	csrf := http.NewCrossOriginProtection()
	for _, o := range cfg.trustedOrigins {
		if err := csrf.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("oidcsession: WithTrustedOrigins: %w", err)
		}
	}
	m := &Middleware{
		cfg:      cfg,
		provider: provider,
		oauth:    oc,
		verifier: provider.Verifier(&oidc.Config{ClientID: oc.ClientID, Now: cfg.now, SkipExpiryCheck: true}),
		meta:     meta,
		csrf:     csrf,
		attrs:    cookie.Attrs{Secure: !cfg.insecureCookies, SameSite: sameSiteName(cfg.sameSite)},
		sealer:   cookie.NewSealer(cfg.keyPairs, cfg.absoluteLifetime, cfg.maxChunks*cookie.MaxSetCookie),
	}
	m.maxFlowValue = m.sealer.SealedLen(state.MaxFlow(maxReturnTo))
	m.client = m.newClient(method)
	m.storage = m.newStorage()
	coord := cfg.coordinator
	if cfg.store != nil {
		coord = cfg.store
	}
	if coord == nil {
		coord = newMemory()
	}
	m.engine = &engine{m: m, coord: coord, inflight: map[string]*flight{}}
	return m, nil
}

// checkClient validates oc and fills what it may leave out.
func checkClient(oc *oauth2.Config, p *oidc.Provider) error {
	if oc.ClientID == "" {
		return errors.New("oidcsession: New: oauth2.Config.ClientID is empty")
	}
	if oc.Endpoint.TokenURL == "" {
		oc.Endpoint = p.Endpoint()
	}
	oc.Scopes = slices.Clone(oc.Scopes)
	if len(oc.Scopes) == 0 {
		oc.Scopes = []string{oidc.ScopeOpenID}
	}
	if !slices.Contains(oc.Scopes, oidc.ScopeOpenID) {
		return errors.New(`oidcsession: New: oauth2.Config.Scopes must contain "openid"`)
	}
	if oc.RedirectURL != "" {
		u, err := url.Parse(oc.RedirectURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("oidcsession: New: RedirectURL %q is not an absolute http(s) URL", oc.RedirectURL)
		}
	}
	return nil
}

// newClient builds the client for calls to the provider.
func (m *Middleware) newClient(method ClientAuthMethod) *provider.Client {
	c := &provider.Client{
		ClientID: m.oauth.ClientID, Secret: m.oauth.ClientSecret, Method: string(method),
		TokenURL: m.oauth.Endpoint.TokenURL, RevocationURL: m.meta.RevocationEndpoint, UserInfoURL: m.meta.UserInfoEndpoint,
		HTTP: m.cfg.httpClient, Now: m.cfg.now,
	}
	if k := m.cfg.privateKey; k != nil {
		c.Key, c.KeyID, c.Alg = k.Key, k.KeyID, k.Algorithm
	}
	return c
}

func sameSiteName(s http.SameSite) string {
	switch s {
	case http.SameSiteStrictMode:
		return "Strict"
	case http.SameSiteNoneMode:
		return "None"
	}
	return "Lax"
}

// providerContext attaches the configured HTTP client for go-oidc's calls
// (key sets).
func (m *Middleware) providerContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, m.cfg.httpClient)
}

// errorHandler is the configured error handler, or WriteError.
func (m *Middleware) errorHandler() func(http.ResponseWriter, *http.Request, error) {
	if m.cfg.errorHandler != nil {
		return m.cfg.errorHandler
	}
	return m.WriteError
}
