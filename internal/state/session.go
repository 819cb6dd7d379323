// Package state holds what the package keeps between requests — a
// session and a sign-in flow — and their binary codecs. The values are
// sealed (or MAC'd) by package cookie before they leave the process;
// decoders still treat their input as untrusted.
package state

import (
	"errors"
	"time"

	"github.com/oidcsession/oidcsession/internal/wire"
)

// Session is a signed-in user's session. A Session that has been shared
// (decoded from a cookie, handed to a request) is never changed: Clone it.
type Session struct {
	ID           string // random at sign-in, kept across refreshes: names the session
	Subject      string
	SID          string    // the ID token's "sid", for back-channel logout
	Created      time.Time // sign-in; the absolute lifetime runs from here
	LastSeen     time.Time // last recorded request; the idle timeout runs from here
	TokenAt      time.Time // when the access token was obtained
	Expiry       time.Time // access-token expiry; zero when the provider gave none
	AccessToken  *Token
	IDToken      *Token
	RefreshToken string
	TokenType    string // "" means Bearer
	Scope        string
	UserInfo     []byte     // JSON claims from the userinfo endpoint, if fetched
	Resources    []Resource // access tokens for other audiences (RFC 8707)
	UserAgent    string     // a short summary of the browser that signed in ("Firefox on Linux")
}

// Resource is an access token for one resource and scope set, kept beside
// the session's own.
type Resource struct {
	Resource  string // RFC 8707 resource indicator; "" for the default audience
	Scopes    string // the scopes asked for, sorted and space-separated; "" for all granted
	Access    *Token
	TokenType string
	Scope     string // the scope granted
	TokenAt   time.Time
	Expiry    time.Time
	LastUsed  time.Time
}

// Clone returns a copy the caller may change; slices are copied, tokens
// (immutable) are shared.
func (s *Session) Clone() *Session {
	c := *s
	c.Resources = append([]Resource(nil), s.Resources...)
	return &c
}

// Version is the payload format EncodeSession writes.
//
// Compatibility rule: a change of fields bumps Version. DecodeSession
// keeps reading every older version that a live session can still carry,
// that is for at least one absolute session lifetime after the release
// that bumped it, filling new fields with their zero values; a version it
// does not know (newer, or retired) is refused as malformed, which
// Require answers as an invalid session (the user signs in again, nothing
// is half-read). Version 1 (before ID, SID and Resources) is still read;
// its sessions get an ID when they are next written.
const Version = 2

const (
	tokenNone   = 0
	tokenString = 1
	tokenJWT    = 2
)

// maxField bounds any one decoded field; a whole session is far smaller.
const maxField = 1 << 20

// maxResources bounds the resource tokens one payload may hold.
const maxResources = 64

// ErrMalformed is any payload DecodeSession or DecodeFlow cannot read.
var ErrMalformed = errors.New("malformed state")

// EncodeSession appends s's frame to dst:
//
//	version byte, created, lastSeen, tokenAt, expiry (times),
//	id, subject, sid, access token, id token, refresh token, token type
//	("" = Bearer), scope, userinfo, then the resource tokens: a count and,
//	for each, resource, scopes, access token, token type, scope, tokenAt,
//	expiry, lastUsed; and last the user-agent summary.
//
// A token is a kind byte (0 none, 1 string, 2 JWT) and one field (the
// string) or three (the decoded JWT segments).
func EncodeSession(dst []byte, s *Session) []byte {
	dst = append(dst, Version)
	dst = wire.AppendTime(dst, s.Created)
	dst = wire.AppendTime(dst, s.LastSeen)
	dst = wire.AppendTime(dst, s.TokenAt)
	dst = wire.AppendTime(dst, s.Expiry)
	dst = wire.AppendString(dst, s.ID)
	dst = wire.AppendString(dst, s.Subject)
	dst = wire.AppendString(dst, s.SID)
	dst = appendToken(dst, s.AccessToken)
	dst = appendToken(dst, s.IDToken)
	dst = wire.AppendString(dst, s.RefreshToken)
	dst = wire.AppendString(dst, bearerless(s.TokenType))
	dst = wire.AppendString(dst, s.Scope)
	dst = wire.AppendBytes(dst, s.UserInfo)
	dst = wire.AppendUvarint(dst, uint64(len(s.Resources)))
	for _, r := range s.Resources {
		dst = wire.AppendString(dst, r.Resource)
		dst = wire.AppendString(dst, r.Scopes)
		dst = appendToken(dst, r.Access)
		dst = wire.AppendString(dst, bearerless(r.TokenType))
		dst = wire.AppendString(dst, r.Scope)
		dst = wire.AppendTime(dst, r.TokenAt)
		dst = wire.AppendTime(dst, r.Expiry)
		dst = wire.AppendTime(dst, r.LastUsed)
	}
	return wire.AppendString(dst, s.UserAgent)
}

// DecodeSession parses a frame of Version or an older version still read.
// Slices in the result share b, which the caller must not reuse.
func DecodeSession(b []byte) (*Session, error) {
	r := wire.NewReader(b)
	version := r.Byte()
	if version != 1 && version != Version {
		return nil, ErrMalformed
	}
	s := &Session{}
	s.Created, s.LastSeen, s.TokenAt, s.Expiry = r.Time(), r.Time(), r.Time(), r.Time()
	if version >= 2 {
		s.ID = r.String(maxField)
	}
	s.Subject = r.String(maxField)
	if version >= 2 {
		s.SID = r.String(maxField)
	}
	s.AccessToken = readToken(r)
	s.IDToken = readToken(r)
	s.RefreshToken = r.String(maxField)
	s.TokenType = r.String(maxField)
	s.Scope = r.String(maxField)
	if ui := r.Bytes(maxField); len(ui) > 0 {
		s.UserInfo = ui
	}
	if version >= 2 {
		n := r.Uvarint()
		if n > maxResources {
			return nil, ErrMalformed
		}
		for range n {
			var res Resource
			res.Resource, res.Scopes = r.String(maxField), r.String(maxField)
			res.Access = readToken(r)
			res.TokenType, res.Scope = r.String(maxField), r.String(maxField)
			res.TokenAt, res.Expiry, res.LastUsed = r.Time(), r.Time(), r.Time()
			if res.Access == nil {
				return nil, ErrMalformed
			}
			s.Resources = append(s.Resources, res)
		}
		s.UserAgent = r.String(maxField)
	}
	if r.Done() != nil || s.Subject == "" || s.AccessToken == nil || s.Created.IsZero() {
		return nil, ErrMalformed
	}
	return s, nil
}

func bearerless(tokenType string) string {
	if tokenType == "Bearer" {
		return ""
	}
	return tokenType
}

func appendToken(dst []byte, t *Token) []byte {
	switch {
	case t == nil:
		return append(dst, tokenNone)
	case t.isJWT:
		dst = append(dst, tokenJWT)
		for _, seg := range t.segs {
			dst = wire.AppendBytes(dst, seg)
		}
		return dst
	default:
		return wire.AppendString(append(dst, tokenString), t.raw)
	}
}

func readToken(r *wire.Reader) *Token {
	switch r.Byte() {
	case tokenNone:
		return nil
	case tokenString:
		s := r.String(maxField)
		if s == "" {
			r.Fail() // an empty string token is never written
			return nil
		}
		return &Token{raw: s}
	case tokenJWT:
		t := &Token{isJWT: true}
		for i := range t.segs {
			t.segs[i] = r.Bytes(maxField)
		}
		return t
	default:
		r.Fail()
		return nil
	}
}
