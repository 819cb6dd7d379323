package integration

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
)

// How the suite treats providers it cannot start, from
// OIDCSESSION_INTEGRATION: "" skips their tests with the reason,
// "require" fails the run (CI), "off" skips everything.
var mode = os.Getenv("OIDCSESSION_INTEGRATION")

// Sizes of the run. Most tests spend their time waiting for a 3 s access
// token to expire, so they run in parallel well beyond the core count.
const (
	slotCount       = 12 // app servers, registered at both providers
	defaultParallel = 8  // -test.parallel unless given on the command line
	tokenLifetime   = 3  // seconds, access tokens at both providers
	dexUserCount    = 64 // Dex's static accounts, taken in turn by the tests
	testPassword    = "correct horse battery staple"
)

var (
	// tmpDir holds the providers' configuration and logs for the run; it
	// is kept (and named) when the run fails or
	// OIDCSESSION_INTEGRATION_KEEP is set.
	tmpDir string
	// providers are the ones that started, by name; unavailable says why
	// the others did not.
	providers   = map[string]*provider{}
	unavailable = map[string]string{}
	// slots are the app servers' addresses, fixed before the providers
	// start so that their redirect URIs can be registered.
	slots chan *slot
	// exampleAddrs are the addresses `go run ./example` listens on, one per
	// provider, registered too.
	exampleAddrs = map[string]string{}
)

// providerNames is the order tests run the providers in.
var providerNames = []string{"oidc-provider", "dex"}

func TestMain(m *testing.M) {
	flag.Parse()
	if mode == "off" {
		fmt.Println("integration: OIDCSESSION_INTEGRATION=off, no provider is started")
		os.Exit(m.Run())
	}
	parallel := false
	flag.Visit(func(f *flag.Flag) { parallel = parallel || f.Name == "test.parallel" })
	if !parallel {
		_ = flag.Set("test.parallel", strconv.Itoa(defaultParallel))
	}
	os.Exit(run(m))
}

// run starts the providers, runs the tests and stops everything.
func run(m *testing.M) int {
	var err error
	tmpDir, err = os.MkdirTemp("", "oidcsession-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	code := 1
	defer func() {
		if code == 0 && os.Getenv("OIDCSESSION_INTEGRATION_KEEP") == "" {
			os.RemoveAll(tmpDir)
		} else {
			fmt.Fprintf(os.Stderr, "integration: provider logs and configuration kept in %s\n", tmpDir)
		}
	}()
	if err := startSlots(); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer stopSlots()
	for _, name := range providerNames {
		port, err := freePort()
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			return 1
		}
		exampleAddrs[name] = "127.0.0.1:" + strconv.Itoa(port)
	}

	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for name, starter := range map[string]func() (*provider, error){"oidc-provider": startOIDCProvider, "dex": startDex} {
		wg.Go(func() {
			p, err := starter()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				unavailable[name] = err.Error()
				return
			}
			providers[name] = p
		})
	}
	wg.Wait()
	defer func() {
		for _, p := range providers {
			p.stop()
		}
	}()
	for _, name := range providerNames {
		if why, ok := unavailable[name]; ok {
			if mode == "require" {
				fmt.Fprintf(os.Stderr, "integration: FAIL: %s could not be started and OIDCSESSION_INTEGRATION=require: %s\n", name, why)
			} else {
				fmt.Fprintf(os.Stderr, "integration: %s is unavailable, its tests are skipped: %s\n", name, why)
			}
			continue
		}
		fmt.Printf("integration: %s at %s (started in %s)\n", name, providers[name].issuer, time.Since(start).Round(10*time.Millisecond))
	}
	if mode == "require" && len(unavailable) > 0 {
		return 1
	}

	code = m.Run()
	if code != 0 {
		for _, name := range providerNames {
			if p := providers[name]; p != nil {
				fmt.Fprintf(os.Stderr, "\n--- %s log (%s), last lines:\n%s\n", name, p.proc.log.path, p.proc.log.tail(60))
			}
		}
	}
	return code
}

// forEachProvider runs test as a parallel subtest per provider, skipping
// the providers that are not available.
func forEachProvider(t *testing.T, test func(t *testing.T, p *provider)) {
	t.Helper()
	t.Parallel()
	for _, name := range providerNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, need(t, name))
		})
	}
}

// need returns the named provider or skips the test with why it is
// unavailable.
func need(t *testing.T, name string) *provider {
	t.Helper()
	if mode == "off" {
		t.Skip("OIDCSESSION_INTEGRATION=off")
	}
	p := providers[name]
	if p == nil {
		t.Skipf("%s is unavailable: %s", name, unavailable[name])
	}
	return p
}

