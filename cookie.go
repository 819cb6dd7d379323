package oidcsession

import (
	"fmt"
	"net/http"
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
	sealing   *securecookie.SecureCookie   // newest key, no length limit: writeSealed enforces the chunk budget
	codecs    []*securecookie.SecureCookie // newest first, all open, bounded by the chunk budget
	secure    bool
	sameSite  string
	maxChunks int
}

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
	return nil, false, fmt.Errorf("%w: %w", ErrInvalidSession, first)
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
	return maxSetCookie - len(name) - 1 - len(s.attributes(999_999_999))
}

// writeSealed writes value as the cookie name, or as chunks name.0,
// name.1, … when it does not fit in one, and deletes whatever the request
// held that the new value does not use (the single cookie or stale
// chunks).
func (s *sealer) writeSealed(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) error {
	present := presentCookies(r, name)
	attrs := s.attributes(maxAge)
	if len(value) <= s.chunkValueMax(name) {
		addSetCookie(w, name+"="+value+attrs)
		s.deleteChunks(w, present, name, 0)
		return nil
	}
	per := s.chunkValueMax(name + "." + strconv.Itoa(s.maxChunks-1))
	n := (len(value) + per - 1) / per
	if n > s.maxChunks {
		return fmt.Errorf("%w: %d bytes sealed need %d cookies, limit %d", ErrSessionTooLarge, len(value), n, s.maxChunks)
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

// clear deletes the cookie name and every chunk of it the request held.
func (s *sealer) clear(w http.ResponseWriter, r *http.Request, name string) {
	present := presentCookies(r, name)
	if present.single {
		addSetCookie(w, name+"="+s.attributes(-1))
	}
	s.deleteChunks(w, present, name, 0)
}

func (s *sealer) deleteChunks(w http.ResponseWriter, p present, name string, from int) {
	for _, i := range p.chunks {
		if i >= from {
			addSetCookie(w, name+"."+strconv.Itoa(i)+"="+s.attributes(-1))
		}
	}
}

func addSetCookie(w http.ResponseWriter, line string) {
	h := w.Header()
	h["Set-Cookie"] = append(h["Set-Cookie"], line)
}

// readSealed returns the sealed value of cookie name from the request,
// joining chunks name.0, name.1, … when there is no single cookie.
func (s *sealer) readSealed(r *http.Request, name string) (string, error) {
	if v, ok := findCookie(r.Header, name); ok {
		return v, nil
	}
	first, ok := findCookie(r.Header, name+".0")
	if !ok {
		return "", ErrNoSession
	}
	var b strings.Builder
	b.WriteString(first)
	for i := 1; i < s.maxChunks; i++ {
		v, ok := findCookie(r.Header, name+"."+strconv.Itoa(i))
		if !ok {
			break
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

// present lists which session cookies a request carries.
type present struct {
	single bool
	chunks []int
}

func presentCookies(r *http.Request, name string) present {
	var p present
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimLeft(part, " \t")
			k, _, ok := strings.Cut(part, "=")
			if !ok || !strings.HasPrefix(k, name) {
				continue
			}
			if k == name {
				p.single = true
				continue
			}
			if rest, ok := strings.CutPrefix(k, name+"."); ok {
				if i, err := strconv.Atoi(rest); err == nil && i >= 0 && i < 100 && strconv.Itoa(i) == rest {
					p.chunks = append(p.chunks, i)
				}
			}
		}
	}
	return p
}
