package oidcsession

import (
	"bytes"
	"encoding/base64"
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

func sampleSession() *Session {
	now := time.Unix(1_800_000_000, 0)
	return &Session{
		subject:      "user-1",
		created:      now,
		lastSeen:     now,
		tokenAt:      now,
		expiry:       now.Add(5 * time.Minute),
		accessToken:  newToken(fakeJWT(`{"sub":"user-1","scope":"openid"}`, 1200)),
		idToken:      newToken(fakeJWT(`{"iss":"https://op.example","sub":"user-1","aud":"client"}`, 1000)),
		refreshToken: strings.Repeat("r", 100),
		tokenType:    "Bearer",
		scope:        "openid profile",
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Session)
	}{
		{"typical", func(*Session) {}},
		{"opaque access token", func(s *Session) { s.accessToken = newToken("opaque-token.value") }},
		{"non-canonical JWT kept as string", func(s *Session) { s.accessToken = newToken("eyJ=.e30.sig") }},
		{"no ID token", func(s *Session) { s.idToken = nil }},
		{"no refresh token", func(s *Session) { s.refreshToken = "" }},
		{"no expiry", func(s *Session) { s.expiry = time.Time{} }},
		{"userinfo and DPoP type", func(s *Session) { s.userInfo = []byte(`{"sub":"user-1"}`); s.tokenType = "DPoP" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sampleSession()
			tt.change(s)
			got, err := decodePayload(encodePayload(nil, s))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.AccessToken() != s.AccessToken() || got.IDToken() != s.IDToken() ||
				got.refreshToken != s.refreshToken || got.subject != s.subject ||
				!got.expiry.Equal(s.expiry) || !got.created.Equal(s.created) ||
				got.TokenType() != s.TokenType() || got.scope != s.scope ||
				!bytes.Equal(got.userInfo, s.userInfo) {
				t.Fatalf("round trip changed the session:\n got %+v\nwant %+v", got, s)
			}
		})
	}
}

func TestPayloadStoresJWTDecoded(t *testing.T) {
	s := sampleSession()
	raw := len(s.AccessToken()) + len(s.IDToken()) + len(s.refreshToken)
	n := len(encodePayload(nil, s))
	if n > raw*80/100 {
		t.Fatalf("payload %d bytes for %d bytes of tokens: JWTs are not stored decoded", n, raw)
	}
}

func TestDecodePayloadRejectsMalformed(t *testing.T) {
	good := encodePayload(nil, sampleSession())
	tests := map[string][]byte{
		"empty":           nil,
		"wrong version":   append([]byte{9}, good[1:]...),
		"truncated":       good[:len(good)/2],
		"trailing bytes":  append(append([]byte(nil), good...), 0),
		"huge length":     {payloadVersion, 1, 1, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad token kind":  {payloadVersion, 1, 1, 1, 1, 1, 'u', 7},
		"missing subject": encodePayload(nil, &Session{created: time.Unix(1, 0), accessToken: newToken("x")}),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodePayload(b); err == nil {
				t.Fatal("decoded malformed payload")
			}
		})
	}
}

func TestSessionRedactsTokens(t *testing.T) {
	s := sampleSession()
	for _, out := range []string{s.String(), s.GoString(), s.LogValue().String()} {
		if strings.Contains(out, s.refreshToken) || strings.Contains(out, s.AccessToken()[:40]) || strings.Contains(out, s.IDToken()[:40]) {
			t.Fatalf("token leaked: %s", out)
		}
		if !strings.Contains(out, "user-1") {
			t.Fatalf("subject missing: %s", out)
		}
	}
}
