package oidcsession

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Option configures a Middleware. Options are applied in order after the
// secure defaults; New validates the result.
type Option func(*config)

// config is the validated, immutable configuration of a Middleware.
type config struct {
	keyPairs         [][]byte
	cookieName       string
	cookieNameSet    bool
	insecureCookies  bool
	sameSite         http.SameSite
	refreshSkew      time.Duration
	graceWindow      time.Duration
	refreshTimeout   time.Duration
	absoluteLifetime time.Duration
	idleTimeout      time.Duration
	maxChunks        int
	retryAfter       time.Duration
	now              func() time.Time
	httpClient       *http.Client
	logger           *slog.Logger
	errorHandler     func(http.ResponseWriter, *http.Request, error)
	onRefreshed      func(context.Context, *Session)
	onRefreshFailed  func(context.Context, *RefreshError)
	loginURL         string
	trustedOrigins   []string
	openedCacheBytes int
	clientAuth       ClientAuthMethod
	privateKey       *PrivateKeyJWT
	clockTolerance   time.Duration

	// Sign-in, sign-out and userinfo settings (login_options.go).
	login loginConfig
}

func defaultConfig() config {
	return config{
		cookieName:       "__Host-oidcsession",
		sameSite:         http.SameSiteLaxMode,
		refreshSkew:      30 * time.Second,
		graceWindow:      30 * time.Second,
		refreshTimeout:   10 * time.Second,
		absoluteLifetime: 7 * 24 * time.Hour,
		idleTimeout:      24 * time.Hour,
		maxChunks:        5,
		retryAfter:       5 * time.Second,
		now:              time.Now,
		httpClient:       http.DefaultClient,
		logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		loginURL:         "/auth/login",
		openedCacheBytes: 8 << 20,
		clockTolerance:   time.Minute,
	}
}

// WithKeys sets the cookie keys as hash/block pairs, newest first: the first
// pair seals, every pair opens, so a key is rotated by prepending a new pair
// and dropping the oldest later. A hash key has at least 32 bytes; a block
// key has 16, 24 or 32 bytes (AES-128/192/256). Required; there is no
// default.
func WithKeys(pairs ...[]byte) Option {
	return func(c *config) { c.keyPairs = append([][]byte(nil), pairs...) }
}

// WithCookieName sets the session cookie's name. Default "__Host-oidcsession",
// or "oidcsession" under WithInsecureCookies. A "__Host-" or "__Secure-" name
// requires secure cookies.
func WithCookieName(name string) Option {
	return func(c *config) { c.cookieName, c.cookieNameSet = name, true }
}

// WithInsecureCookies drops the Secure attribute and the "__Host-" prefix so
// cookies work over plain http. For local development only. Default: off.
func WithInsecureCookies() Option {
	return func(c *config) { c.insecureCookies = true }
}

// WithSameSite sets the cookies' SameSite attribute. Default
// http.SameSiteLaxMode, which lets the provider's redirect back to the
// callback carry the flow cookie. SameSiteNoneMode requires secure cookies.
func WithSameSite(s http.SameSite) Option {
	return func(c *config) { c.sameSite = s }
}

// WithRefreshSkew sets how long before the access token's expiry it is
// treated as due for refresh, so a token never expires in flight. Default
// 30s. It must be shorter than the provider's access-token lifetime; for
// short-lived tokens the skew is capped at a quarter of the token's
// lifetime so a token is not refreshed on every request.
func WithRefreshSkew(d time.Duration) Option {
	return func(c *config) { c.refreshSkew = d }
}

// WithGraceWindow sets how long after a refresh a request that still carries
// the old cookie is given the new session instead of presenting the spent
// refresh token again. Default 30s.
func WithGraceWindow(d time.Duration) Option {
	return func(c *config) { c.graceWindow = d }
}

// WithRefreshTimeout bounds one refresh-token grant. The grant runs
// detached from the request's cancellation, so a client that disconnects
// cannot lose a rotated token. Default 10s.
func WithRefreshTimeout(d time.Duration) Option {
	return func(c *config) { c.refreshTimeout = d }
}

// WithLifetime sets the session's absolute lifetime (from sign-in, never
// extended by refreshes) and idle timeout (since the last request; 0 turns
// it off). Both are enforced from the sealed payload with the clock, not
// only from cookie Max-Age. Defaults 7 days and 24 hours.
func WithLifetime(absolute, idle time.Duration) Option {
	return func(c *config) { c.absoluteLifetime, c.idleTimeout = absolute, idle }
}

// WithMaxChunks sets how many cookies one session may be split into.
// Default 5 (about 20 KB).
func WithMaxChunks(n int) Option {
	return func(c *config) { c.maxChunks = n }
}

// WithOpenedCache bounds the memory (in bytes) of the cache of already
// verified cookie values, which spares a browser's repeated requests the
// cost of opening the same sealed cookie again (see README, Performance).
// 0 turns it off. Default 8 MiB, about 1,500 typical sessions.
func WithOpenedCache(maxBytes int) Option {
	return func(c *config) { c.openedCacheBytes = maxBytes }
}

// WithClock sets the clock used for expiry, lifetimes, the grace window and
// ID-token verification. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithHTTPClient sets the client for calls to the provider (token,
// revocation, userinfo, keys). Default http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) { c.httpClient = hc }
}

// WithLogger sets where the package logs refresh outcomes and failures,
// sign-in failures and sessions it had to end. No token or secret is ever
// logged. Default: nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithErrorHandler replaces how errors are answered (unauthenticated,
// try_refresh, session_expired, csrf, 503). The handler receives the error
// itself; cookies have already been cleared where the session ended.
// Middleware.WriteError is the default and can be called as a fallback.
func WithErrorHandler(h func(http.ResponseWriter, *http.Request, error)) Option {
	return func(c *config) { c.errorHandler = h }
}

