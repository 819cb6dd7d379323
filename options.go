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

// config is the validated, immutable configuration of a Middleware. Every
// field has exactly one option; defaultConfig holds every default.
type config struct {
	keyPairs          [][]byte
	cookieName        string // "": "__Host-oidcsession", or "oidcsession" with insecure cookies
	insecureCookies   bool
	sameSite          http.SameSite
	refreshSkew       time.Duration
	graceWindow       time.Duration
	refreshTimeout    time.Duration
	absoluteLifetime  time.Duration
	idleTimeout       time.Duration
	maxChunks         int
	openedCacheBytes  int
	retryAfter        time.Duration
	clockTolerance    time.Duration
	now               func() time.Time
	httpClient        *http.Client
	logger            *slog.Logger
	errorHandler      func(http.ResponseWriter, *http.Request, error)
	onRefreshed       func(context.Context, *Session)
	onRefreshFailed   func(context.Context, *RefreshError)
	onTokenReuse      func(context.Context, TokenReuse)
	onEvent           func(context.Context, Event)
	loginURL          string
	trustedOrigins    []string
	maxResourceTokens int
	store             Store
	coordinator       Coordinator
	clientAuth        ClientAuthMethod
	privateKey        *PrivateKeyJWT
	signIn            signInConfig // options_signin.go
}

func defaultConfig() config {
	return config{
		sameSite:          http.SameSiteLaxMode,
		refreshSkew:       30 * time.Second,
		graceWindow:       30 * time.Second,
		refreshTimeout:    10 * time.Second,
		absoluteLifetime:  7 * 24 * time.Hour,
		idleTimeout:       24 * time.Hour,
		maxChunks:         5,
		openedCacheBytes:  8 << 20,
		retryAfter:        5 * time.Second,
		clockTolerance:    time.Minute,
		now:               time.Now,
		httpClient:        http.DefaultClient,
		logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		loginURL:          "/auth/login",
		maxResourceTokens: 8,
	}
}

// WithKeys sets the cookie keys as hash/block pairs, newest first: the
// first pair seals, every pair opens, so a key is rotated by prepending a
// new pair and dropping the oldest later. A hash key has at least 32 bytes;
// a block key has 16, 24 or 32 bytes (AES-128/192/256). Required; there is
// no default.
func WithKeys(pairs ...[]byte) Option {
	return func(c *config) { c.keyPairs = append([][]byte(nil), pairs...) }
}

// WithCookieName sets the session cookie's name. Default
// "__Host-oidcsession", or "oidcsession" under WithInsecureCookies. A
// "__Host-" or "__Secure-" name requires secure cookies.
func WithCookieName(name string) Option {
	return func(c *config) { c.cookieName = name }
}

// WithInsecureCookies drops the Secure attribute and the "__Host-" prefix
// so cookies work over plain http. For local development only. Default:
// off.
func WithInsecureCookies() Option {
	return func(c *config) { c.insecureCookies = true }
}

// WithSameSite sets the cookies' SameSite attribute. Default
// http.SameSiteLaxMode, which lets the provider's redirect back to the
// callback carry the flow cookie (flow cookies stay Lax under Strict).
// SameSiteNoneMode requires secure cookies.
func WithSameSite(s http.SameSite) Option {
	return func(c *config) { c.sameSite = s }
}

// WithRefreshSkew sets how long before the access token's expiry it is
// treated as due for refresh, so a token never expires in flight. Default
// 30s, capped at a quarter of the token's lifetime so short-lived tokens
// are not refreshed on every request.
func WithRefreshSkew(d time.Duration) Option {
	return func(c *config) { c.refreshSkew = d }
}

// WithGraceWindow sets how long after a refresh a request that still
// carries the previous cookie is given the new session instead of
// presenting the spent refresh token again (cookies), or of being taken
// for a replayed copy (WithStore). Default 30s.
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
// extended by refreshes or silent renewal) and idle timeout (since the
// last request; 0 turns it off). Both are enforced from the session itself
// with the clock, not only from cookie Max-Age. Defaults 7 days and 24
// hours.
func WithLifetime(absolute, idle time.Duration) Option {
	return func(c *config) { c.absoluteLifetime, c.idleTimeout = absolute, idle }
}

// WithMaxChunks sets how many cookies one session may be split into
// (1-20). Default 5 (about 20 KB).
func WithMaxChunks(n int) Option {
	return func(c *config) { c.maxChunks = n }
}

// WithOpenedCache bounds the memory (in bytes) of the cache of already
// verified sessions, which spares a browser's repeated requests the cost
// of opening the same sealed value again (see README, Performance). 0
// turns it off. Default 8 MiB, about 1,500 typical sessions.
func WithOpenedCache(maxBytes int) Option {
	return func(c *config) { c.openedCacheBytes = maxBytes }
}

// WithRetryAfter sets the Retry-After of 503 answers (provider or store
// unavailable). Default 5s; whole seconds, at least 1.
func WithRetryAfter(d time.Duration) Option {
	return func(c *config) { c.retryAfter = d }
}

// WithResourceTokens sets how many access tokens for other resources and
// scope sets (Token) a session keeps beside its own; beyond it, and
// whenever a cookie session would outgrow its cookies, the token obtained
// longest ago gives way; with a Store, whenever its record would outgrow
// the length of WithMaxChunks cookies, since sealed values open only up
// to that. 1 to 64. Default 8.
func WithResourceTokens(n int) Option {
	return func(c *config) { c.maxResourceTokens = n }
}

