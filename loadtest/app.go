package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// tokenLifetime is the access (and ID) token lifetime at the provider.
// An hour, so that a valid-session scenario of any sensible -duration
// never reaches the refresh window by real time alone; expiry is made to
// happen by moving the shared clock instead (see clock).
const tokenLifetime = time.Hour

// expire is how far the clock jumps to expire every session at once.
const expire = tokenLifetime + time.Minute

// clock is the time of the provider and the application: real time plus
// an offset that Advance moves. It is lock-free (oidcsessiontest.Clock
// takes a mutex on every Now, which a deployment's time.Now does not), and
// it keeps moving, so grace windows and timers behave as in production
// while one Advance expires every session's access token at one instant.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// app is one deployment under load: the provider, the application server
// with the middleware, and the client that drives it, all on loopback in
// this process.
type app struct {
	clock  *clock
	op     *oidcsessiontest.Provider
	m      *oidcsession.Middleware
	srv    *http.Server
	base   string // http://127.0.0.1:port
	client *http.Client
	sent   atomic.Int64 // HTTP requests the client sent
	pids   []int        // other processes of the system under test (redis-server)
	closed sync.Once
}

// Routes of the application: the README quick start's, one path each.
const (
	inlinePath  = "/app"          // Require(): expired tokens are refreshed inline
	tryPath     = "/api"          // Require(TryRefresh()): 401 try_refresh
	refreshPath = "/auth/refresh" // RefreshHandler
)

// newTransport returns a keep-alive transport that never goes through a
// proxy (loopback only) and keeps enough idle connections for conc
// concurrent requests.
func newTransport(conc int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: max(conc*2, 64),
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// startApp starts a provider issuing the README's typical session and an
// application server in front of it. store nil keeps sessions in cookies.
func startApp(ctx context.Context, conc int, store oidcsession.Store) (*app, error) {
	a := &app{clock: &clock{}}
	op, err := oidcsessiontest.Start(oidcsessiontest.Config{
		Now:                 a.clock.Now,
		AccessTokenLifetime: tokenLifetime,
		IDTokenLifetime:     tokenLifetime,
		// The "typical session" of the README's Performance section: a
		// ~1.2 KB access-token JWT and a ~1 KB ID-token JWT, RS256.
		AccessTokenClaims: map[string]any{
			"roles":       []string{"reader", "writer", "billing-admin", "support"},
			"permissions": strings.Repeat("read:documents write:documents ", 9),
			"tenant":      "acme-corporation-eu-west",
		},
		IDTokenClaims: map[string]any{"picture": "https://cdn.example.com/avatars/" + strings.Repeat("a", 152) + ".png"},
	})
	if err != nil {
		return nil, err
	}
	a.op = op
	// The middleware's own client to the provider: grants run up to conc
	// at a time, more than http.DefaultTransport's 2 idle connections per
	// host, which would churn through ephemeral ports.
	toProvider := &http.Client{Transport: newTransport(conc), Timeout: 30 * time.Second}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, toProvider), op.Issuer())
	if err != nil {
		op.Close()
		return nil, fmt.Errorf("discovery: %w", err)
	}
	hashKey, blockKey := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(hashKey)
	_, _ = rand.Read(blockKey)
	opts := []oidcsession.Option{
		oidcsession.WithKeys(hashKey, blockKey),
		oidcsession.WithClock(a.clock.Now),
		oidcsession.WithHTTPClient(toProvider),
	}
	if store != nil {
		opts = append(opts, oidcsession.WithStore(store))
	}
	a.m, err = oidcsession.New(provider, oauth2.Config{
		ClientID: op.ClientID(), ClientSecret: op.ClientSecret(),
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}, opts...)
	if err != nil {
		op.Close()
		return nil, err
	}

	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, found := oidcsession.FromContext(r.Context())
		if !found {
			http.Error(w, "no session in the context", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, s.Subject())
	})
	mux := http.NewServeMux()
	mux.Handle(inlinePath, a.m.Require()(ok))
	mux.Handle(tryPath, a.m.Require(oidcsession.TryRefresh())(ok))
	mux.Handle("POST "+refreshPath, a.m.RefreshHandler())

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		op.Close()
		return nil, err
	}
	a.base = "http://" + l.Addr().String()
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = a.srv.Serve(l) }()
	a.client = &http.Client{Transport: newTransport(conc), Timeout: 30 * time.Second}
	return a, nil
}

// close stops the application server and the provider.
func (a *app) close() {
	a.closed.Do(func() {
		a.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.srv.Shutdown(ctx)
		a.op.Close()
	})
}

// grants returns the provider's refresh-token grant counters: successful
// ones, all attempts, and presentations of a spent refresh token.
func (a *app) grants() (ok, attempts, reuse int) {
	s := a.op.Stats()
	return s.SuccessfulGrants["refresh_token"], s.Grants["refresh_token"], s.ReuseDetections
}

// signIn starts n sessions without the browser flow (tokens from the
// provider, then StartSession, as an app with its own sign-in does), on
// par workers, and returns a browser holding each one's cookies.
func (a *app) signIn(n, par int) ([]*browser, error) {
	out := make([]*browser, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, par)
	for w := range par {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				b, err := a.signInOne()
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = b
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (a *app) signInOne() (*browser, error) {
	tok, err := a.op.IssueTokens(oidcsessiontest.IssueOptions{})
	if err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	if _, err := a.m.StartSession(rec, httptest.NewRequest("GET", a.base+"/", nil), tok); err != nil {
		return nil, err
	}
	b := &browser{}
	b.apply(rec.Result().Cookies())
	if b.header == "" {
		return nil, errors.New("StartSession wrote no cookie")
	}
	return b, nil
}
