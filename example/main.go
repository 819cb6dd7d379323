// Command example is a small web app that signs users in with OpenID
// Connect through oidcsession and keeps their session alive.
//
//	go run ./example
//
// With no environment it starts an embedded test provider
// (oidcsessiontest) on http://127.0.0.1:8081, which shows a one-click
// sign-in page and hands out access tokens that live 30 seconds, so
// refreshes are easy to watch, and serves the app on http://127.0.0.1:8080.
//
// Environment:
//
//	OIDC_ISSUER          the provider's issuer URL; empty: embedded provider
//	OIDC_CLIENT_ID       client id (with OIDC_ISSUER)
//	OIDC_CLIENT_SECRET   client secret (with OIDC_ISSUER)
//	OIDC_SCOPES          space-separated; default "openid profile email offline_access"
//	OIDC_PROMPT          prompt of interactive sign-ins (WithPrompt), e.g.
//	                     "consent": providers that follow OIDC Core section 11
//	                     (oidc-provider) grant offline_access, and so refresh
//	                     tokens, only with it; default: none sent
//	BASE_URL             the app's external URL; default http://<ADDR>
//	ADDR                 listen address; default 127.0.0.1:8080
//	SESSION_KEYS         "hash:block[,hash:block]" in hex or base64, newest
//	                     first; empty: random keys (sessions end on restart)
//	OIDC_TEST_ADDR       the embedded provider's listen address; default
//	                     127.0.0.1:8081 (fixed, so its issuer survives restarts)
//	OIDC_TEST_TOKEN_TTL  the embedded provider's access-token lifetime, a Go
//	                     duration of at least 2s; default 30s
//	API_RESOURCE         the orders API's resource indicator (RFC 8707): the
//	                     proxy asks tokens for it and the API accepts only
//	                     them; default https://orders.example/ with the
//	                     embedded provider, else none (the session's own
//	                     token, and the API expects the client ID as
//	                     audience). The API needs JWT access tokens.
//	REDIS_URL            keep sessions in Redis (redisstore) instead of
//	                     cookies, e.g. redis://127.0.0.1:6379/0 (rediss:// for
//	                     TLS; user and password in the URL): sessions can be
//	                     revoked, and /app lists the user's devices with a
//	                     sign-out for each; keys under "oidcsession-example:".
//	                     Redis must answer at start. Default: cookies
//
// Routes: GET / (public), GET /app (HTML behind Require()), GET /api/me
// (JSON behind Require(TryRefresh())), /api/orders/ (the orders API
// through the package's proxy, behind Require(TryRefresh())), GET
// /signed-out (where sign-out ends), the handlers at /auth/login, /auth/callback, /auth/refresh and
// /auth/logout, POST /auth/backchannel-logout (OIDC Back-Channel Logout:
// the provider posts a logout token when the user's provider session ends),
// POST /api/sessions/sign-out (id=…: end one of the user's own sessions)
// and POST /api/sessions/sign-out-others (every session of the user but
// this one), both behind Require(TryRefresh()), same-origin and with
// X-Session-Refresh: 1 (403 csrf otherwise), answering 501 no_store
// without REDIS_URL, the browser helper at /static/oidcsession/, the
// pages' scripts at /static/, and, with the embedded provider only, POST
// /demo/outage (on=true|false) to make the provider answer every refresh
// with 503 until switched back.
//
// Register BASE_URL/auth/callback as a redirect URI,
// BASE_URL/signed-out as a post-logout redirect URI and
// BASE_URL/auth/backchannel-logout as the backchannel_logout_uri at the
// provider. The embedded provider is registered with them: signing out
// at it (its end_session endpoint) posts a logout token to the app, which
// ends that sign-in's sessions (with cookies, at their next refresh).
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// run serves the app until ctx is done. It reads its settings through
// getenv, logs to stdout, and calls ready (if not nil) with the listening
// address once requests are accepted, so tests can start it on port 0.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, ready func(addr string)) error {
	logger := slog.New(slog.NewTextHandler(stdout, nil))
	addr := envOr(getenv, "ADDR", "127.0.0.1:8080")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	defer ln.Close()
	base := strings.TrimSuffix(getenv("BASE_URL"), "/")
	if base == "" {
		base = "http://" + reachable(ln.Addr())
	}

	issuer, clientID, clientSecret := getenv("OIDC_ISSUER"), getenv("OIDC_CLIENT_ID"), getenv("OIDC_CLIENT_SECRET")
	a := &app{log: logger}
	if issuer == "" {
		ttl, err := tokenTTL(getenv("OIDC_TEST_TOKEN_TTL"))
		if err != nil {
			return err
		}
		// The provider posts logout tokens to this process's own listener,
		// not to BASE_URL, which may be a proxy it cannot reach.
		backChannel := "http://" + reachable(ln.Addr()) + backChannelPath
		op, err := oidcsessiontest.Start(oidcsessiontest.Config{
			Addr:                 envOr(getenv, "OIDC_TEST_ADDR", "127.0.0.1:8081"),
			AccessTokenLifetime:  ttl,
			LoginPage:            true,
			BackChannelLogoutURI: backChannel,
		})
		if err != nil {
			return fmt.Errorf("starting the embedded provider (OIDC_TEST_ADDR): %w", err)
		}
		defer op.Close()
		a.op, a.tokenTTL = op, ttl
		issuer, clientID, clientSecret = op.Issuer(), op.ClientID(), op.ClientSecret()
		logger.Info("OIDC_ISSUER is not set: using the embedded test provider, which signs in a test user after one click",
			"issuer", issuer, "access_token_lifetime", ttl.String(), "backchannel_logout_uri", backChannel)
	} else if getenv("OIDC_TEST_ADDR") != "" || getenv("OIDC_TEST_TOKEN_TTL") != "" {
		logger.Warn("OIDC_TEST_ADDR and OIDC_TEST_TOKEN_TTL apply to the embedded provider only; ignored with OIDC_ISSUER")
	}
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return fmt.Errorf("discovering %s: %w", issuer, err)
	}

	keys, err := sessionKeys(getenv("SESSION_KEYS"))
	if err != nil {
		return err
	}
	if keys == nil {
		keys = randomKeys()
		logger.Warn("SESSION_KEYS is not set: using random keys, so sessions will not survive a restart")
	}
	opts := []oidcsession.Option{
		oidcsession.WithKeys(keys...),
		oidcsession.WithLogger(logger),
		oidcsession.WithSilentSignIn(),
		oidcsession.WithUserInfoOnRefresh(),
		oidcsession.WithPostLogoutRedirectURL(base + "/signed-out"),
	}
	if p := getenv("OIDC_PROMPT"); p != "" {
		opts = append(opts, oidcsession.WithPrompt(p))
	}
	if raw := getenv("REDIS_URL"); raw != "" {
		st, closeStore, err := openRedis(ctx, raw, logger)
		if err != nil {
			return err
		}
		defer closeStore()
		opts = append(opts, oidcsession.WithStore(st))
		a.store = true
	} else {
		logger.Info("REDIS_URL is not set: sessions are kept in sealed cookies, which need no server state but cannot be listed or revoked")
	}
	if strings.HasPrefix(base, "http://") {
		opts = append(opts, oidcsession.WithInsecureCookies())
		logger.Warn("BASE_URL is plain http: cookies are sent without Secure and the __Host- prefix; use https in production", "base_url", base)
	}
	m, err := oidcsession.New(provider, oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURL:  base + "/auth/callback",
		Scopes:       strings.Fields(envOr(getenv, "OIDC_SCOPES", "openid profile email offline_access")),
	}, opts...)
	if err != nil {
		return err
	}

	a.m = m
	resource := getenv("API_RESOURCE")
	if resource == "" && a.op != nil {
		resource = "https://orders.example/"
	}
	a.orders = oidcsession.TokenRequest{Resource: resource}
	audience := cmp.Or(resource, clientID)
	if a.ordersAPI, err = startOrdersAPI(ctx, provider, audience); err != nil {
		return err
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "oidcsession example: open %s/\n", base)
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// backChannelPath is where the provider posts logout tokens; register
// BASE_URL + backChannelPath as the client's backchannel_logout_uri.
const backChannelPath = "/auth/backchannel-logout"

