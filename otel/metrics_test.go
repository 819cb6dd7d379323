package otel_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/otel"
)

// Series the tests expect to move.
var (
	outcomeOK = otel.OutcomeKey.String("success")

	grantsOK     = series("oidcsession.refresh.grants", outcomeOK)
	grantTimeOK  = series("oidcsession.refresh.duration", outcomeOK)
	signInsOK    = series("oidcsession.sign_ins", outcomeOK)
	signInTimeOK = series("oidcsession.sign_in.duration", outcomeOK)
	signOuts     = series("oidcsession.sign_outs")
	reuses       = series("oidcsession.token_reuse.detections")
	logoutsOK    = series("oidcsession.backchannel_logouts", outcomeOK)
	cacheHits    = series("oidcsession.cache.lookups", otel.CacheResultKey.String("hit"))
	cacheMisses  = series("oidcsession.cache.lookups", otel.CacheResultKey.String("miss"))
)

func failed(name, class string) string {
	return series(name, otel.OutcomeKey.String("failure"), semconv.ErrorTypeKey.String(class))
}

// call is the oidcsession.provider.duration series of a provider call.
func call(op, grant string, status int) string {
	kvs := []attribute.KeyValue{otel.OperationKey.String(op), semconv.HTTPResponseStatusCode(status)}
	if grant != "" {
		kvs = append(kvs, otel.GrantTypeKey.String(grant))
	}
	if status >= 400 {
		kvs = append(kvs, semconv.ErrorTypeKey.String(fmt.Sprint(status)))
	}
	return series("oidcsession.provider.duration", kvs...)
}

// delta is what moved between two collections.
func delta(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

func describe(m map[string]float64) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("  %s +%g", k, v))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestMetrics drives a Middleware through each kind of event against a
// real provider and checks, step by step, that exactly the expected
// series moved by exactly the expected amounts: every instrument but the
// cache's (TestCacheLookups) and token reuse (TestTokenReuseMetric).
func TestMetrics(t *testing.T) {
	a := newApp(t, appConfig{})
	steps := []struct {
		name string
		do   func(a *app)
		want map[string]float64
	}{
		{"sign-in", (*app).signIn, map[string]float64{
			signInsOK: 1, signInTimeOK: 1,
			call("token", "authorization_code", 200): 1, call("userinfo", "", 200): 1,
		}},
		{"invalid callback", func(a *app) {
			if s := a.get("/auth/callback?state=nope"); s != 400 {
				t.Fatalf("callback: %d", s)
			}
		}, map[string]float64{
			failed("oidcsession.sign_ins", "invalid_callback"): 1, failed("oidcsession.sign_in.duration", "invalid_callback"): 1,
		}},
		{"valid requests", func(a *app) {
			for range 3 {
				if s := a.get("/app"); s != 200 {
					t.Fatalf("/app: %d", s)
				}
			}
		}, map[string]float64{}},
		{"refresh", func(a *app) {
			a.clock.Advance(6 * time.Minute)
			if s := a.get("/app"); s != 200 {
				t.Fatalf("/app: %d", s)
			}
		}, map[string]float64{
			grantsOK: 1, grantTimeOK: 1,
			call("token", "refresh_token", 200): 1, call("userinfo", "", 200): 1,
		}},
		{"transient refresh failure", func(a *app) {
			a.clock.Advance(6 * time.Minute)
			a.op.FailNextRefreshes(1, http.StatusServiceUnavailable, "temporarily_unavailable")
			if s := a.get("/app"); s != 503 {
				t.Fatalf("/app: %d", s)
			}
		}, map[string]float64{
			failed("oidcsession.refresh.grants", "transient"): 1, failed("oidcsession.refresh.duration", "transient"): 1,
			call("token", "refresh_token", 503): 1,
		}},
		{"terminal refresh failure", func(a *app) {
			a.op.FailNextRefreshes(1, http.StatusBadRequest, "invalid_grant")
			if s := a.get("/app"); s != 401 {
				t.Fatalf("/app: %d", s)
			}
		}, map[string]float64{
			failed("oidcsession.refresh.grants", "terminal"): 1, failed("oidcsession.refresh.duration", "terminal"): 1,
			call("token", "refresh_token", 400): 1,
		}},
		{"sign-in again", (*app).signIn, map[string]float64{
			signInsOK: 1, signInTimeOK: 1,
			call("token", "authorization_code", 200): 1, call("userinfo", "", 200): 1,
		}},
		{"back-channel logout refused", func(a *app) {
			if s := a.postLogoutToken("not-a-token"); s != 400 {
				t.Fatalf("back-channel logout: %d", s)
			}
		}, map[string]float64{failed("oidcsession.backchannel_logouts", "invalid_logout_token"): 1}},
		{"back-channel logout", func(a *app) {
			if err := a.op.BackChannelLogout("user-1", ""); err != nil {
				t.Fatal(err)
			}
		}, map[string]float64{logoutsOK: 1}},
		{"sign-out", (*app).signOut, map[string]float64{
			signOuts: 1, call("revocation", "", 200): 1,
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := a.metrics()
			st.do(a)
			var got map[string]float64
			settled := eventually(func() bool {
				got = delta(before, a.metrics())
				delete(got, cacheHits)
				delete(got, cacheMisses)
				return len(got) >= len(st.want)
			})
			if !settled || describe(got) != describe(st.want) {
				t.Fatalf("moved:\n%s\nwant:\n%s", describe(got), describe(st.want))
			}
		})
	}
	_, sums := flatten(a.tel.collect(t))
	for _, k := range []string{grantTimeOK, signInTimeOK, call("token", "refresh_token", 200)} {
		if sums[k] <= 0 {
			t.Errorf("%s: durations add up to %g s", k, sums[k])
		}
	}
	if k := a.tap.kinds(); !k["access_token"] || !k["refresh_token"] || !k["id_token"] || !k["code"] || !k["client_secret"] || !k["authorization credential"] {
		t.Errorf("the tap saw only %v: the secret check is incomplete", k)
	}
}

