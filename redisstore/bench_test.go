package redisstore

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// typicalProvider issues the core README's "typical session": a ~1.2 KB
// access-token JWT and a ~1 KB ID-token JWT, both RS256.
func typicalProvider(b *testing.B, clock *oidcsessiontest.Clock) *oidcsessiontest.Provider {
	return oidcsessiontest.New(b, oidcsessiontest.Config{
		Now: clock.Now,
		AccessTokenClaims: map[string]any{
			"roles":       []string{"reader", "writer", "billing-admin", "support"},
			"permissions": strings.Repeat("read:documents write:documents ", 9),
			"tenant":      "acme-corporation-eu-west",
		},
		IDTokenClaims: map[string]any{"picture": "https://cdn.example.com/avatars/" + strings.Repeat("a", 152) + ".png"},
	})
}

func benchMiddleware(b *testing.B, op *oidcsessiontest.Provider, clock *oidcsessiontest.Clock, opts ...oidcsession.Option) *oidcsession.Middleware {
	p, err := oidc.NewProvider(context.Background(), op.Issuer())
	if err != nil {
		b.Fatal(err)
	}
	m, err := oidcsession.New(p, oauth2.Config{ClientID: op.ClientID(), ClientSecret: op.ClientSecret(), Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}},
		append([]oidcsession.Option{oidcsession.WithKeys(hashKey, blockKey), oidcsession.WithClock(clock.Now), oidcsession.WithLifetime(10*365*24*time.Hour, 0)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// startCookie signs in on m and returns the session's cookie pair.
func startCookie(b *testing.B, m *oidcsession.Middleware, op *oidcsessiontest.Provider) string {
	tok, err := op.IssueTokens(oidcsessiontest.IssueOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if _, err := m.StartSession(rec, httptest.NewRequest("GET", "/", nil), tok); err != nil {
		b.Fatal(err)
	}
	return sessionCookie(b, rec.Result().Cookies())
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
})

// BenchmarkRequire compares a bare handler with the same handler behind
// Require with sessions in Redis. Quote the results as ratios to bare from
// one run; rt/op counts round trips to Redis.
func BenchmarkRequire(b *testing.B) {
	srv := startRedis(b)
	clock := oidcsessiontest.NewClock(time.Time{})
	op := typicalProvider(b, clock)
	rt := &counter{}
	st := newStoreOn(b, srv.client(b, rt), WithPrefix("bench:"))
	m := benchMiddleware(b, op, clock, oidcsession.WithStore(st))
	pair := startCookie(b, m, op)
	serve := func(b *testing.B, h http.Handler, cookie string, rt *counter) {
		b.ReportAllocs()
		req := httptest.NewRequest("GET", "/api/x", nil)
		req.Header.Set("Cookie", "_ga=GA1.1.12345; theme=dark; "+cookie)
		before := rt.n.Load()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || len(rec.Header()["Set-Cookie"]) != 0 {
				b.Fatalf("valid session: %d", rec.Code)
			}
		}
		b.ReportMetric(float64(rt.n.Load()-before)/float64(b.N), "rt/op")
	}
	b.Run("bare", func(b *testing.B) { serve(b, okHandler, pair, rt) })
	b.Run("valid-redis", func(b *testing.B) {
		serve(b, m.Require()(okHandler), pair, rt)
		b.ReportMetric(float64(len(pair)), "cookie-B")
	})
	// The first request on a replica: nothing cached, neither the record
	// (no local cache) nor its opened session (no opened cache).
	coldRT := &counter{}
	cold := newStoreOn(b, srv.client(b, coldRT), WithPrefix("bench:"), WithCacheSize(0))
	b.Run("valid-redis-cold", func(b *testing.B) {
		serve(b, benchMiddleware(b, op, clock, oidcsession.WithStore(cold), oidcsession.WithOpenedCache(0)).Require()(okHandler), pair, coldRT)
	})
	// One round trip alone: the read valid-redis-cold makes, of the same
	// 3 KB record.
	b.Run("redis-round-trip", func(b *testing.B) {
		b.ReportAllocs()
		recs, err := cold.rdb.Keys(context.Background(), "bench:{*}:rec").Result()
		if err != nil || len(recs) != 1 {
			b.Fatalf("the session's record: %v %v", recs, err)
		}
		for b.Loop() {
			if v, err := cold.rdb.HMGet(context.Background(), recs[0], "g", "r").Result(); err != nil || v[1] == nil {
				b.Fatal(v, err)
			}
		}
	})
	b.Run("expired-inline-redis", func(b *testing.B) {
		b.ReportAllocs()
		current := startCookie(b, m, op)
		grants, trips := op.Stats().SuccessfulGrants["refresh_token"], rt.n.Load()
		for b.Loop() {
			clock.Advance(6 * time.Minute)
			req := httptest.NewRequest("GET", "/api/x", nil)
			req.Header.Set("Cookie", current)
			rec := httptest.NewRecorder()
			m.Require()(okHandler).ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("inline refresh: %d", rec.Code)
			}
			current = sessionCookie(b, rec.Result().Cookies())
		}
		b.ReportMetric(float64(op.Stats().SuccessfulGrants["refresh_token"]-grants)/float64(b.N), "grants/op")
		b.ReportMetric(float64(rt.n.Load()-trips)/float64(b.N), "rt/op")
	})
}

// BenchmarkStorm: four replicas on one Redis, 1,000 sessions whose access
// tokens expire at once, each then requested once on one of them
// (concurrently). Every session is refreshed by exactly one grant and
// every request answered 200; ns/op is the storm's wall time. Run it with
// -benchtime 1x.
//
// The storm saturates this machine's two cores (1,000 TLS handshakes and
// RS256-signed token pairs at the in-process provider), so a Redis call
// can wait in the Go scheduler for more than the default second; the
// stores get stormTimeout instead, as a deployment expecting such storms
// on small machines would.
func BenchmarkStorm(b *testing.B) {
	const sessions, replicas = 1000, 4
	srv := startRedis(b)
	clock := oidcsessiontest.NewClock(time.Time{})
	op := typicalProvider(b, clock)
	var ms []*oidcsession.Middleware
	for range replicas {
		st := newStoreOn(b, srv.client(b), WithPrefix("storm:"), WithTimeout(stormTimeout))
		ms = append(ms, benchMiddleware(b, op, clock, oidcsession.WithStore(st)))
	}
	for b.Loop() {
		b.StopTimer()
		cookies := make([]string, sessions)
		for i := range cookies {
			cookies[i] = startCookie(b, ms[i%replicas], op)
		}
		clock.Advance(6 * time.Minute)
		before := op.Stats().SuccessfulGrants["refresh_token"]
		b.StartTimer()
		failed := storm(ms, cookies)
		b.StopTimer()
		if g := op.Stats().SuccessfulGrants["refresh_token"] - before; g != sessions || failed != 0 || op.Stats().ReuseDetections != 0 {
			b.Fatalf("%d grants for %d sessions, %d failed requests, %d reuse detections", g, sessions, failed, op.Stats().ReuseDetections)
		}
		b.StartTimer()
	}
	b.ReportMetric(sessions, "grants/op")
}

// stormTimeout is the Redis timeout of the storm's stores.
const stormTimeout = 5 * time.Second

// storm requests every cookie once, concurrently, on the replicas in turn,
// and returns how many answers were not 200.
func storm(ms []*oidcsession.Middleware, cookies []string) (failed int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, c := range cookies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest("GET", "/api/x", nil)
			req.Header.Set("Cookie", c)
			rec := httptest.NewRecorder()
			ms[i%len(ms)].Require()(okHandler).ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}
