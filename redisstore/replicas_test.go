package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

var (
	hashKey  = []byte("0123456789abcdef0123456789abcdef")
	blockKey = []byte("fedcba9876543210fedcba9876543210")
)

// cookieName is the session cookie's name under secure defaults.
const cookieName = "__Host-oidcsession"

// deployment is several replicas of one application: each its own
// Middleware and TLS server, sharing one provider, one clock and one
// Redis.
type deployment struct {
	t        *testing.T
	clock    *oidcsessiontest.Clock
	op       *oidcsessiontest.Provider
	redis    *redisServer
	replicas []*replica
	panics   atomic.Int64 // handler panics, on any replica
}

// replica is one application server.
type replica struct {
	d      *deployment
	st     *Store
	rt     *counter // round trips of this replica's Redis client
	m      *oidcsession.Middleware
	app    *httptest.Server
	client *http.Client
}

// mode is how a deployment keeps sessions.
type mode string

const (
	serverSide mode = "store"   // WithStore(redis)
	cookies    mode = "cookies" // sessions in cookies, WithCoordinator(redis)
)

// newDeployment starts n replicas on one Redis (started for it).
func newDeployment(t *testing.T, n int, md mode, opts ...oidcsession.Option) *deployment {
	t.Helper()
	d := &deployment{t: t, clock: oidcsessiontest.NewClock(time.Time{}), redis: startRedis(t)}
	d.op = oidcsessiontest.New(t, oidcsessiontest.Config{Now: d.clock.Now})
	prefix := WithPrefix("app:")
	for range n {
		rt := &counter{}
		st := newStoreOn(t, d.redis.client(t, rt), prefix)
		opt := oidcsession.WithStore(st)
		if md == cookies {
			opt = oidcsession.WithCoordinator(st)
		}
		d.replicas = append(d.replicas, d.newReplica(st, rt, append([]oidcsession.Option{opt}, opts...)))
	}
	return d
}

func (d *deployment) newReplica(st *Store, rt *counter, opts []oidcsession.Option) *replica {
	t := d.t
	p, err := oidc.NewProvider(context.Background(), d.op.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	oc := oauth2.Config{ClientID: d.op.ClientID(), ClientSecret: d.op.ClientSecret(),
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
	r := &replica{d: d, st: st, rt: rt}
	opts = append([]oidcsession.Option{oidcsession.WithKeys(hashKey, blockKey), oidcsession.WithClock(d.clock.Now)}, opts...)
	if r.m, err = oidcsession.New(p, oc, opts...); err != nil {
		t.Fatal(err)
	}
	r.app = httptest.NewTLSServer(d.recoverer(r.routes()))
	t.Cleanup(r.app.Close)
	tr := r.app.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	r.client = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	return r
}

// recoverer counts panics (net/http would log and drop them) and answers
// 500, so a test can say there was none.
func (d *deployment) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				d.panics.Add(1)
				d.t.Errorf("panic: %v", p)
				w.WriteHeader(500)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func (r *replica) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/auth/refresh", r.m.RefreshHandler())
	mux.Handle("/auth/logout", r.m.LogoutHandler())
	mux.Handle("/auth/backchannel-logout", r.m.BackChannelLogoutHandler())
	mux.Handle("/app", r.m.Require()(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s, _ := oidcsession.FromContext(req.Context())
		sum := sha256.Sum256([]byte(s.AccessToken()))
		_, _ = io.WriteString(w, hex.EncodeToString(sum[:8]))
	})))
	return mux
}

// startSession signs a user in (tokens straight from the provider) and
// returns the session's cookie pair.
func (d *deployment) startSession() string {
	d.t.Helper()
	cookie, err := d.trySession()
	if err != nil {
		d.t.Fatal(err)
	}
	return cookie
}

// trySession is startSession for when Redis may be unavailable.
func (d *deployment) trySession() (string, error) {
	tok, err := d.op.IssueTokens(oidcsessiontest.IssueOptions{})
	if err != nil {
		return "", err
	}
	rec := httptest.NewRecorder()
	if _, err := d.replicas[0].m.StartSession(rec, httptest.NewRequest("GET", "/", nil), tok); err != nil {
		return "", err
	}
	return sessionCookie(d.t, rec.Result().Cookies()), nil
}

// sessionCookie is the name=value of the session cookie among cs.
func sessionCookie(t testing.TB, cs []*http.Cookie) string {
	for _, c := range cs {
		if c.Name == cookieName && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("no session cookie in %v", cs)
	return ""
}

// answer is what a replica answered.
type answer struct {
	status int
	body   string
	header http.Header
	cookie string // the new session cookie's pair, if one was set
}

// caller is how a request reaches the session: inline (Require) or the
// refresh endpoint.
type caller string

const (
	inline  caller = "inline"
	handler caller = "handler"
)

// do sends one request with cookie to r.
func (r *replica) do(c caller, cookie string) answer {
	req, _ := http.NewRequest("GET", r.app.URL+"/app", nil)
	if c == handler {
		req, _ = http.NewRequest("POST", r.app.URL+"/auth/refresh", nil)
		req.Header.Set(oidcsession.CSRFHeader, "1")
	}
	return r.send(req, cookie)
}

// logout signs out on r with the CSRF header.
func (r *replica) logout(cookie string) answer {
	req, _ := http.NewRequest("POST", r.app.URL+"/auth/logout", nil)
	req.Header.Set(oidcsession.CSRFHeader, "1")
	req.Header.Set("Accept", "application/json")
	return r.send(req, cookie)
}

func (r *replica) send(req *http.Request, cookie string) answer {
	req.Header.Set("Cookie", cookie)
	resp, err := r.client.Do(req)
	if err != nil {
		r.d.t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
		return answer{}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, body: string(body), header: resp.Header}
	for _, c := range resp.Cookies() {
		if c.Name == cookieName && c.Value != "" {
			a.cookie = c.Name + "=" + c.Value
		}
	}
	return a
}

// errorCode is the "error" of a JSON error answer.
func (a answer) errorCode() string {
	var v struct{ Error string }
	_ = json.Unmarshal([]byte(a.body), &v)
	return v.Error
}

// storm sends n concurrent requests with cookie, spread over the
// replicas, and returns the answers.
func (d *deployment) storm(n int, c caller, cookie string) []answer {
	out := make([]answer, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = d.replicas[i%len(d.replicas)].do(c, cookie)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// within waits up to limit for done, polling, and reports how long it
// took; the test fails if it never holds.
func within(t testing.TB, limit time.Duration, done func() bool, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for !done() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(2 * time.Millisecond) // polling a replica's answer: there is no event to wait on
	}
	return time.Since(start)
}

// grants is the provider's count of refresh_token grants.
func (d *deployment) grants() int { return d.op.Stats().Grants["refresh_token"] }

// mustAll fails unless every answer is a 2xx.
func mustAll2xx(t *testing.T, as []answer) {
	t.Helper()
	for _, a := range as {
		if a.status/100 != 2 {
			t.Fatalf("an answer was %d %s", a.status, strings.TrimSpace(a.body))
		}
	}
}
