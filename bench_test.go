package oidcsession

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// typicalProvider issues the "typical session" of the README: a ~1.2 KB
// access-token JWT and a ~1 KB ID-token JWT, both RS256.
func typicalProvider(b *testing.B, clock *fakeClock) *oidcsessiontest.Provider {
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

func benchMiddleware(b *testing.B, op *oidcsessiontest.Provider, clock *fakeClock, opts ...Option) *Middleware {
	provider, err := oidc.NewProvider(context.Background(), op.Issuer())
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(provider, oauth2.Config{ClientID: op.ClientID(), ClientSecret: op.ClientSecret(), Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}},
		append([]Option{WithKeys(testHashKey, testBlockKey), WithClock(clock.Now), WithLifetime(10*365*24*time.Hour, 0)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// startCookie signs in and returns the session's Set-Cookie line.
func startCookie(b *testing.B, m *Middleware, op *oidcsessiontest.Provider) (line string, tok *oauth2.Token) {
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
		b.Fatalf("typical session needs %d cookies", len(lines))
	}
	return lines[0], tok
}

func cookiePair(setCookie string) string {
	pair, _, _ := strings.Cut(setCookie, ";")
	return pair
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
})

// BenchmarkRequire compares a bare handler with the same handler behind
// Require. Quote the results as ratios to bare from one run.
func BenchmarkRequire(b *testing.B) {
	clock := newFakeClock()
	op := typicalProvider(b, clock)
	m := benchMiddleware(b, op, clock)
	line, tok := startCookie(b, m, op)
	protected := m.Require()(okHandler)

	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		req := httptest.NewRequest("GET", "/api/x", nil)
		req.Header.Set("Cookie", cookiePair(line))
		for b.Loop() {
			rec := httptest.NewRecorder()
			okHandler.ServeHTTP(rec, req)
		}
	})

	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		req := httptest.NewRequest("GET", "/api/x", nil)
		req.Header.Set("Cookie", "_ga=GA1.1.12345; theme=dark; "+cookiePair(line))
		for b.Loop() {
			rec := httptest.NewRecorder()
			protected.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || len(rec.Header()["Set-Cookie"]) != 0 {
				b.Fatalf("valid session: %d", rec.Code)
			}
		}
		b.ReportMetric(float64(len(line)), "cookie-B")
		b.ReportMetric(float64(len(tok.AccessToken)), "at-B")
		b.ReportMetric(float64(len(tok.Extra("id_token").(string))), "idt-B")
	})

	b.Run("valid-uncached", func(b *testing.B) {
		b.ReportAllocs()
		cold := benchMiddleware(b, op, clock, WithOpenedCache(0))
		h := cold.Require()(okHandler)
		req := httptest.NewRequest("GET", "/api/x", nil)
		req.Header.Set("Cookie", "_ga=GA1.1.12345; theme=dark; "+cookiePair(line))
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("valid session: %d", rec.Code)
			}
		}
	})

	// securecookie's own Decode of the same value: the floor for any
	// request that has to open the cookie.
	b.Run("securecookie-floor", func(b *testing.B) {
		b.ReportAllocs()
		value := strings.TrimPrefix(cookiePair(line), cookieName+"=")
		sc := m.sealer.codecs[0]
		for b.Loop() {
			var payload []byte
			if err := sc.Decode(cookieName, value, &payload); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("expired-inline", func(b *testing.B) {
		b.ReportAllocs()
		fresh, _ := startCookie(b, m, op)
		current := cookiePair(fresh)
		before := op.SuccessfulGrants("refresh_token")
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
			current = cookiePair(set[0])
		}
		b.ReportMetric(float64(op.SuccessfulGrants("refresh_token")-before)/float64(b.N), "grants/op")
	})
}
