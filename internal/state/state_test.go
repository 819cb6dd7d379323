package state

import (
	"bytes"
	"encoding/base64"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeJWT builds a JWT-shaped string whose payload is claims and whose
// encoded length is about size bytes.
func fakeJWT(claims string, size int) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k1","typ":"JWT"}`))
	pad := size - len(h) - 2 - base64.RawURLEncoding.EncodedLen(len(claims)) - 342
	if pad > 0 {
		claims = strings.TrimSuffix(claims, "}") + `,"pad":"` + strings.Repeat("x", pad*3/4) + `"}`
	}
	p := base64.RawURLEncoding.EncodeToString([]byte(claims))
	sig := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xA5}, 256))
	return h + "." + p + "." + sig
}

// sample is the typical session of the README: a 1.2 KB access-token JWT,
// a 1 KB ID token and a refresh token.
func sample() *Session {
	now := time.Unix(1_800_000_000, 0)
	return &Session{
		ID: "session-1", Subject: "user-1", Created: now, LastSeen: now, TokenAt: now, Expiry: now.Add(5 * time.Minute),
		AccessToken:  NewToken(fakeJWT(`{"sub":"user-1","scope":"openid"}`, 1200)),
		IDToken:      NewToken(fakeJWT(`{"iss":"https://op.example","sub":"user-1","aud":"client"}`, 1000)),
		RefreshToken: strings.Repeat("r", 100),
		TokenType:    "Bearer",
		Scope:        "openid profile",
	}
}

// same compares sessions field by field through their encoding (which
// covers every field) and their token strings.
func same(a, b *Session) bool {
	return bytes.Equal(EncodeSession(nil, a), EncodeSession(nil, b)) &&
		a.AccessToken.String() == b.AccessToken.String() && a.IDToken.String() == b.IDToken.String()
}

func TestSessionRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Session)
	}{
		{"typical", func(*Session) {}},
		{"opaque access token", func(s *Session) { s.AccessToken = NewToken("opaque-token.value") }},
		{"non-canonical JWT kept as string", func(s *Session) { s.AccessToken = NewToken("eyJ=.e30.sig") }},
		{"no ID token", func(s *Session) { s.IDToken = nil }},
		{"no refresh token", func(s *Session) { s.RefreshToken = "" }},
		{"no expiry", func(s *Session) { s.Expiry = time.Time{} }},
		{"userinfo, sid, user agent and DPoP", func(s *Session) {
			s.UserInfo, s.TokenType, s.SID, s.UserAgent = []byte(`{"sub":"user-1"}`), "DPoP", "sid-1", "Firefox on Linux"
		}},
		{"resource tokens", func(s *Session) {
			s.Resources = []Resource{
				{Resource: "https://api.example/", Scopes: "read", Access: NewToken(fakeJWT(`{"aud":"https://api.example/"}`, 600)), Scope: "read", TokenAt: s.TokenAt, Expiry: s.Expiry, LastUsed: s.TokenAt},
				{Scopes: "openid", Access: NewToken("opaque"), TokenType: "N_A", Expiry: s.Expiry},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sample()
			tt.change(s)
			got, err := DecodeSession(EncodeSession(nil, s))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !same(got, s) {
				t.Fatalf("round trip changed the session:\n got %+v\nwant %+v", got, s)
			}
		})
	}
}

// TestReadsVersion1 opens a payload written by the previous release
// (format version 1, before SID and resource tokens): it must still be
// read, with the new fields empty.
func TestReadsVersion1(t *testing.T) {
	b, err := os.ReadFile("testdata/session-v1.payload")
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 1 {
		t.Fatalf("golden payload has version %d", b[0])
	}
	got, err := DecodeSession(b)
	if err != nil {
		t.Fatalf("version 1 payload refused: %v", err)
	}
	want := sample()
	want.ID = ""
	want.UserInfo = []byte(`{"sub":"user-1","name":"Test User"}`)
	if !same(got, want) || got.SID != "" || got.Resources != nil {
		t.Fatalf("version 1 payload read as %+v", got)
	}
}

func TestStoresJWTDecoded(t *testing.T) {
	s := sample()
	raw := len(s.AccessToken.String()) + len(s.IDToken.String()) + len(s.RefreshToken)
	if n := len(EncodeSession(nil, s)); n > raw*80/100 {
		t.Fatalf("payload %d bytes for %d bytes of tokens: JWTs are not stored decoded", n, raw)
	}
}

func TestDecodeSessionRejectsMalformed(t *testing.T) {
	good := EncodeSession(nil, sample())
	tests := map[string][]byte{
		"empty":           nil,
		"unknown version": append([]byte{9}, good[1:]...),
		"newer version":   append([]byte{Version + 1}, good[1:]...),
		"truncated":       good[:len(good)/2],
		"trailing bytes":  append(append([]byte(nil), good...), 0),
		"huge length":     {Version, 1, 1, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad token kind":  {Version, 1, 1, 1, 1, 0, 1, 'u', 0, 7},
		"missing subject": EncodeSession(nil, &Session{Created: time.Unix(1, 0), AccessToken: NewToken("x")}),
		"too many resources": func() []byte {
			s := sample()
			for range maxResources + 1 {
				s.Resources = append(s.Resources, Resource{Access: NewToken("x")})
			}
			return EncodeSession(nil, s)
		}(),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeSession(b); err == nil {
				t.Fatal("decoded a malformed payload")
			}
		})
	}
}

func TestFlowRoundTrip(t *testing.T) {
	for _, f := range []*Flow{
		{State: strings.Repeat("S", 26), Verifier: strings.Repeat("v", 43), Nonce: "n", ReturnTo: "/", Created: time.Unix(1_700_000_000, 0)},
		{State: strings.Repeat("S", 26), ReturnTo: "/a?b=c#d", Prompt: "none", Silent: true, Renew: true, Created: time.Unix(1_700_000_000, 0)},
	} {
		got, err := DecodeFlow(EncodeFlow(f))
		if err != nil {
			t.Fatal(err)
		}
		got.Created = got.Created.UTC()
		f.Created = f.Created.UTC()
		if !reflect.DeepEqual(got, f) {
			t.Fatalf("got %+v, want %+v", got, f)
		}
	}
	long := &Flow{State: strings.Repeat("S", 26), Verifier: strings.Repeat("v", 43), Nonce: strings.Repeat("n", 26),
		ReturnTo: "/" + strings.Repeat("r", 511), Prompt: "login consent select_account", Created: time.Unix(1_700_000_000, 0)}
	if n := len(EncodeFlow(long)); n > MaxFlow(512) {
		t.Fatalf("the longest flow is %d bytes, MaxFlow says %d", n, MaxFlow(512))
	}
}
