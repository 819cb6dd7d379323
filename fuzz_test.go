package oidcsession

import (
	"net/http/httptest"
	"testing"
	"time"
)

func fuzzStore() *cookieStore {
	return &cookieStore{
		sealer:   newSealer(&config{keyPairs: [][]byte{testHashKey, testBlockKey}, maxChunks: 5, absoluteLifetime: time.Hour}),
		name:     cookieName,
		absolute: time.Hour,
		now:      time.Now,
	}
}

// FuzzDecodeSession feeds arbitrary Cookie headers to the session decoder
// that every request runs: it must never panic, and whatever it accepts
// must round-trip.
func FuzzDecodeSession(f *testing.F) {
	st := fuzzStore()
	sealed, err := st.sealer.seal(cookieName, encodePayload(nil, sampleSession()))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cookieName + "=" + sealed)
	f.Add(cookieName + "=" + sealed[:len(sealed)/2])
	f.Add(cookieName + ".0=" + sealed[:2000] + "; " + cookieName + ".1=" + sealed[2000:])
	f.Add(cookieName + "=\"" + sealed + "\"")
	f.Add("a=b; " + cookieName + "=; c")
	f.Add(cookieName + "=MTIzfGFiY3xkZWY=")
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header["Cookie"] = []string{header}
		s, err := st.load(req)
		if err != nil {
			return
		}
		if _, err := decodePayload(encodePayload(nil, s)); err != nil {
			t.Fatalf("accepted session does not re-encode: %v", err)
		}
	})
}

// FuzzDecodePayload fuzzes the binary frame directly, since the MAC keeps
// random input from reaching it through the cookie.
func FuzzDecodePayload(f *testing.F) {
	f.Add(encodePayload(nil, sampleSession()))
	s := sampleSession()
	s.idToken, s.refreshToken, s.userInfo = nil, "", []byte(`{"a":1}`)
	f.Add(encodePayload(nil, s))
	f.Add([]byte{payloadVersion})
	f.Add([]byte{payloadVersion, 1, 1, 1, 1, 1, 'u', 2, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodePayload(b)
		if err != nil {
			return
		}
		_ = s.AccessToken()
		_ = s.IDToken()
		var claims map[string]any
		_ = s.Claims(&claims)
		again, err := decodePayload(encodePayload(nil, s))
		if err != nil || again.AccessToken() != s.AccessToken() || again.refreshToken != s.refreshToken {
			t.Fatalf("round trip broke: %v", err)
		}
	})
}
