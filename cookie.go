package oidcsession

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/securecookie"
)

// maxSetCookie is the most bytes one Set-Cookie value may take, name,
// value and attributes together: RFC 6265 section 6.1 asks browsers for at
// least 4096, and counting the attributes keeps us inside every reading of
// it.
const maxSetCookie = 4096

// sealer seals and opens cookie values with securecookie (AES-CTR +
// HMAC-SHA256) under rotating keys, and writes them as one cookie or as
// numbered chunks.
type sealer struct {
	sealing      *securecookie.SecureCookie   // newest key, no length limit: writeSealed enforces the chunk budget
	codecs       []*securecookie.SecureCookie // newest first, all open, bounded by the chunk budget
	secure       bool
	sameSite     string
	maxChunks    int
	maxFlowValue int // the longest sealed flow cookie value the package writes
	attrsMax     int // the longest attributes string a cookie gets
}

// errUnsealed is a value no key opens: tampered, truncated, expired, or
// sealed with a key that is no longer configured.
var errUnsealed = errors.New("oidcsession: sealed value could not be opened")

// errOversized is a session cookie longer than any the package writes. It
// is refused before any decoding or MAC work, and is built once so that
// refusing costs nothing.
var errOversized = fmt.Errorf("%w: cookie longer than any this package writes", ErrInvalidSession)

// errStrayChunks is a request with session chunks but no first chunk.
var errStrayChunks = fmt.Errorf("%w: session chunks without a first chunk", ErrInvalidSession)

func newSealer(c *config) *sealer {
	s := &sealer{secure: !c.insecureCookies, maxChunks: c.maxChunks}
	switch c.sameSite {
	case http.SameSiteStrictMode:
		s.sameSite = "Strict"
	case http.SameSiteNoneMode:
		s.sameSite = "None"
	case http.SameSiteLaxMode, http.SameSiteDefaultMode:
		s.sameSite = "Lax"
	}
	s.attrsMax = len(s.attributes(999_999_999))
	maxAge := int(c.absoluteLifetime.Seconds()) + 1
	for i := 0; i+1 < len(c.keyPairs); i += 2 {
		sc := securecookie.New(c.keyPairs[i], c.keyPairs[i+1])
		sc.SetSerializer(securecookie.NopEncoder{})
		sc.MaxLength(c.maxChunks * maxSetCookie)
		sc.MaxAge(maxAge)
		s.codecs = append(s.codecs, sc)
	}
	if len(c.keyPairs) >= 2 {
		s.sealing = securecookie.New(c.keyPairs[0], c.keyPairs[1])
		s.sealing.SetSerializer(securecookie.NopEncoder{})
		s.sealing.MaxLength(0)
		// A sealed value's length depends only on the payload's, so the
		// longest flow payload gives the longest flow cookie value.
		if v, err := s.seal("flow", make([]byte, maxFlowPayload)); err == nil {
			s.maxFlowValue = len(v)
		}
	}
	return s
}

// seal encrypts and authenticates payload under the newest key. The MAC
// covers name, so a value cannot be replayed under another cookie's name.
func (s *sealer) seal(name string, payload []byte) (string, error) {
	v, err := s.sealing.Encode(name, payload)
	if err != nil {
		return "", fmt.Errorf("oidcsession: sealing cookie: %w", err)
	}
	return v, nil
}

// open verifies and decrypts value, trying every key. oldKey reports that a
// retired key opened it.
func (s *sealer) open(name, value string) (payload []byte, oldKey bool, err error) {
	var first error
	for i, sc := range s.codecs {
		var b []byte
		if err := sc.Decode(name, value, &b); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		return b, i > 0, nil
	}
	return nil, false, fmt.Errorf("%w: %w", errUnsealed, first)
}

// attributes returns the cookie attributes after the value, for a cookie
// that lives maxAge seconds (negative: delete it now).
func (s *sealer) attributes(maxAge int) string {
	var b strings.Builder
	b.WriteString("; Path=/")
	if maxAge < 0 {
		b.WriteString("; Max-Age=0")
	} else {
		b.WriteString("; Max-Age=")
		b.WriteString(strconv.Itoa(maxAge))
	}
	b.WriteString("; HttpOnly")
	if s.secure {
		b.WriteString("; Secure")
	}
	if s.sameSite != "" {
		b.WriteString("; SameSite=")
		b.WriteString(s.sameSite)
	}
	return b.String()
}

// chunkValueMax is the longest value a cookie called name may carry so that
// its whole Set-Cookie stays within maxSetCookie.
func (s *sealer) chunkValueMax(name string) int {
	return maxSetCookie - len(name) - 1 - s.attrsMax
}

// chunksFor returns how many cookies value takes under name, and how many
// bytes each chunk holds.
func (s *sealer) chunksFor(name, value string) (n, per int) {
	if len(value) <= s.chunkValueMax(name) {
		return 1, len(value)
	}
	per = s.chunkValueMax(name + "." + strconv.Itoa(s.maxChunks-1))
	return (len(value) + per - 1) / per, per
}

