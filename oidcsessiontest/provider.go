package oidcsessiontest

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Provider is a running in-process OpenID Connect provider with one client
// and one user. All methods are safe for concurrent use.
type Provider struct {
	cfg    Config
	srv    *httptest.Server
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	keys     []*signingKey // current key last; all are published in the JWKS
	codes    map[string]*authCode
	refresh  map[string]*refreshToken
	access   map[string]*accessToken
	sessions map[string]*opSession // browser cookie -> provider session

	forcedLogin    bool
	forcedAuthTime time.Time
	forcedSID      string

	mints          int                  // token responses minted, to schedule sweeps
	assertionJTIs  map[string]time.Time // private_key_jwt jti -> expiry, to refuse replays
	faults         []fault
	overrideClaims map[string]any

	grants      map[string]int
	successes   map[string]int
	reuses      int
	revocations int
	endSessions int
	userinfo    int
	backchannel int

	outage bool // SetRefreshOutage
}

// authCode is an issued authorization code and everything it is bound to.
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string
	nonce       string
	scopes      []string
	authTime    time.Time
	sid         string
	expires     time.Time
	used        bool
	fam         *family // set once redeemed, so a replay can revoke its tokens
}

// family is the set of tokens descended from one authorization (one code
// redemption or one IssueTokens call). Reuse detection revokes it whole.
type family struct {
	clientID string
	subject  string
	sid      string // the provider session it came from: the ID tokens' "sid"
	scopes   []string
	authTime time.Time
	revoked  bool
}

// opSession is the provider's own session with a browser. Its sid is
// what ID and logout tokens name it by; the browser's cookie is another,
// secret value.
type opSession struct {
	sid      string
	authTime time.Time
}

// refreshToken is the server-side record of an opaque refresh token.
type refreshToken struct {
	fam     *family
	spent   bool
	expires time.Time
}

// accessToken is the server-side record of an access token, so revocation
// takes effect at /userinfo even though the token is a self-contained JWT.
type accessToken struct {
	fam     *family
	expires time.Time
	issued  time.Time
	aud     any
	scope   string
	revoked bool
}

// valid reports whether the access token may still be used at now.
func (a *accessToken) valid(now time.Time) bool {
	return !a.revoked && !a.fam.revoked && now.Before(a.expires)
}

// Start fills cfg's defaults, generates a signing key and starts serving on
// cfg.Addr. Call Close when done (New does it for tests).
func Start(cfg Config) (*Provider, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	key, err := newSigningKey(cfg.Algorithm)
	if err != nil {
		return nil, err
	}
	p := &Provider{
		cfg:       cfg,
		closed:    make(chan struct{}),
		keys:      []*signingKey{key},
		codes:     map[string]*authCode{},
		refresh:   map[string]*refreshToken{},
		access:    map[string]*accessToken{},
		sessions:  map[string]*opSession{},
		grants:    map[string]int{},
		successes: map[string]int{},
	}
	p.srv = httptest.NewUnstartedServer(p.routes())
	if cfg.Addr != "127.0.0.1:0" {
		l, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			p.srv.Close()
			return nil, fmt.Errorf("oidcsessiontest: listen on %s: %w", cfg.Addr, err)
		}
		p.srv.Listener.Close()
		p.srv.Listener = l
	}
	p.srv.Start()
	return p, nil
}

