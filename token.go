package oidcsession

import (
	"encoding/base64"
	"strings"
	"sync"
)

// jwtEncoding is the base64url form JWT segments use. Strict decoding makes
// decode-then-encode give back the same string, so storing a segment decoded
// is lossless.
var jwtEncoding = base64.RawURLEncoding.Strict()

// token holds a token either as the string the provider sent or, for a
// compact JWT, as its three segments base64url-decoded: a quarter smaller in
// the cookie, and the ID token's claims are readable without decoding. The
// string form is rebuilt once, on first use. A token is immutable.
type token struct {
	raw   string    // the string form, when known
	segs  [3][]byte // decoded segments, when isJWT
	isJWT bool
	once  sync.Once
	str   string
}

// newToken wraps a token string, keeping a decoded form when it is a JWT
// whose segments round-trip exactly.
func newToken(s string) *token {
	if s == "" {
		return nil
	}
	t := &token{raw: s}
	first := strings.IndexByte(s, '.')
	second := strings.LastIndexByte(s, '.')
	if first < 0 || second == first {
		return t
	}
	parts := [3]string{s[:first], s[first+1 : second], s[second+1:]}
	var segs [3][]byte
	for i, p := range parts {
		b, err := jwtEncoding.DecodeString(p)
		if err != nil {
			return t
		}
		segs[i] = b
	}
	t.segs, t.isJWT = segs, true
	return t
}

// String returns the token as sent by the provider.
func (t *token) String() string {
	if t == nil {
		return ""
	}
	if t.raw != "" {
		return t.raw
	}
	t.once.Do(func() {
		n := jwtEncoding.EncodedLen(len(t.segs[0])) + jwtEncoding.EncodedLen(len(t.segs[1])) + jwtEncoding.EncodedLen(len(t.segs[2])) + 2
		buf := make([]byte, 0, n)
		buf = jwtEncoding.AppendEncode(buf, t.segs[0])
		buf = append(buf, '.')
		buf = jwtEncoding.AppendEncode(buf, t.segs[1])
		buf = append(buf, '.')
		buf = jwtEncoding.AppendEncode(buf, t.segs[2])
		t.str = string(buf)
	})
	return t.str
}

// payload returns a JWT's decoded claims segment, or nil.
func (t *token) payload() []byte {
	if t == nil || !t.isJWT {
		return nil
	}
	return t.segs[1]
}
