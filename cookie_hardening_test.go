package oidcsession

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// TestStrayChunksAreDeleted (issue 6.10): every cookie in the session's
// namespace that the session does not use is deleted when the session is
// written or cleared: orphan chunks, non-canonical indices and indices at
// or past the chunk limit.
func TestStrayChunksAreDeleted(t *testing.T) {
	strays := []string{cookieName + ".01", cookieName + ".-1", cookieName + ".+0", cookieName + ".5", cookieName + ".100", cookieName + ".x"}
	junk := func(names ...string) string {
		var parts []string
		for _, n := range names {
			parts = append(parts, n+"=junk")
		}
		return strings.Join(parts, "; ")
	}
	deleted := func(r response) map[string]bool {
		out := map[string]bool{}
		for _, l := range r.Header.Values("Set-Cookie") {
			if name, _, ok := strings.Cut(l, "="); ok && strings.Contains(l, "Max-Age=0") {
				out[name] = true
			}
		}
		return out
	}
	t.Run("orphan chunk without a session", func(t *testing.T) {
		h := newHarness(t, harnessConfig{})
		r := h.get(h.app.Client(), "/api/x", http.Header{"Cookie": {junk(cookieName + ".1")}})
		if r.StatusCode != 401 || !deleted(r)[cookieName+".1"] {
			t.Fatalf("%d, deleted %v", r.StatusCode, deleted(r))
		}
	})
	t.Run("strays beside a session that is written", func(t *testing.T) {
		h := newHarness(t, harnessConfig{})
		h.signIn()
		h.clock.Advance(6 * time.Minute)
		r := h.get(h.app.Client(), "/app/x", http.Header{"Cookie": {h.cookieHeader(h.client) + "; " + junk(strays...)}})
		if r.StatusCode != 200 {
			t.Fatalf("refresh: %d %s", r.StatusCode, r.body)
		}
		got := deleted(r)
		for _, n := range strays {
			if !got[n] {
				t.Errorf("%s not deleted (deleted: %v)", n, got)
			}
		}
	})
	t.Run("strays of an untrusted session", func(t *testing.T) {
		h := newHarness(t, harnessConfig{})
		r := h.get(h.app.Client(), "/api/x", http.Header{"Cookie": {junk(append(strays, cookieName+".0")...)}})
		got := deleted(r)
		for _, n := range append(strays, cookieName+".0") {
			if !got[n] {
				t.Errorf("%s not deleted (deleted: %v)", n, got)
			}
		}
	})
	t.Run("a flood is bounded", func(t *testing.T) {
		h := newHarness(t, harnessConfig{})
		var names []string
		for i := range 500 {
			names = append(names, cookieName+".x"+strings.Repeat("1", i%7)+string(rune('a'+i%26))+strings.Repeat("z", i/26))
		}
		r := h.get(h.app.Client(), "/api/x", http.Header{"Cookie": {junk(names...)}})
		if n := len(r.Header.Values("Set-Cookie")); n == 0 || n > 64 {
			t.Fatalf("%d Set-Cookie lines for 500 stray cookies", n)
		}
	})
}

// TestOversizedCookiesCostNothing (issue 6.15): a value longer than any
// the package writes for its kind is refused before any decoding or MAC
// work, so forged 20 KB cookies cost nothing, whatever the number of keys.
func TestOversizedCookiesCostNothing(t *testing.T) {
	h := newHarness(t, harnessConfig{opts: []Option{WithKeys(testHashKey, testBlockKey, testHashKey, testBlockKey, testHashKey, testBlockKey, testHashKey, testBlockKey)}})
	st := h.m.store.(*cookieStore)
	for name, hdr := range map[string]string{
		"single":            cookieName + "=" + strings.Repeat("A", 20<<10),
		"one chunk too big": cookieName + ".0=" + strings.Repeat("A", 4096) + "; " + cookieName + ".1=AAAA",
	} {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Cookie", hdr)
			if _, err := st.load(req); !errors.Is(err, ErrInvalidSession) {
				t.Fatalf("load: %v", err)
			}
			if allocs := testing.AllocsPerRun(20, func() { _, _ = st.load(req) }); allocs > 2 {
				t.Fatalf("refusing it took %.0f allocations: the value was decoded", allocs)
			}
		})
	}
	t.Run("flow", func(t *testing.T) {
		state := strings.Repeat("A", 26)
		name, _ := h.m.flowCookieName(state)
		req := httptest.NewRequest("GET", "/auth/callback", nil)
		req.Header.Set("Cookie", name+"="+strings.Repeat("A", 20<<10))
		if _, err := h.m.readFlow(req, state); !errors.Is(err, ErrInvalidCallback) {
			t.Fatalf("readFlow: %v", err)
		}
		if allocs := testing.AllocsPerRun(20, func() { _, _ = h.m.readFlow(req, state) }); allocs > 3 {
			t.Fatalf("refusing it took %.0f allocations: the value was decoded", allocs)
		}
	})
}