// New is Start for tests: it fails tb on error and closes the provider when
// the test ends.
func New(tb testing.TB, cfg Config) *Provider {
	tb.Helper()
	p, err := Start(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// Close stops the server. Delayed refreshes in flight give up at once so
// Close does not wait for them. Close is idempotent.
func (p *Provider) Close() {
	p.once.Do(func() {
		close(p.closed)
		p.srv.Close()
	})
}

// Issuer returns the provider's base URL without a trailing slash; discovery
// is at Issuer()+"/.well-known/openid-configuration".
func (p *Provider) Issuer() string { return p.srv.URL }

// ClientID returns the configured (or default) client_id.
func (p *Provider) ClientID() string { return p.cfg.ClientID }

// ClientSecret returns the configured (or default) client secret; "" for a
// public client.
func (p *Provider) ClientSecret() string { return p.cfg.ClientSecret }

// Client returns an *http.Client that reaches the provider, for passing to
// oidc.ClientContext or oauth2.HTTPClient.
func (p *Provider) Client() *http.Client { return p.srv.Client() }

// Stats is a snapshot of what the provider has seen, for tests to count
// grants and protocol events at the provider itself.
type Stats struct {
	// Grants counts token requests by grant_type ("authorization_code",
	// "refresh_token"), successful or not, injected faults included.
	Grants map[string]int
	// SuccessfulGrants counts the token requests by grant_type that issued
	// tokens.
	SuccessfulGrants map[string]int
	// ReuseDetections counts presentations of a spent refresh token: the
	// signal of refresh-token theft or of a client bug.
	ReuseDetections int
	// Revocations counts requests to the revocation endpoint.
	Revocations int
	// EndSessions counts requests to the end-session endpoint.
	EndSessions int
	// UserInfo counts requests to the userinfo endpoint.
	UserInfo int
	// BackChannelLogouts counts logout tokens delivered to the client's
	// back-channel logout URI (with a 2xx answer).
	BackChannelLogouts int
}

// Stats returns a snapshot of the provider's counters; it is safe to call
// concurrently with requests.
func (p *Provider) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Grants: maps.Clone(p.grants), SuccessfulGrants: maps.Clone(p.successes),
		ReuseDetections: p.reuses, Revocations: p.revocations, EndSessions: p.endSessions,
		UserInfo: p.userinfo, BackChannelLogouts: p.backchannel,
	}
}

// RotateKeys makes a new signing key (same algorithm, new kid) current.
// Old public keys stay in the JWKS, so tokens signed before still verify,
// as with a real provider's key rollover.
func (p *Provider) RotateKeys() {
	k, err := newSigningKey(p.cfg.Algorithm)
	if err != nil {
		// Key generation only fails if crypto/rand does, which Go treats as
		// fatal anyway; keep the old key rather than panic.
		return
	}
	p.mu.Lock()
	p.keys = append(p.keys, k)
	p.mu.Unlock()
}

// SetLoggedIn forces the provider's notion of a browser session for every
// browser: true makes prompt=none succeed without a cookie; false also ends
// every existing provider session, as if the user signed out elsewhere.
func (p *Provider) SetLoggedIn(loggedIn bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forcedLogin = loggedIn
	if loggedIn {
		p.forcedAuthTime, p.forcedSID = p.cfg.Now(), randomString(16)
	} else {
		clear(p.sessions)
	}
}

// SignJWT signs claims with the current key (header typ "JWT"), exactly as
// the provider signs ID tokens, for negative tests such as a wrong aud or a
// different sub.
func (p *Provider) SignJWT(claims map[string]any) (string, error) {
	return signJWT(p.currentKey(), "JWT", maps.Clone(claims))
}

// currentKey returns the key new tokens are signed with.
func (p *Provider) currentKey() *signingKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[len(p.keys)-1]
}

// routes builds the provider's handler; disabled endpoints are simply not
// registered so they answer 404.
func (p *Provider) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", p.handleDiscovery)
	mux.HandleFunc("/jwks", p.handleJWKS)
	mux.HandleFunc("/authorize", p.handleAuthorize)
	mux.HandleFunc("/token", p.handleToken)
	mux.HandleFunc("/userinfo", p.handleUserinfo)
	mux.HandleFunc("/introspect", p.handleIntrospect)
	if !p.cfg.DisableRevocation {
		mux.HandleFunc("/revoke", p.handleRevoke)
	}
	if !p.cfg.DisableEndSession {
		mux.HandleFunc("/end_session", p.handleEndSession)
	}
	return mux
}
