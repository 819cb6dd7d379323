// Package cookie holds the mechanics of the package's cookies: sealing
// under rotating keys, the one scanner of the raw Cookie header, the one
// attribute builder, values split over numbered chunks, and the cache of
// values already opened.
package cookie

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
)

// ErrUnsealed is a value no key opens: tampered, truncated, expired, or
// sealed with a key that is no longer configured.
var ErrUnsealed = errors.New("sealed value could not be opened")

// Sealer seals values with securecookie (AES-CTR + HMAC-SHA256) under the
// newest key pair and opens them with any, so keys rotate by prepending a
// pair. It also signs short references (MAC only, no encryption) for
// values whose secrecy is not needed, such as a server-side session's id.
type Sealer struct {
	sealing *securecookie.SecureCookie   // newest key, no length limit: callers enforce theirs
	codecs  []*securecookie.SecureCookie // newest first, all open
	refMACs []*sync.Pool                 // newest first: keyed HMACs of references, reused (keying costs two allocations and two blocks)
}

// NewSealer builds a Sealer from hash/block key pairs, newest first. Sealed
// values older than maxAge are refused; values longer than maxLen are
// refused before any work.
func NewSealer(keyPairs [][]byte, maxAge time.Duration, maxLen int) *Sealer {
	s := &Sealer{}
	for i := 0; i+1 < len(keyPairs); i += 2 {
		sc := securecookie.New(keyPairs[i], keyPairs[i+1])
		sc.SetSerializer(securecookie.NopEncoder{})
		sc.MaxLength(maxLen)
		sc.MaxAge(int(maxAge.Seconds()) + 1)
		s.codecs = append(s.codecs, sc)
		// A separate key for references, so the two MACs never share one.
		m := hmac.New(sha256.New, keyPairs[i])
		m.Write([]byte("oidcsession reference MAC v1"))
		key := m.Sum(nil)
		s.refMACs = append(s.refMACs, &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }})
	}
	if len(keyPairs) >= 2 {
		s.sealing = securecookie.New(keyPairs[0], keyPairs[1])
		s.sealing.SetSerializer(securecookie.NopEncoder{})
		s.sealing.MaxLength(0)
	}
	return s
}

// Seal encrypts and authenticates payload under the newest key. The MAC
// covers name, so a value cannot be replayed under another cookie's name.
func (s *Sealer) Seal(name string, payload []byte) (string, error) {
	return s.sealing.Encode(name, payload)
}

// Open verifies and decrypts value, trying every key. oldKey reports that
// a retired key opened it.
func (s *Sealer) Open(name, value string) (payload []byte, oldKey bool, err error) {
	for i, sc := range s.codecs {
		var b []byte
		if sc.Decode(name, value, &b) == nil {
			return b, i > 0, nil
		}
	}
	return nil, false, ErrUnsealed
}

// SealedLen returns how long Seal's output is for a payload of n bytes: it
// depends on nothing else (until the Unix time gains an eleventh digit).
func (s *Sealer) SealedLen(n int) int {
	v, err := s.Seal("x", make([]byte, n))
	if err != nil {
		return 0
	}
	return len(v)
}

// refMAC is the truncated MAC of a reference: 128 bits.
const refMAC = 16

// SignRef returns payload and a MAC over name and payload, base64url: a
// reference that cannot be forged or moved to another cookie's name, but
// is not secret. 16 bytes of payload give 43 characters.
func (s *Sealer) SignRef(name string, payload []byte) string {
	sum := mac(s.refMACs[0], name, payload)
	b := append(append([]byte(nil), payload...), sum[:]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// OpenRef checks a reference made by SignRef with any key and returns its
// payload; oldKey reports that a retired key made it.
func (s *Sealer) OpenRef(name, value string, maxPayload int) (payload []byte, oldKey bool, err error) {
	if len(value) > base64.RawURLEncoding.EncodedLen(maxPayload+refMAC) {
		return nil, false, ErrUnsealed
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(value)
	if err != nil || len(b) < refMAC {
		return nil, false, ErrUnsealed
	}
	payload, sum := b[:len(b)-refMAC], b[len(b)-refMAC:]
	for i, p := range s.refMACs {
		if want := mac(p, name, payload); hmac.Equal(sum, want[:]) {
			return payload, i > 0, nil
		}
	}
	return nil, false, ErrUnsealed
}

// mac is the truncated MAC of name and payload with a keyed HMAC from p.
func mac(p *sync.Pool, name string, payload []byte) (sum [refMAC]byte) {
	m := p.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write(payload)
	var full [sha256.Size]byte
	copy(sum[:], m.Sum(full[:0]))
	p.Put(m)
	return sum
}
