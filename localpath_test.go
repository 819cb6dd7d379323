package oidcsession

import (
	"net/url"
	"strings"
	"testing"
)

// TestSafeReturnTo checks every form of off-site target falls back to "/".
func TestSafeReturnTo(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "/"},
		{"root", "/", "/"},
		{"local path", "/app", "/app"},
		{"local path with query", "/app/x?tab=2&q=a//b", "/app/x?tab=2&q=a//b"},
		{"scheme-relative", "//evil.com", "/"},
		{"triple slash", "///evil.com", "/"},
		{"backslash after slash", `/\evil.com`, "/"},
		{"double backslash", `\\evil.com`, "/"},
		{"absolute https", "https://evil.com", "/"},
		{"absolute http", "http://evil.com/app", "/"},
		{"scheme without slashes", "http:evil", "/"},
		{"javascript", "javascript:alert(1)", "/"},
		{"data", "data:text/html,<script>alert(1)</script>", "/"},
		{"leading space", " /x", "/"},
		{"tab injection", "/\t/evil.com", "/"},
		{"newline injection", "/x\r\nLocation: https://evil.com", "/"},
		{"encoded slash", "/%2F/evil.com", "/"},
		{"encoded slash lowercase", "/%2f%2fevil.com", "/"},
		{"encoded backslash", "/%5Cevil.com", "/"},
		{"relative", "app", "/"},
		{"userinfo", "//user@evil.com", "/"},
		{"too long", "/" + strings.Repeat("a", maxReturnTo), "/"},
		{"longest allowed", "/" + strings.Repeat("a", maxReturnTo-1), "/" + strings.Repeat("a", maxReturnTo-1)},
		{"dot segments stay local", "/a/..//evil.com", "/a/..//evil.com"},
	}
	for _, tt := range tests {
		if got := safeReturnTo(tt.in); got != tt.want {
			t.Errorf("%s: safeReturnTo(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// FuzzSafeReturnTo: whatever it accepts is a path no browser or URL parser
// reads as another host or scheme, within the length limit.
func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/", "/app?x=1", "//evil", `/\evil`, "/%2F/evil", "https://x", "/a/../b", "/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := safeReturnTo(in)
		if out == "/" {
			return
		}
		if out != in || len(out) > maxReturnTo || out[0] != '/' || strings.HasPrefix(out, "//") || strings.HasPrefix(out, `/\`) {
			t.Fatalf("accepted %q as %q", in, out)
		}
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			t.Fatalf("accepted %q, which parses as %#v", in, u)
		}
		if p, _ := url.PathUnescape(u.Path); strings.HasPrefix(p, "//") || strings.HasPrefix(p, `/\`) {
			t.Fatalf("accepted %q, whose path decodes to %q", in, p)
		}
		for i := 0; i < len(out); i++ {
			if out[i] < ' ' || out[i] == 0x7f {
				t.Fatalf("accepted a control character in %q", out)
			}
		}
	})
}
