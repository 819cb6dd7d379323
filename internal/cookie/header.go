package cookie

import (
	"net/http"
	"strconv"
	"strings"
)

// Scan calls fn with the name and value of every cookie in h's Cookie
// headers, in order, until fn returns false. It reads the raw header
// instead of calling r.Cookie, which validates every byte of every cookie
// and costs microseconds for a 3 KB session; the values that matter are
// authenticated by their MAC anyway. Surrounding quotes are removed.
func Scan(h http.Header, fn func(name, value string) bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, value, ok := strings.Cut(part, "=")
			if !ok {
				continue
			}
			name, value = trimOWS(name), trimOWS(value)
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if !fn(name, value) {
				return
			}
		}
	}
}

// trimOWS removes the spaces and tabs around s (strings.Trim with a
// cutset builds a set on every call, which shows on the valid path).
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// Find returns the value of the first cookie called name.
func Find(h http.Header, name string) (value string, ok bool) {
	Scan(h, func(n, v string) bool {
		if n == name {
			value, ok = v, true
			return false
		}
		return true
	})
	return value, ok
}

// Attrs are the attributes every cookie of the package gets: Path=/,
// HttpOnly, and these.
type Attrs struct {
	Secure   bool
	SameSite string // "Lax", "Strict", "None" or "" (none sent)
}

// String is the attribute list after a cookie's value, for a cookie that
// lives maxAge seconds (0 or less: delete it now).
func (a Attrs) String(maxAge int) string {
	var b strings.Builder
	b.Grow(64)
	b.WriteString("; Path=/; Max-Age=")
	b.WriteString(strconv.Itoa(max(maxAge, 0)))
	b.WriteString("; HttpOnly")
	if a.Secure {
		b.WriteString("; Secure")
	}
	if a.SameSite != "" {
		b.WriteString("; SameSite=")
		b.WriteString(a.SameSite)
	}
	return b.String()
}

// Set adds one Set-Cookie line. Lines are written verbatim: names and
// values are the package's own, already safe.
func Set(w http.ResponseWriter, name, value string, a Attrs, maxAge int) {
	h := w.Header()
	h["Set-Cookie"] = append(h["Set-Cookie"], name+"="+value+a.String(maxAge))
}

// Delete adds a Set-Cookie line that deletes name.
func Delete(w http.ResponseWriter, name string, a Attrs) { Set(w, name, "", a, 0) }