// WithOnRefreshed sets a hook called after every successful refresh grant
// (once per grant, not per waiting request). Default: none.
func WithOnRefreshed(f func(ctx context.Context, s *Session)) Option {
	return func(c *config) { c.onRefreshed = f }
}

// WithOnRefreshFailed sets a hook called after every failed refresh grant,
// with its class. Default: none.
func WithOnRefreshFailed(f func(ctx context.Context, err *RefreshError)) Option {
	return func(c *config) { c.onRefreshFailed = f }
}

// WithLoginURL sets where unauthenticated page requests are redirected, with
// a return_to parameter. A local path. Default "/auth/login".
func WithLoginURL(path string) Option {
	return func(c *config) { c.loginURL = path }
}

// WithTrustedOrigins allows cross-origin POSTs to the refresh and logout
// handlers from these origins ("https://app.example.com"). Default: none,
// only same-origin requests pass.
func WithTrustedOrigins(origins ...string) Option {
	return func(c *config) { c.trustedOrigins = append([]string(nil), origins...) }
}

// WithClientAuth sets how the client authenticates at the token and
// revocation endpoints; it must be the method the client is registered
// with, since a provider that enforces the registration refuses any other
// (with invalid_client, which this package reports as a refused sign-in).
// Default: ClientAuthNone when oauth2.Config.ClientSecret is empty, else
// ClientSecretBasic, or ClientSecretPost when the provider advertises only
// that in token_endpoint_auth_methods_supported. For private_key_jwt use
// WithPrivateKeyJWT.
func WithClientAuth(method ClientAuthMethod) Option {
	return func(c *config) { c.clientAuth = method }
}

// WithPrivateKeyJWT authenticates the client with assertions signed by its
// own key (private_key_jwt: RFC 7523, OIDC Core section 9); leave
// oauth2.Config.ClientSecret empty. Register the public key (or a JWKS
// holding it under k.KeyID) with the provider. Default: not used.
func WithPrivateKeyJWT(k PrivateKeyJWT) Option {
	return func(c *config) {
		if k.Algorithm == "" && k.Key != nil {
			k.Algorithm = defaultAlgorithm(k.Key.Public())
		}
		c.privateKey = &k
		if c.clientAuth == "" {
			c.clientAuth = PrivateKeyJWTAuth
		}
	}
}

// WithClockTolerance sets how far the provider's clock may be from ours
// when ID tokens are checked, at sign-in and after a refresh: a token is
// accepted until tolerance after its exp, and from tolerance before its
// iat and nbf. Default 60s; 0 checks exactly.
func WithClockTolerance(d time.Duration) Option {
	return func(c *config) { c.clockTolerance = d }
}

// validate checks the configuration after all options are applied.
func (c *config) validate() error {
	var errs []error
	if len(c.keyPairs) == 0 {
		errs = append(errs, errors.New("WithKeys: at least one hash/block key pair is required"))
	}
	if len(c.keyPairs)%2 != 0 {
		errs = append(errs, errors.New("WithKeys: keys come in hash/block pairs"))
	}
	for i := 0; i+1 < len(c.keyPairs); i += 2 {
		if n := len(c.keyPairs[i]); n < 32 {
			errs = append(errs, fmt.Errorf("WithKeys: hash key %d has %d bytes, want at least 32", i/2, n))
		}
		if n := len(c.keyPairs[i+1]); n != 16 && n != 24 && n != 32 {
			errs = append(errs, fmt.Errorf("WithKeys: block key %d has %d bytes, want 16, 24 or 32", i/2, n))
		}
	}
	if !validCookieName(c.cookieName) {
		errs = append(errs, fmt.Errorf("WithCookieName: %q is not a valid cookie name", c.cookieName))
	}
	if c.insecureCookies && (strings.HasPrefix(c.cookieName, "__Host-") || strings.HasPrefix(c.cookieName, "__Secure-")) {
		errs = append(errs, fmt.Errorf("WithCookieName: %q needs secure cookies, but WithInsecureCookies is set", c.cookieName))
	}
	if c.sameSite == http.SameSiteNoneMode && c.insecureCookies {
		errs = append(errs, errors.New("WithSameSite: SameSite=None requires secure cookies"))
	}
	if c.refreshSkew < 0 || c.graceWindow < 0 || c.idleTimeout < 0 || c.clockTolerance < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if c.refreshTimeout <= 0 {
		errs = append(errs, errors.New("WithRefreshTimeout: must be positive"))
	}
	if c.absoluteLifetime <= 0 {
		errs = append(errs, errors.New("WithLifetime: absolute lifetime must be positive"))
	}
	if c.openedCacheBytes < 0 {
		errs = append(errs, errors.New("WithOpenedCache: must not be negative"))
	}
	if c.maxChunks < 1 || c.maxChunks > 20 {
		errs = append(errs, fmt.Errorf("WithMaxChunks: %d is outside 1..20", c.maxChunks))
	}
	if c.now == nil || c.httpClient == nil || c.logger == nil {
		errs = append(errs, errors.New("WithClock, WithHTTPClient and WithLogger must not be nil"))
	}
	if !isLocalPath(c.loginURL) {
		errs = append(errs, fmt.Errorf("WithLoginURL: %q is not a local path", c.loginURL))
	}
	for _, o := range c.trustedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("WithTrustedOrigins: %q is not an origin", o))
		}
	}
	if err := c.login.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("oidcsession: invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}

// validCookieName reports whether name is an RFC 6265 token.
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// isLocalPath reports whether p is a path on this site: it starts with one
// "/", and no browser could read it as another host ("//x", "/\x") or a
// scheme.
func isLocalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < ' ' || p[i] == 0x7f || p[i] == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}