// TestTokenReuseMetric: a server-side session's cookie replayed after
// rotation counts one detection (and its revocation call).
func TestTokenReuseMetric(t *testing.T) {
	a := newApp(t, appConfig{opts: []oidcsession.Option{oidcsession.WithStore(oidcsession.NewMemoryStore())}})
	if s := a.get("/test/signin"); s != http.StatusNoContent {
		t.Fatalf("sign-in: %d", s)
	}
	stolen := a.cookieHeader()
	a.clock.Advance(6 * time.Minute)
	if s := a.get("/app"); s != 200 {
		t.Fatalf("refresh: %d", s)
	}
	a.clock.Advance(time.Minute) // past the grace window
	if !eventually(func() bool { return a.metrics()[grantsOK] == 1 }) {
		t.Fatal("the refresh was not counted")
	}
	before := a.metrics()
	status, _ := a.do(http.MethodGet, "/app", http.Header{"Cookie": {stolen}}, nil, false)
	if status != 401 {
		t.Fatalf("replay: %d", status)
	}
	got := delta(before, a.metrics())
	delete(got, cacheHits)
	delete(got, cacheMisses)
	want := map[string]float64{reuses: 1, call("revocation", "", 200): 1}
	if describe(got) != describe(want) {
		t.Fatalf("moved:\n%s\nwant:\n%s", describe(got), describe(want))
	}
}

// TestCacheLookups: the lookups counter follows CacheStats of the
// observed Middleware, stays put (never goes down) once stopped, counts
// only lookups made while observed, and adds up several Middlewares.
func TestCacheLookups(t *testing.T) {
	a := newApp(t, appConfig{})
	a.signIn()
	for range 3 {
		a.get("/app")
	}
	hits, misses := a.m.CacheStats()
	got := a.metrics()
	if hits < 3 || misses == 0 || got[cacheHits] != float64(hits) || got[cacheMisses] != float64(misses) {
		t.Fatalf("CacheStats %d hits, %d misses; metric %g, %g", hits, misses, got[cacheHits], got[cacheMisses])
	}

	// A second holder of the same Middleware does not count it twice, and
	// stopping one holder keeps it observed.
	stop2, err := a.inst.ObserveCache(a.m)
	if err != nil {
		t.Fatal(err)
	}
	a.get("/app")
	stop2()
	stop2()
	a.get("/app")
	if got := a.metrics(); got[cacheHits] != float64(hits+2) {
		t.Fatalf("with two holders: %g hits, want %d", got[cacheHits], hits+2)
	}

	// Another Middleware observed by the same Instrumentation adds up;
	// once stopped, its lookups stay counted but no new ones are.
	b := newApp(t, appConfig{})
	stopB, err := a.inst.ObserveCache(b.m)
	if err != nil {
		t.Fatal(err)
	}
	b.signIn()
	b.get("/app")
	bh, bm := b.m.CacheStats()
	if got := a.metrics(); got[cacheHits] != float64(hits+2+bh) || got[cacheMisses] != float64(misses+bm) {
		t.Fatalf("two Middlewares: %g hits, %g misses; want %d, %d", got[cacheHits], got[cacheMisses], hits+2+bh, misses+bm)
	}
	stopB()
	b.get("/app")
	if got := a.metrics(); got[cacheHits] != float64(hits+2+bh) {
		t.Fatalf("after stop: %g hits, want %d", got[cacheHits], hits+2+bh)
	}

	// Observed again, it counts from then on.
	stopB, _ = a.inst.ObserveCache(b.m)
	defer stopB()
	b.get("/app")
	if got := a.metrics(); got[cacheHits] != float64(hits+2+bh+1) {
		t.Fatalf("observed again: %g hits, want %d", got[cacheHits], hits+2+bh+1)
	}

	if _, err := a.inst.ObserveCache(nil); err == nil {
		t.Fatal("ObserveCache(nil) succeeded")
	}
}

// TestCacheNotObserved: an Instrumentation whose ObserveCache was never
// called reports no cache series at all (not zeros).
func TestCacheNotObserved(t *testing.T) {
	a := newApp(t, appConfig{})
	tel := newTelemetry(t)
	if _, err := otel.New(discover(t, a.op), tel.options()...); err != nil {
		t.Fatal(err)
	}
	values, _ := flatten(tel.collect(t))
	if _, ok := values[cacheHits]; ok || len(values) != 0 {
		t.Fatalf("series before anything happened: %v", values)
	}
}