// fits reports, as ErrSessionTooLarge, a value that does not fit in the
// chunk budget.
func (s *sealer) fits(name, value string) error {
	if n, _ := s.chunksFor(name, value); n > s.maxChunks {
		return fmt.Errorf("%w: %d bytes sealed need %d cookies, limit %d", ErrSessionTooLarge, len(value), n, s.maxChunks)
	}
	return nil
}

// writeSealed writes value as the cookie name, or as chunks name.0,
// name.1, … when it does not fit in one, and deletes whatever the request
// held that the new value does not use (the single cookie or stale
// chunks).
func (s *sealer) writeSealed(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) error {
	if err := s.fits(name, value); err != nil {
		return err
	}
	present := presentCookies(r, name)
	attrs := s.attributes(maxAge)
	n, per := s.chunksFor(name, value)
	if n == 1 {
		addSetCookie(w, name+"="+value+attrs)
		s.deleteChunks(w, present, name, 0)
		return nil
	}
	for i := 0; i < n; i++ {
		end := min((i+1)*per, len(value))
		addSetCookie(w, name+"."+strconv.Itoa(i)+"="+value[i*per:end]+attrs)
	}
	if present.single {
		addSetCookie(w, name+"="+s.attributes(-1))
	}
	s.deleteChunks(w, present, name, n)
	return nil
}

// clear deletes the cookie name and every other cookie of its namespace
// the request held.
func (s *sealer) clear(w http.ResponseWriter, r *http.Request, name string) {
	present := presentCookies(r, name)
	if present.single {
		addSetCookie(w, name+"="+s.attributes(-1))
	}
	s.deleteChunks(w, present, name, 0)
}

// deleteChunks deletes every cookie name.<anything> the request held except
// the canonical chunks name.0 … name.<keep-1> that were just written.
func (s *sealer) deleteChunks(w http.ResponseWriter, p present, name string, keep int) {
	for _, n := range p.namespaced {
		if i, ok := chunkIndex(n, name); ok && i < keep {
			continue
		}
		addSetCookie(w, n+"="+s.attributes(-1))
	}
}

// chunkIndex returns i when n is exactly name.<i> in canonical decimal.
func chunkIndex(n, name string) (int, bool) {
	rest, ok := strings.CutPrefix(n, name+".")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	return i, err == nil && i >= 0 && strconv.Itoa(i) == rest
}

func addSetCookie(w http.ResponseWriter, line string) {
	h := w.Header()
	h["Set-Cookie"] = append(h["Set-Cookie"], line)
}

// readSealed returns the sealed value of cookie name from the request,
// joining chunks name.0, name.1, … when there is no single cookie. A value
// or chunk longer than the package writes is refused at once, before any
// decoding: forged cookies cost nothing. Chunks without name.0 are an
// untrusted session, so that they get deleted.
func (s *sealer) readSealed(r *http.Request, name string) (string, error) {
	if v, ok := findCookie(r.Header, name); ok {
		if len(v) > s.chunkValueMax(name) {
			return "", errOversized
		}
		return v, nil
	}
	first, ok := findCookie(r.Header, name+".0")
	if !ok {
		if len(presentCookies(r, name).namespaced) > 0 {
			return "", errStrayChunks
		}
		return "", ErrNoSession
	}
	per := s.chunkValueMax(name + "." + strconv.Itoa(s.maxChunks-1))
	if len(first) > per {
		return "", errOversized
	}
	var b strings.Builder
	b.WriteString(first)
	for i := 1; i < s.maxChunks; i++ {
		v, ok := findCookie(r.Header, name+"."+strconv.Itoa(i))
		if !ok {
			break
		}
		if len(v) > per {
			return "", errOversized
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// findCookie returns the value of the first cookie called name in the
// request's Cookie headers. It scans the raw header instead of calling
// r.Cookie, which validates every byte of every cookie and costs
// microseconds for a 3 KB session; the value is authenticated by its MAC
// anyway.
func findCookie(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimLeft(part, " \t")
			if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
				v := strings.TrimRight(part[len(name)+1:], " \t")
				if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				return v, true
			}
		}
	}
	return "", false
}

// maxNamespaced bounds how many cookies of a session's namespace one
// request can make us delete, so a stuffed Cookie header cannot make a
// huge response.
const maxNamespaced = 32

// present lists which cookies of a session's namespace a request carries:
// the single cookie, and every name.<anything> (chunks, canonical or not).
type present struct {
	single     bool
	namespaced []string
}

func presentCookies(r *http.Request, name string) present {
	var p present
	prefix := name + "."
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimLeft(part, " \t")
			k, _, ok := strings.Cut(part, "=")
			k = strings.TrimRight(k, " \t")
			switch {
			case !ok:
			case k == name:
				p.single = true
			case strings.HasPrefix(k, prefix) && len(p.namespaced) < maxNamespaced && !slices.Contains(p.namespaced, k):
				p.namespaced = append(p.namespaced, k)
			}
		}
	}
	return p
}
