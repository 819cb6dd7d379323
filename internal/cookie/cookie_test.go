package cookie

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var (
	hashKey  = []byte("0123456789abcdef0123456789abcdef")
	blockKey = []byte("fedcba9876543210fedcba9876543210")
	attrs    = Attrs{Secure: true, SameSite: "Lax"}
)

func TestScanAndFind(t *testing.T) {
	h := http.Header{"Cookie": {`a=1; session.0=x;session=v1 ; b="q"; novalue; c=`, "session=second"}}
	tests := []struct{ name, want string }{{"session", "v1"}, {"a", "1"}, {"b", "q"}, {"session.0", "x"}, {"sess", ""}, {"c", ""}}
	for _, tt := range tests {
		if got, _ := Find(h, tt.name); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if _, ok := Find(h, "novalue"); ok {
		t.Error("a cookie without = was found")
	}
}

func TestAttrs(t *testing.T) {
	if got := (Attrs{Secure: true, SameSite: "Strict"}).String(60); got != "; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Strict" {
		t.Fatal(got)
	}
	if got := (Attrs{}).String(-5); got != "; Path=/; Max-Age=0; HttpOnly" {
		t.Fatal(got)
	}
}

// cookies turns a response's Set-Cookie lines into a request Cookie header
// on top of prior, dropping deleted ones, as a browser would: it takes
// each line's name and value verbatim, up to the first ";".
func cookies(rec *httptest.ResponseRecorder, prior http.Header) http.Header {
	jar := map[string]string{}
	var order []string
	Scan(prior, func(n, v string) bool { jar[n] = v; order = append(order, n); return true })
	for _, line := range rec.Header().Values("Set-Cookie") {
		pair, rest, _ := strings.Cut(line, ";")
		n, v, _ := strings.Cut(pair, "=")
		if strings.Contains(rest, "Max-Age=0") {
			delete(jar, n)
			continue
		}
		if _, ok := jar[n]; !ok {
			order = append(order, n)
		}
		jar[n] = v
	}
	var parts []string
	for _, n := range order {
		if v, ok := jar[n]; ok {
			parts = append(parts, n+"="+v)
		}
	}
	return http.Header{"Cookie": {strings.Join(parts, "; ")}}
}

func TestChunkedRoundTrip(t *testing.T) {
	c := NewChunked("__Host-s", attrs, 5)
	for _, size := range []int{10, 3900, 9000, c.MaxLen()} {
		value := strings.Repeat("v", size)
		rec := httptest.NewRecorder()
		if err := c.Write(rec, http.Header{}, value, 60); err != nil {
			t.Fatalf("%d: %v", size, err)
		}
		for _, line := range rec.Header().Values("Set-Cookie") {
			if len(line) > MaxSetCookie {
				t.Fatalf("%d: a line of %d bytes", size, len(line))
			}
		}
		got, err := c.Read(cookies(rec, http.Header{}))
		if err != nil || got != value {
			t.Fatalf("%d: read %d bytes, %v", size, len(got), err)
		}
	}
	if err := c.Fits(strings.Repeat("v", c.MaxLen()+1)); err != ErrTooLarge {
		t.Fatalf("over the budget: %v", err)
	}
}

// TestShrinkingBackToOneCookie: a value that needed chunks and now fits in
// one cookie deletes every chunk.
func TestShrinkingBackToOneCookie(t *testing.T) {
	c := NewChunked("s", attrs, 5)
	rec := httptest.NewRecorder()
	_ = c.Write(rec, http.Header{}, strings.Repeat("v", 9000), 60)
	jar := cookies(rec, http.Header{})
	rec = httptest.NewRecorder()
	_ = c.Write(rec, jar, "small", 60)
	var wrote, deleted []string
	for _, ck := range rec.Result().Cookies() {
		if ck.MaxAge < 0 {
			deleted = append(deleted, ck.Name)
		} else {
			wrote = append(wrote, ck.Name)
		}
	}
	if len(wrote) != 1 || wrote[0] != "s" || len(deleted) != 3 {
		t.Fatalf("wrote %v, deleted %v", wrote, deleted)
	}
}

// TestSecondWriteReplacesFirst: a response that writes the session twice
// (a handler that obtains two tokens) carries only the second value, with
// no chunk of the first left behind, and other cookies untouched.
func TestSecondWriteReplacesFirst(t *testing.T) {
	c := NewChunked("s", attrs, 5)
	rec := httptest.NewRecorder()
	http.SetCookie(rec, &http.Cookie{Name: "other", Value: "1"})
	_ = c.Write(rec, http.Header{}, strings.Repeat("a", 9000), 60)
	_ = c.Write(rec, http.Header{}, "small", 60)
	jar := cookies(rec, http.Header{})
	got, err := c.Read(jar)
	if err != nil || got != "small" {
		t.Fatalf("read %q, %v", got, err)
	}
	names := map[string]int{}
	for _, ck := range rec.Result().Cookies() {
		names[ck.Name]++
	}
	if len(names) != 2 || names["s"] != 1 || names["other"] != 1 {
		t.Fatalf("Set-Cookie names %v, want s and other once each", names)
	}
	c.Clear(rec, http.Header{})
	if cs := (&http.Response{Header: rec.Header()}).Cookies(); len(cs) != 1 || cs[0].Name != "other" {
		t.Fatalf("after Clear: %v", rec.Result().Cookies())
	}
}

// TestNamespaceIsDeleted: every s.<anything> that the value does not use
// is deleted on write and on clear, bounded per response.
func TestNamespaceIsDeleted(t *testing.T) {
	c := NewChunked("s", attrs, 5)
	junk := http.Header{"Cookie": {"s.01=a; s.-1=a; s.+0=a; s.5=a; s.100=a; s.x=a; s.1=a; other=1; s-flow.x=1"}}
	deleted := func(rec *httptest.ResponseRecorder) map[string]bool {
		out := map[string]bool{}
		for _, ck := range rec.Result().Cookies() {
			if ck.MaxAge < 0 {
				out[ck.Name] = true
			}
		}
		return out
	}
	want := []string{"s.01", "s.-1", "s.+0", "s.5", "s.100", "s.x", "s.1"}
	rec := httptest.NewRecorder()
	_ = c.Write(rec, junk, "v", 60)
	got := deleted(rec)
	for _, n := range want {
		if !got[n] {
			t.Errorf("write left %s", n)
		}
	}
	if got["other"] || got["s-flow.x"] {
		t.Error("a cookie outside the namespace was deleted")
	}
	rec = httptest.NewRecorder()
	c.Clear(rec, junk)
	if got := deleted(rec); len(got) != len(want) {
		t.Errorf("clear deleted %v", got)
	}
	var flood []string
	for i := range 500 {
		flood = append(flood, "s.x"+strings.Repeat("z", i)+"=1")
	}
	rec = httptest.NewRecorder()
	c.Clear(rec, http.Header{"Cookie": {strings.Join(flood, "; ")}})
	if n := len(rec.Header().Values("Set-Cookie")); n != maxNamespaced {
		t.Fatalf("%d deletions for 500 stray cookies", n)
	}
}

// TestReadRefusesWithoutWork: values longer than Write writes, and chunks
// without a first one, are refused at once and without allocating.
func TestReadRefusesWithoutWork(t *testing.T) {
	c := NewChunked("s", attrs, 5)
	tests := map[string]string{
		"single too long": "s=" + strings.Repeat("A", 20<<10),
		"chunk too long":  "s.0=" + strings.Repeat("A", 4096) + "; s.1=AAAA",
		"orphan chunk":    "s.1=AAAA",
		"odd name":        "s.01=AAAA",
	}
	for name, hdr := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{"Cookie": {hdr}}
			if _, err := c.Read(h); err != ErrInvalid {
				t.Fatalf("read: %v", err)
			}
			if name == "single too long" || name == "chunk too long" {
				if n := testing.AllocsPerRun(20, func() { _, _ = c.Read(h) }); n > 0 {
					t.Fatalf("refusing took %.0f allocations", n)
				}
			}
		})
	}
	if _, err := c.Read(http.Header{"Cookie": {"other=1"}}); err != ErrAbsent {
		t.Fatalf("no cookie: %v", err)
	}
}

