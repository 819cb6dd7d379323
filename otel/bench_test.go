package otel_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
	"github.com/oidcsession/oidcsession/otel"
)

// BenchmarkRequire: a request with a valid session costs the same with
// the instrumentation's options as without, since no event fires and no
// provider call is made on that path (the cache figures are read only at
// collection). The instrumented run checks that nothing was counted.
//
//	go test -run '^$' -bench . -benchmem -count 5
func BenchmarkRequire(b *testing.B) {
	clock := oidcsessiontest.NewClock(time.Time{})
	op := oidcsessiontest.New(b, oidcsessiontest.Config{Now: clock.Now})
	provider := discover(b, op)
	for _, instrumented := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "instrumented"}[instrumented], func(b *testing.B) {
			tel := newTelemetry(b)
			opts := []oidcsession.Option{oidcsession.WithKeys(hashKey, blockKey), oidcsession.WithClock(clock.Now)}
			var inst *otel.Instrumentation
			if instrumented {
				var err error
				if inst, err = otel.New(provider, tel.options()...); err != nil {
					b.Fatal(err)
				}
				opts = append(inst.Options(), opts...)
			}
			m, err := oidcsession.New(provider, oauth2.Config{ClientID: op.ClientID(), ClientSecret: op.ClientSecret(),
				Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}}, opts...)
			if err != nil {
				b.Fatal(err)
			}
			if inst != nil {
				stop, _ := inst.ObserveCache(m)
				defer stop()
			}
			cookie := startCookie(b, m, op)
			h := m.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
			req := httptest.NewRequest(http.MethodGet, "/app", nil)
			req.Header.Set("Cookie", cookie)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusNoContent {
					b.Fatalf("status %d", w.Code)
				}
			}
			if values, _ := flatten(tel.collect(b)); instrumented && (len(values) != 2 || values[cacheHits] == 0) {
				b.Fatalf("a valid request moved %v", values)
			}
		})
	}
}

// startCookie starts a session and returns its Cookie header.
func startCookie(b *testing.B, m *oidcsession.Middleware, op *oidcsessiontest.Provider) string {
	tok, err := op.IssueTokens(oidcsessiontest.IssueOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if _, err := m.StartSession(rec, httptest.NewRequest(http.MethodGet, "/", nil), tok); err != nil {
		b.Fatal(err)
	}
	var pairs []string
	for _, line := range rec.Header().Values("Set-Cookie") {
		pair, _, _ := strings.Cut(line, ";")
		pairs = append(pairs, pair)
	}
	return strings.Join(pairs, "; ")
}

// BenchmarkOnEvent is the hook's cost per event, with the SDK.
func BenchmarkOnEvent(b *testing.B) {
	op := oidcsessiontest.New(b, oidcsessiontest.Config{})
	inst, err := otel.New(discover(b, op), newTelemetry(b).options()...)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		e    oidcsession.Event
	}{
		{"refresh", oidcsession.Event{Kind: oidcsession.EventRefresh, Duration: 80 * time.Millisecond}},
		{"refresh-failed", oidcsession.Event{Kind: oidcsession.EventRefresh, Err: oidcsession.ErrRefreshFailed, Class: "transient", Duration: time.Second}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				inst.OnEvent(ctx, c.e)
			}
		})
	}
}

// BenchmarkTransport is what the instrumented transport adds to one token
// request (span, grant_type from a copy of the form, histogram) over the
// bare transport, against a local server that answers at once.
func BenchmarkTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
	}))
	b.Cleanup(srv.Close)
	op := oidcsessiontest.New(b, oidcsessiontest.Config{})
	tel := newTelemetry(b)
	inst, err := otel.New(discover(b, op), otel.WithMeterProvider(tel.mp),
		otel.WithTracerProvider(sdktrace.NewTracerProvider())) // sampled and recorded, not exported
	if err != nil {
		b.Fatal(err)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {strings.Repeat("r", 64)}, "client_id": {"client"}}.Encode()
	for _, c := range []struct {
		name   string
		client *http.Client
	}{{"bare", http.DefaultClient}, {"instrumented", inst.HTTPClient()}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/token", strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := c.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
