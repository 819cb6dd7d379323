package state

import (
	"encoding/base64"
	"strings"
	"sync"
)

// jwtEncoding is the base64url form JWT segments use. Strict decoding makes
// decode-then-encode give back the same string, so storing a segment
// decoded is lossless.
var jwtEncoding = base64.RawURLEncoding.Strict()

// Token holds a token either as the string the provider sent or, for a
// compact JWT, as its three segments base64url-decoded: a quarter smaller
// in a cookie, and an ID token's claims are readable without decoding. The
// string form is rebuilt once, on first use. A Token is immutable.
type Token struct {
	raw   string    // the string form, when known
	segs  [3][]byte // decoded segments, when isJWT
	isJWT bool
	once  sync.Once
	str   string
}

// NewToken wraps a token string, keeping a decoded form when it is a JWT
// whose segments round-trip exactly. It returns nil for "".
func NewToken(s string) *Token {
	if s == "" {
		return nil
	}
	t := &Token{raw: s}
	first := strings.IndexByte(s, '.')
	second := strings.LastIndexByte(s, '.')
	if first < 0 || second == first {
		return t
	}
	var segs [3][]byte
	for i, p := range [3]string{s[:first], s[first+1 : second], s[second+1:]} {
		b, err := jwtEncoding.DecodeString(p)
		if err != nil {
			return t
		}
		segs[i] = b
	}
	t.segs, t.isJWT = segs, true
	return t
}

// String returns the token as the provider sent it; "" for nil.
func (t *Token) String() string {
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

// Payload returns a JWT's decoded claims segment, or nil.
func (t *Token) Payload() []byte {
	if t == nil || !t.isJWT {
		return nil
	}
	return t.segs[1]
}