func TestSealerRotation(t *testing.T) {
	newHash, newBlock := []byte("new-hash-key-new-hash-key-new-ha"), []byte("new-block-key-16")
	old := NewSealer([][]byte{hashKey, blockKey}, time.Hour, 8192)
	both := NewSealer([][]byte{newHash, newBlock, hashKey, blockKey}, time.Hour, 8192)
	fresh := NewSealer([][]byte{newHash, newBlock}, time.Hour, 8192)
	v, _ := old.Seal("n", []byte("payload"))
	if p, oldKey, err := both.Open("n", v); err != nil || !oldKey || string(p) != "payload" {
		t.Fatalf("old key: %q %t %v", p, oldKey, err)
	}
	if _, _, err := fresh.Open("n", v); err != ErrUnsealed {
		t.Fatalf("retired key opened: %v", err)
	}
	if _, _, err := old.Open("other-name", v); err != ErrUnsealed {
		t.Fatal("a value opened under another name")
	}
	if n := old.SealedLen(100); n != len(must(old.Seal("anything", make([]byte, 100)))) {
		t.Fatalf("SealedLen %d", n)
	}
}

func TestRefs(t *testing.T) {
	newHash, newBlock := []byte("new-hash-key-new-hash-key-new-ha"), []byte("new-block-key-16")
	old := NewSealer([][]byte{hashKey, blockKey}, time.Hour, 8192)
	both := NewSealer([][]byte{newHash, newBlock, hashKey, blockKey}, time.Hour, 8192)
	payload := []byte("0123456789abcdef\x05")
	ref := old.SignRef("n", payload)
	if len(ref) > 60 {
		t.Fatalf("a reference of %d characters", len(ref))
	}
	if p, oldKey, err := both.OpenRef("n", ref, 32); err != nil || !oldKey || string(p) != string(payload) {
		t.Fatalf("OpenRef: %q %t %v", p, oldKey, err)
	}
	for name, v := range map[string]string{
		"other name": "", "tampered": ref[:10] + "A" + ref[11:], "truncated": ref[:20], "too long": ref + strings.Repeat("A", 100), "not base64": "!!!",
	} {
		n := "n"
		if name == "other name" {
			n, v = "m", ref
		}
		if _, _, err := old.OpenRef(n, v, 32); err != ErrUnsealed {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func TestOpenedIsBounded(t *testing.T) {
	c := NewOpened[int](64<<10, 2048)
	for i := range 1000 {
		c.Put(strings.Repeat("k", 100)+string(rune('a'+i%26))+strings.Repeat("z", i), i)
	}
	if c.bytes > c.maxBytes || len(c.entries) == 0 {
		t.Fatalf("%d bytes in %d entries, bound %d", c.bytes, len(c.entries), c.maxBytes)
	}
	c.Get("uncounted")
	if hits, misses := c.Stats(); hits+misses != 0 {
		t.Fatalf("counted before anyone asked: %d hits, %d misses", hits, misses)
	}
	c.Get(strings.Repeat("k", 100) + "a")
	c.Get("absent")
	if hits, misses := c.Stats(); hits+misses != 2 || misses < 1 {
		t.Fatalf("stats: %d hits, %d misses", hits, misses)
	}
	var nilCache *Opened[int]
	nilCache.Put("x", 1)
	if _, ok := nilCache.Get("x"); ok {
		t.Fatal("a nil cache cached")
	}
}
