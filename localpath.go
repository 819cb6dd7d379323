package oidcsession

import (
	"net/url"
	"strings"
)

// validCookieName reports whether name is an RFC 6265 token.
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// maxReturnTo bounds return_to; a flow cookie with the longest one takes
// about 1.2 KB, so two always fit in maxFlowBytes.
const maxReturnTo = 512

// safeReturnTo returns p if the browser can only read it as a path on this
// site, else "/". Refused: anything isLocalPath refuses (absolute and
// scheme-relative URLs such as "https://evil", "//evil", "///evil",
// "/\evil", "\\evil", schemes such as "javascript:" or "http:evil",
// leading spaces, control characters such as tab or newline), values over
// maxReturnTo bytes, and paths that decode to "//" or "/\" ("/%2F/evil",
// "/%5Cevil"): no browser resolves those off-site, but a proxy or
// framework that unescapes before redirecting could, so they are not worth
// the risk.
func safeReturnTo(p string) string {
	if len(p) > maxReturnTo || !isLocalPath(p) {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, `/\`) || strings.ContainsAny(u.Path, "\\\x00") {
		return "/"
	}
	return p
}

// isLocalPath reports whether p is a path on this site: it starts with one
// "/", and no browser could read it as another host ("//x", "/\x") or a
// scheme.
func isLocalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < ' ' || p[i] == 0x7f || p[i] == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}