// provider is one real OpenID provider as the tests see it: where it is,
// its registered clients, what it supports, and how to read its own count
// of what happened.
type provider struct {
	name    string
	issuer  string
	proc    *child
	clients map[string]clientReg // by role: "basic", "post", "public", …

	// What differs between providers, checked by the tests.
	revocation         bool // an RFC 7009 revocation endpoint
	endSession         bool // an end_session_endpoint (RP-initiated logout)
	promptNone         bool // a provider session that prompt=none signs in from
	familyRevocation   bool // presenting a spent refresh token revokes its successors
	consentForOffline  bool // offline_access (a refresh token) needs prompt=consent
	resourceIndicators bool
	issParameter       bool // RFC 9207 iss in the authorization response

	// newUser allocates an account for one test, so the provider's counts
	// can be read per test while tests run in parallel.
	newUser func(t *testing.T) user
	// counts reads the provider's own record of what happened to a user.
	counts func(t *testing.T, u user) counts

	stop func()
}

// clientReg is one client registered at a provider.
type clientReg struct {
	id, secret string
	auth       oidcsession.ClientAuthMethod
	key        *oidcsession.PrivateKeyJWT
	idTokenAlg string // the ID tokens' signing algorithm
}

// options returns the oidcsession options that authenticate as this
// client.
func (c clientReg) options() []oidcsession.Option {
	if c.key != nil {
		return []oidcsession.Option{oidcsession.WithPrivateKeyJWT(*c.key)}
	}
	return []oidcsession.Option{oidcsession.WithClientAuth(c.auth)}
}

// user is an account at a provider: name identifies it in the provider's
// records, login is what is typed in the username field, email is the
// email claim the provider reports. Records before since (a position in
// the provider's log) are about an earlier test that had the account.
type user struct {
	name, login, email string
	since              int
}

// counts is what a provider recorded about one user, from its own events
// or logs. Fields a provider cannot tell stay -1.
type counts struct {
	SignIns       int      // completed sign-ins: oidc-provider's authorization_code grants, Dex's logins
	RefreshGrants int      // successful refresh_token grants
	RefreshErrors []string // refused refresh_token grants: "code: the provider's reason"
	Consumed      int      // refresh tokens spent (rotated) by the provider
	Revoked       int      // grants (token families) revoked, by reuse detection or revocation
	RevokedBy     []string // the route that revoked each: "token" (reuse), "revocation"
	EndSessions   int      // provider sessions ended (RP-initiated logout)
	Backchannel   int      // logout tokens delivered: the app's handler answered 200
	AuthErrors    []string // authorization endpoint errors (login_required, …)
	SilentOK      int      // prompt=none authorizations that succeeded
	// BackchannelErrors are logout tokens the app's handler refused, or
	// that could not be delivered: the provider's reason.
	BackchannelErrors []string
	RevocationErrors  []string // refused revocation requests: "code: description"
}

var userSeq atomic.Int64

// slot is an app server address registered at the providers; a test takes
// one, serves its app on it, and gives it back.
type slot struct {
	index   int
	base    string
	srv     *http.Server
	handler atomic.Pointer[http.Handler]
}

func (s *slot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.handler.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}

var allSlots []*slot

func startSlots() error {
	slots = make(chan *slot, slotCount)
	for range slotCount {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		s := &slot{index: len(allSlots), base: "http://" + ln.Addr().String()}
		s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = s.srv.Serve(ln) }()
		allSlots = append(allSlots, s)
		slots <- s
	}
	return nil
}

func stopSlots() {
	for _, s := range allSlots {
		_ = s.srv.Close()
	}
}

// takeSlot gives the test an app server address for its lifetime.
func takeSlot(t *testing.T, h http.Handler) *slot {
	t.Helper()
	select {
	case s := <-slots:
		s.handler.Store(&h)
		t.Cleanup(func() {
			s.handler.Store(nil)
			slots <- s
		})
		return s
	case <-time.After(2 * time.Minute):
		t.Fatal("no free app slot: raise slotCount")
		return nil
	}
}

// redirectURIs are every callback and post-logout URI the tests may use,
// for the providers' client registrations.
func redirectURIs() (callbacks, postLogout []string) {
	for _, s := range allSlots {
		callbacks = append(callbacks, s.base+"/auth/callback")
		postLogout = append(postLogout, s.base+"/")
	}
	return callbacks, postLogout
}

// exampleURIs are the example app's callback and post-logout URIs for a
// provider.
func exampleURIs(name string) (callback, postLogout string) {
	base := "http://" + exampleAddrs[name]
	return base + "/auth/callback", base + "/signed-out"
}

// repoRoot is the oidcsession repository (the parent of this module).
func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}