// routes mounts the handlers as the README shows.
func (a *app) routes() http.Handler {
	m := a.m
	mux := http.NewServeMux()
	mux.Handle("GET /auth/login", m.LoginHandler())
	mux.Handle("GET /auth/callback", m.CallbackHandler())
	mux.Handle("POST /auth/refresh", m.RefreshHandler())
	mux.Handle("POST /auth/logout", m.LogoutHandler())
	// Server to server: the provider's POST carries a signed logout token,
	// not the user's cookies, so it needs no cross-origin check.
	mux.Handle("POST "+backChannelPath, m.BackChannelLogoutHandler())
	// Public pages: Optional lets visitors without a session in.
	mux.Handle("GET /{$}", m.Require(oidcsession.Optional())(http.HandlerFunc(a.home)))
	mux.Handle("GET /signed-out", m.Require(oidcsession.Optional())(http.HandlerFunc(a.signedOut)))
	mux.Handle("GET /app", m.Require()(http.HandlerFunc(a.appPage)))
	mux.Handle("GET /api/me", m.Require(oidcsession.TryRefresh())(http.HandlerFunc(a.apiMe)))
	// The orders API, through the proxy: the browser never holds its token.
	api, _ := url.Parse(a.ordersAPI.url)
	mux.Handle("/api/orders/", m.Require(oidcsession.TryRefresh())(http.StripPrefix("/api/orders", m.Proxy(api, a.orders))))
	// Signing out the user's other devices: state-changing, so same-origin
	// only, checked before the session is even read.
	mux.Handle("POST /api/sessions/sign-out", a.sameOrigin(m.Require(oidcsession.TryRefresh())(http.HandlerFunc(a.signOutDevice))))
	mux.Handle("POST /api/sessions/sign-out-others", a.sameOrigin(m.Require(oidcsession.TryRefresh())(http.HandlerFunc(a.signOutOthers))))
	// The browser helper, at content-hashed names, and the pages' own scripts.
	mux.Handle("GET "+scriptBase, oidcsession.ScriptHandler())
	mux.Handle("GET /static/app.js", serveStatic("app.js"))
	mux.Handle("GET /static/home.js", serveStatic("home.js"))
	mux.Handle("GET /favicon.svg", serveStatic("favicon.svg"))
	mux.Handle("GET /favicon.ico", serveStatic("favicon.svg"))
	if a.op != nil {
		mux.Handle("POST /demo/outage", outageSwitch(a.op))
	}
	return mux
}

// tokenTTL parses OIDC_TEST_TOKEN_TTL; empty gives 30 s. Shorter than 2 s
// leaves the server a refresh window too short to show anything.
func tokenTTL(s string) (time.Duration, error) {
	if s == "" {
		return 30 * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 2*time.Second {
		return 0, fmt.Errorf("OIDC_TEST_TOKEN_TTL=%q: want a Go duration of at least 2s, such as 10s or 1m", s)
	}
	return d, nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// reachable turns a listener address into one a browser can open: an
// unspecified host (":8080", "[::]:8080") becomes 127.0.0.1.
func reachable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
