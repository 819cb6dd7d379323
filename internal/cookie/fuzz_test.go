package cookie

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzChunkReassembly feeds arbitrary Cookie headers to Read: it must
// never panic, never return more than the chunk budget, and whatever it
// reads must survive a write and read back unchanged.
func FuzzChunkReassembly(f *testing.F) {
	c := NewChunked("s", attrs, 5)
	f.Add("s=abc")
	f.Add("s.0=" + strings.Repeat("a", 3000) + "; s.1=bbb")
	f.Add("s.1=x; s.0=y; s.2=z")
	f.Add(`s="quoted"; s.0=x`)
	f.Add("s.0=; s.1=; s.01=x")
	f.Fuzz(func(t *testing.T, header string) {
		h := http.Header{"Cookie": {header}}
		v, err := c.Read(h)
		if err != nil {
			return
		}
		if len(v) > c.MaxLen() {
			t.Fatalf("read %d bytes, budget %d", len(v), c.MaxLen())
		}
		if strings.ContainsAny(v, " \t\"") {
			return // never written by the package (it writes base64url); a forged one fails its MAC
		}
		rec := httptest.NewRecorder()
		if err := c.Write(rec, h, v, 60); err != nil {
			t.Fatalf("a value read back does not write: %v", err)
		}
		if got, err := c.Read(cookies(rec, http.Header{})); err != nil || got != v {
			t.Fatalf("write then read: %q %v, want %q", got, err, v)
		}
	})
}
