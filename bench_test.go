package oidcsession_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gorilla/securecookie"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// typicalProvider issues the "typical session" of the README: a ~1.2 KB
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
	m, err := oidcsession.New(discover(b, op), oauth2.Config{ClientID: op.ClientID(), ClientSecret: op.ClientSecret(), Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}},
		append([]oidcsession.Option{oidcsession.WithKeys(hashKey, blockKey), oidcsession.WithClock(clock.Now), oidcsession.WithLifetime(10*365*24*time.Hour, 0)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// startCookie signs in and returns the session's Cookie header pair.
func startCookie(b *testing.B, m *oidcsession.Middleware, op *oidcsessiontest.Provider) (pair string, tok *oauth2.Token) {
	tok, err := op.IssueTokens(oidcsessiontest.IssueOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if _, err := m.StartSession(rec, httptest.NewRequest("GET", "/", nil), tok); err != nil {
		b.Fatal(err)
	}
	lines := rec.Header().Values("Set-Cookie")
	if len(lines) != 1 {
		b.Fatalf("the session needs %d cookies", len(lines))
	}
	pair, _, _ = strings.Cut(lines[0], ";")
	return pair, tok
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
})

// BenchmarkRequire compares a bare handler with the same handler behind
// Require. Quote the results as ratios to bare from one run.
func BenchmarkRequire(b *testing.B) {
	clock := oidcsessiontest.NewClock(time.Time{})
	op := typicalProvider(b, clock)
	m := benchMiddleware(b, op, clock)
	pair, tok := startCookie(b, m, op)
	protected := m.Require()(okHandler)
	serve := func(b *testing.B, h http.Handler, cookie string) {
		b.ReportAllocs()
		req := httptest.NewRequest("GET", "/api/x", nil)
		req.Header.Set("Cookie", "_ga=GA1.1.12345; theme=dark; "+cookie)
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || len(rec.Header()["Set-Cookie"]) != 0 {
				b.Fatalf("valid session: %d", rec.Code)
			}
		}
	}
	b.Run("bare", func(b *testing.B) { serve(b, okHandler, pair) })
	b.Run("valid", func(b *testing.B) {
		serve(b, protected, pair)
		b.ReportMetric(float64(len(pair)), "cookie-B")
		b.ReportMetric(float64(len(tok.AccessToken)), "at-B")
		b.ReportMetric(float64(len(tok.Extra("id_token").(string))), "idt-B")
	})
	b.Run("valid-uncached", func(b *testing.B) {
		serve(b, benchMiddleware(b, op, clock, oidcsession.WithOpenedCache(0)).Require()(okHandler), pair)
	})
	// securecookie's own Decode of the same value: the floor for any
	// request that has to open the cookie.
	b.Run("securecookie-floor", func(b *testing.B) {
		b.ReportAllocs()
		sc := securecookie.New(hashKey, blockKey)
		sc.SetSerializer(securecookie.NopEncoder{})
		value := strings.TrimPrefix(pair, cookieName+"=")
		for b.Loop() {
			var payload []byte
			if err := sc.Decode(cookieName, value, &payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("expired-inline", func(b *testing.B) {
		b.ReportAllocs()
		current, _ := startCookie(b, m, op)
		before := op.Stats().SuccessfulGrants["refresh_token"]
		for b.Loop() {
			clock.Advance(6 * time.Minute)
			req := httptest.NewRequest("GET", "/api/x", nil)
			req.Header.Set("Cookie", current)
			rec := httptest.NewRecorder()
			protected.ServeHTTP(rec, req)
			set := rec.Header().Values("Set-Cookie")
			if rec.Code != http.StatusOK || len(set) != 1 {
				b.Fatalf("inline refresh: %d, %d cookies", rec.Code, len(set))
			}
			current, _, _ = strings.Cut(set[0], ";")
		}
		b.ReportMetric(float64(op.Stats().SuccessfulGrants["refresh_token"]-before)/float64(b.N), "grants/op")
	})
}

// BenchmarkProxy compares the BFF proxy with a bare httputil.ReverseProxy
// to the same upstream over loopback: the proxy adds Require, the token
// lookup, the header rewrite and Set-Cookie stripping. Quote the results
// as ratios to bare-reverseproxy from one run.
func BenchmarkProxy(b *testing.B) {
	clock := oidcsessiontest.NewClock(time.Time{})
	op := typicalProvider(b, clock)
	m := benchMiddleware(b, op, clock)
	upstream := httptest.NewServer(okHandler)
	b.Cleanup(upstream.Close)
	u, _ := url.Parse(upstream.URL)
	pair, _ := startCookie(b, m, op)

	// A session that also holds a token for a resource.
	withResource := func() string {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", pair)
		rec := httptest.NewRecorder()
		if _, err := m.Token(rec, req, oidcsession.TokenRequest{Resource: ordersAPI}); err != nil {
			b.Fatal(err)
		}
		var parts []string
		for _, line := range rec.Header().Values("Set-Cookie") {
			if p, attrs, _ := strings.Cut(line, ";"); !strings.Contains(attrs, "Max-Age=0") {
				parts = append(parts, p)
			}
		}
		return strings.Join(parts, "; ")
	}()

	serve := func(b *testing.B, h http.Handler, cookie string) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest("GET", "/orders/1", nil)
			req.Header.Set("Cookie", cookie)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || len(rec.Header()["Set-Cookie"]) != 0 {
				b.Fatalf("proxied: %d %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("bare-reverseproxy", func(b *testing.B) { serve(b, httputil.NewSingleHostReverseProxy(u), pair) })
	b.Run("proxy", func(b *testing.B) {
		serve(b, m.Require(oidcsession.TryRefresh())(m.Proxy(u, oidcsession.TokenRequest{})), pair)
	})
	b.Run("proxy-resource", func(b *testing.B) {
		serve(b, m.Require(oidcsession.TryRefresh())(m.Proxy(u, oidcsession.TokenRequest{Resource: ordersAPI})), withResource)
	})
}