// WithClock sets the clock used for expiry, lifetimes, the grace window and
// ID-token verification. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithClockTolerance sets how far the provider's clock may be from ours
// when ID tokens are checked, at sign-in and after a refresh: a token is
// accepted until tolerance after its exp, and from tolerance before its
// iat and nbf. Default 60s; 0 checks exactly.
func WithClockTolerance(d time.Duration) Option {
	return func(c *config) { c.clockTolerance = d }
}

// WithHTTPClient sets the client for calls to the provider (token,
// revocation, userinfo, keys). Default http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) { c.httpClient = hc }
}

// WithLogger sets where the package logs refresh outcomes and failures,
// sign-in failures, reuse detections and sessions it had to end. No token
// or secret is ever logged. Default: nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithErrorHandler replaces how errors are answered. The handler receives
// the error itself; cookies have already been cleared where the session
// ended. Middleware.WriteError is the default and can be called as a
// fallback.
func WithErrorHandler(h func(http.ResponseWriter, *http.Request, error)) Option {
	return func(c *config) { c.errorHandler = h }
}

// WithOnRefreshed sets a hook called after every successful refresh grant
// this replica made (once per grant, not per waiting request), before the
// requests waiting for the grant are answered: keep it fast. Default:
// none.
func WithOnRefreshed(f func(ctx context.Context, s *Session)) Option {
	return func(c *config) { c.onRefreshed = f }
}

// WithOnRefreshFailed sets a hook called after every failed refresh grant
// this replica made, with its class, before the requests waiting for the
// grant are answered. Default: none.
func WithOnRefreshFailed(f func(ctx context.Context, err *RefreshError)) Option {
	return func(c *config) { c.onRefreshFailed = f }
}

// WithLoginURL sets where unauthenticated page requests are redirected,
// with a return_to parameter. A local path. Default "/auth/login".
func WithLoginURL(path string) Option {
	return func(c *config) { c.loginURL = path }
}

// WithTrustedOrigins allows cross-origin POSTs to the refresh and logout
// handlers from these origins ("https://app.example.com"). Default: none,
// only same-origin requests pass.
func WithTrustedOrigins(origins ...string) Option {
	return func(c *config) { c.trustedOrigins = append([]string(nil), origins...) }
}

// validate checks the configuration after all options are applied and
// fills the defaults that depend on other options.
func (c *config) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	c.validateCookies(add)
	for _, d := range []struct {
		option string
		value  time.Duration
	}{{"WithRefreshSkew", c.refreshSkew}, {"WithGraceWindow", c.graceWindow}, {"WithLifetime (idle)", c.idleTimeout}, {"WithClockTolerance", c.clockTolerance}} {
		if d.value < 0 {
			add("%s: must not be negative", d.option)
		}
	}
	if c.refreshTimeout <= 0 || c.absoluteLifetime <= 0 {
		add("WithRefreshTimeout and WithLifetime (absolute) must be positive")
	}
	if c.retryAfter < time.Second {
		add("WithRetryAfter: at least one second")
	}
	if c.now == nil || c.httpClient == nil || c.logger == nil {
		add("WithClock, WithHTTPClient and WithLogger must not be nil")
	}
	if !isLocalPath(c.loginURL) {
		add("WithLoginURL: %q is not a local path", c.loginURL)
	}
	for _, o := range c.trustedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			add("WithTrustedOrigins: %q is not an origin", o)
		}
	}
	if c.store != nil && c.coordinator != nil {
		add("WithCoordinator: a Store coordinates grants itself; give one or the other")
	}
	if err := c.signIn.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("oidcsession: invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}

// validateCookies checks the cookie settings, filling the default name.
func (c *config) validateCookies(add func(string, ...any)) {
	if len(c.keyPairs) == 0 || len(c.keyPairs)%2 != 0 {
		add("WithKeys: at least one hash/block key pair is required, and keys come in pairs")
	}
	for i := 0; i+1 < len(c.keyPairs); i += 2 {
		if n := len(c.keyPairs[i]); n < 32 {
			add("WithKeys: hash key %d has %d bytes, want at least 32", i/2, n)
		}
		if n := len(c.keyPairs[i+1]); n != 16 && n != 24 && n != 32 {
			add("WithKeys: block key %d has %d bytes, want 16, 24 or 32", i/2, n)
		}
	}
	if c.cookieName == "" {
		c.cookieName = "__Host-oidcsession"
		if c.insecureCookies {
			c.cookieName = "oidcsession"
		}
	}
	if !validCookieName(c.cookieName) {
		add("WithCookieName: %q is not a valid cookie name", c.cookieName)
	}
	if c.insecureCookies && (strings.HasPrefix(c.cookieName, "__Host-") || strings.HasPrefix(c.cookieName, "__Secure-")) {
		add("WithCookieName: %q needs secure cookies, but WithInsecureCookies is set", c.cookieName)
	}
	if c.sameSite == http.SameSiteNoneMode && c.insecureCookies {
		add("WithSameSite: SameSite=None requires secure cookies")
	}
	if c.openedCacheBytes < 0 {
		add("WithOpenedCache: must not be negative")
	}
	if c.maxChunks < 1 || c.maxChunks > 20 {
		add("WithMaxChunks: %d is outside 1..20", c.maxChunks)
	}
	if c.maxResourceTokens < 1 || c.maxResourceTokens > 64 {
		add("WithResourceTokens: %d is outside 1..64", c.maxResourceTokens)
	}
}
