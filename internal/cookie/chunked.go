package cookie

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The errors of Chunked.
var (
	// ErrAbsent: the request carries no cookie of the name.
	ErrAbsent = errors.New("no such cookie")
	// ErrInvalid: the request carries cookies of the name that cannot be
	// a value the package wrote (too long, or chunks without the first).
	ErrInvalid = errors.New("cookie is not one this package writes")
	// ErrTooLarge: a value does not fit in the chunk budget.
	ErrTooLarge = errors.New("value too large for its cookies")
)

// MaxSetCookie is the most bytes one Set-Cookie value may take, name,
// value and attributes together: RFC 6265 section 6.1 asks browsers for at
// least 4096, and counting the attributes keeps us inside every reading of
// it.
const MaxSetCookie = 4096

// maxNamespaced bounds how many cookies of a namespace one request can make
// us delete, so a stuffed Cookie header cannot make a huge response.
const maxNamespaced = 32

// Chunked stores a value as the cookie Name or, when it does not fit in
// one, as chunks Name.0, Name.1, …; every other cookie Name.<anything> is
// its namespace and is deleted whenever the value is written or cleared.
type Chunked struct {
	name      string
	attrs     Attrs
	maxChunks int
	single    int // the longest value of one cookie
	chunk     int // the longest value of one chunk
}

// NewChunked describes the cookies of one value.
func NewChunked(name string, attrs Attrs, maxChunks int) *Chunked {
	over := len(attrs.String(999_999_999))
	return &Chunked{
		name: name, attrs: attrs, maxChunks: maxChunks,
		single: MaxSetCookie - len(name) - 1 - over,
		chunk:  MaxSetCookie - len(name) - len(".") - len(strconv.Itoa(maxChunks-1)) - 1 - over,
	}
}

// Name is the cookie's name.
func (c *Chunked) Name() string { return c.name }

// MaxLen is the longest value the chunks can hold.
func (c *Chunked) MaxLen() int { return c.maxChunks * c.chunk }

// chunks returns how many chunks value needs (1: a single cookie).
func (c *Chunked) chunks(value string) int {
	if len(value) <= c.single {
		return 1
	}
	return (len(value) + c.chunk - 1) / c.chunk
}

// Fits reports ErrTooLarge for a value that needs more than maxChunks.
func (c *Chunked) Fits(value string) error {
	if c.chunks(value) > c.maxChunks {
		return ErrTooLarge
	}
	return nil
}

// Read returns the value from h: the single cookie, or the chunks joined.
// A cookie or chunk longer than Write ever writes is refused before any
// other work, so forged values cost nothing.
func (c *Chunked) Read(h http.Header) (string, error) {
	if v, ok := Find(h, c.name); ok {
		if len(v) > c.single {
			return "", ErrInvalid
		}
		return v, nil
	}
	first, ok := Find(h, c.name+".0")
	if !ok {
		if len(c.namespace(h)) > 0 {
			return "", ErrInvalid
		}
		return "", ErrAbsent
	}
	if len(first) > c.chunk {
		return "", ErrInvalid
	}
	var b strings.Builder
	b.WriteString(first)
	for i := 1; i < c.maxChunks; i++ {
		v, ok := Find(h, c.name+"."+strconv.Itoa(i))
		if !ok {
			break
		}
		if len(v) > c.chunk {
			return "", ErrInvalid
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// Write sets value as one cookie or as chunks living maxAge seconds, and
// deletes whatever else of the namespace the request (h) held. It replaces
// what an earlier Write or Clear of the same response set, so a handler
// that updates the session twice sends only the last.
func (c *Chunked) Write(w http.ResponseWriter, h http.Header, value string, maxAge int) error {
	n := c.chunks(value)
	if n > c.maxChunks {
		return ErrTooLarge
	}
	c.unset(w)
	single, others := c.present(h)
	if n == 1 {
		Set(w, c.name, value, c.attrs, maxAge)
		c.deleteExcept(w, others, 0)
		return nil
	}
	for i := range n {
		Set(w, c.name+"."+strconv.Itoa(i), value[i*c.chunk:min((i+1)*c.chunk, len(value))], c.attrs, maxAge)
	}
	if single {
		Delete(w, c.name, c.attrs)
	}
	c.deleteExcept(w, others, n)
	return nil
}

// Clear deletes every cookie of the namespace the request (h) held.
func (c *Chunked) Clear(w http.ResponseWriter, h http.Header) {
	c.unset(w)
	single, others := c.present(h)
	if single {
		Delete(w, c.name, c.attrs)
	}
	c.deleteExcept(w, others, 0)
}

// unset drops the Set-Cookie lines of the namespace the response already
// holds.
func (c *Chunked) unset(w http.ResponseWriter) {
	h := w.Header()
	lines := h["Set-Cookie"]
	if len(lines) == 0 {
		return
	}
	kept := lines[:0]
	for _, l := range lines {
		name, _, _ := strings.Cut(l, "=")
		if name != c.name && !strings.HasPrefix(name, c.name+".") {
			kept = append(kept, l)
		}
	}
	h["Set-Cookie"] = kept
}

// present reports whether h holds the single cookie, and lists the other
// cookies of the namespace.
func (c *Chunked) present(h http.Header) (single bool, others []string) {
	prefix := c.name + "."
	Scan(h, func(n, _ string) bool {
		switch {
		case n == c.name:
			single = true
		case strings.HasPrefix(n, prefix) && len(others) < maxNamespaced && !slices.Contains(others, n):
			others = append(others, n)
		}
		return true
	})
	return single, others
}

func (c *Chunked) namespace(h http.Header) []string {
	_, others := c.present(h)
	return others
}

// deleteExcept deletes the cookies in names except the canonical chunks
// name.0 … name.<keep-1> just written.
func (c *Chunked) deleteExcept(w http.ResponseWriter, names []string, keep int) {
	for _, n := range names {
		rest := n[len(c.name)+1:]
		if i, err := strconv.Atoi(rest); err == nil && i >= 0 && i < keep && strconv.Itoa(i) == rest {
			continue
		}
		Delete(w, n, c.attrs)
	}
}
