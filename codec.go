package oidcsession

import (
	"encoding/binary"
	"errors"
	"time"
)

// The session payload is a compact binary frame, sealed by securecookie.
// Neither gob nor JSON: with securecookie's two base64 passes a typical
// session (1.2 KB access token, 1 KB ID token) as JSON is about 4.5 KB and
// does not fit in one cookie; storing JWT segments decoded and framing in
// binary brings it to about 3.4 KB.
//
//	version   byte (payloadVersion)
//	created   uvarint unix seconds
//	lastSeen  uvarint unix seconds
//	tokenAt   uvarint unix seconds
//	expiry    uvarint unix seconds, 0 = none
//	subject   bytes
//	access    token
//	id        token
//	refresh   bytes
//	tokenType bytes ("" = Bearer)
//	scope     bytes
//	userInfo  bytes
//
// bytes = uvarint length + data; token = kind byte (0 none, 1 string,
// 2 JWT) + one bytes (string) or three bytes (decoded JWT segments).
const payloadVersion = 1

const (
	tokenNone   = 0
	tokenString = 1
	tokenJWT    = 2
)

var errMalformedPayload = errors.New("malformed session payload")

// encodePayload appends the session's frame to dst.
func encodePayload(dst []byte, s *Session) []byte {
	dst = append(dst, payloadVersion)
	dst = appendTime(dst, s.created)
	dst = appendTime(dst, s.lastSeen)
	dst = appendTime(dst, s.tokenAt)
	dst = appendTime(dst, s.expiry)
	dst = appendBytes(dst, []byte(s.subject))
	dst = appendToken(dst, s.accessToken)
	dst = appendToken(dst, s.idToken)
	dst = appendBytes(dst, []byte(s.refreshToken))
	tt := s.tokenType
	if tt == "Bearer" {
		tt = ""
	}
	dst = appendBytes(dst, []byte(tt))
	dst = appendBytes(dst, []byte(s.scope))
	dst = appendBytes(dst, s.userInfo)
	return dst
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() || t.Unix() <= 0 {
		return binary.AppendUvarint(dst, 0)
	}
	return binary.AppendUvarint(dst, uint64(t.Unix()))
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendToken(dst []byte, t *token) []byte {
	switch {
	case t == nil:
		return append(dst, tokenNone)
	case t.isJWT:
		dst = append(dst, tokenJWT)
		for _, seg := range t.segs {
			dst = appendBytes(dst, seg)
		}
		return dst
	default:
		dst = append(dst, tokenString)
		return appendBytes(dst, []byte(t.raw))
	}
}

// decodePayload parses a frame. Slices in the result share b, which the
// caller must not reuse.
func decodePayload(b []byte) (*Session, error) {
	d := decoder{b: b}
	if d.byte() != payloadVersion {
		return nil, errMalformedPayload
	}
	s := &Session{}
	s.created = d.time()
	s.lastSeen = d.time()
	s.tokenAt = d.time()
	s.expiry = d.time()
	s.subject = string(d.bytes())
	s.accessToken = d.token()
	s.idToken = d.token()
	s.refreshToken = string(d.bytes())
	s.tokenType = string(d.bytes())
	s.scope = string(d.bytes())
	if ui := d.bytes(); len(ui) > 0 {
		s.userInfo = ui
	}
	if d.err || len(d.b) != 0 {
		return nil, errMalformedPayload
	}
	if s.subject == "" || s.accessToken == nil || s.created.IsZero() {
		return nil, errMalformedPayload
	}
	return s, nil
}

// decoder reads a frame; any read past the end sets err and returns zero
// values, so callers check once at the end.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) time() time.Time {
	v := d.uvarint()
	if v == 0 || v > 1<<40 {
		return time.Time{}
	}
	return time.Unix(int64(v), 0)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = true
		d.b = nil
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) token() *token {
	switch d.byte() {
	case tokenNone:
		return nil
	case tokenString:
		s := d.bytes()
		if len(s) == 0 {
			d.err = true
			return nil
		}
		return &token{raw: string(s)}
	case tokenJWT:
		t := &token{isJWT: true}
		for i := range t.segs {
			t.segs[i] = d.bytes()
		}
		return t
	default:
		d.err = true
		return nil
	}
}