// TestFlowCookiesAreBounded (issue 6.9): however many sign-ins a browser
// starts, with however long a return_to, its flow cookies stay within
// their byte budget, the oldest giving way first, and the newest still
// completes.
func TestFlowCookiesAreBounded(t *testing.T) {
	a := newLoginApp(t, oidcsessiontest.Config{})
	b := newBrowser(t)
	long := "/" + strings.Repeat("p", 1000)
	var last string
	for i := range 8 {
		u := a.startLogin(b, "?return_to="+long[:1000-i])
		last = u.String()
		a.clock.Advance(time.Second)
		total := 0
		for _, c := range b.Jar.Cookies(mustURL(t, a.srv.URL)) {
			if strings.HasPrefix(c.Name, "oidcsession-flow.") {
				total += len(c.Name) + 1 + len(c.Value)
			}
		}
		if total > maxFlowBytes {
			t.Fatalf("after %d sign-ins the flow cookies take %d bytes, budget %d", i+1, total, maxFlowBytes)
		}
	}
	cb := a.authorize(b, last)
	if r := send(t, b.noFollow(), http.MethodGet, cb.String(), pageAccept, nil); r.status != http.StatusSeeOther {
		t.Fatalf("newest flow: %d %s", r.status, r.body)
	}
}

// TestTryAgainLinkIsLocal (issue 6.12): the transient page's link must be a
// local path even when a router passes an unclean one through.
func TestTryAgainLinkIsLocal(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	h.clock.Advance(6 * time.Minute)
	h.op.FailNextRefreshes(1, 503, "")
	req := httptest.NewRequest("GET", "https://app.test//evil.example/x", nil)
	req.Header.Set("Cookie", h.cookieHeader(h.client))
	req.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	h.m.Require()(http.NotFoundHandler()).ServeHTTP(rec, req)
	if rec.Code != 503 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if body := rec.Body.String(); strings.Contains(body, `href="//`) || !strings.Contains(body, `href="/"`) {
		t.Fatalf("link: %s", body)
	}
}

// TestNoStoreWhenCookiesAreSet (issue 6.14): a response that carries
// session cookies must not be stored by a shared cache, whatever
// Cache-Control the handler sets.
func TestNoStoreWhenCookiesAreSet(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.signIn()
	public := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write([]byte("hello"))
	})
	serve := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "https://app.test/", nil)
		req.Header.Set("Cookie", h.cookieHeader(h.client))
		rec := httptest.NewRecorder()
		h.m.Require(Optional())(public).ServeHTTP(rec, req)
		return rec
	}
	if rec := serve(); rec.Header().Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("an unchanged session overrode the handler: %q", rec.Header().Get("Cache-Control"))
	}
	h.clock.Advance(6 * time.Minute)
	rec := serve()
	if len(rec.Header().Values("Set-Cookie")) == 0 || rec.Header().Get("Cache-Control") != "no-store" || rec.Body.String() != "hello" {
		t.Fatalf("refreshed: Cache-Control %q, cookies %d, body %q", rec.Header().Get("Cache-Control"), len(rec.Header().Values("Set-Cookie")), rec.Body)
	}
}
