package oidcsession_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// token asks /test/token for a token.
func (b *browser) token(query string) (response, tokenReport) {
	b.h.t.Helper()
	r := b.get("/test/token?"+query, nil)
	var rep tokenReport
	if r.status == http.StatusOK {
		if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
			b.h.t.Fatalf("token report %q: %v", r.body, err)
		}
	}
	return r, rep
}

// callAPI makes calls to the API through /test/call.
func (b *browser) callAPI(query string) callReport {
	b.h.t.Helper()
	r := b.get("/test/call?"+query, nil)
	var rep callReport
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &rep) != nil {
		b.h.t.Fatalf("/test/call?%s: %d %s", query, r.status, r.body)
	}
	return rep
}

var storageModes = []struct {
	name string
	opts []oidcsession.Option
}{
	{"cookies", nil},
	{"store", []oidcsession.Option{oidcsession.WithStore(oidcsession.NewMemoryStore())}},
}

// TestTokenPerResource: one session holds its own token and one per
// resource and scope set, each for its audience; a kept token is handed
// out again without a grant; the session's own token is never replaced.
func TestTokenPerResource(t *testing.T) {
	for _, mode := range storageModes {
		t.Run(mode.name, func(t *testing.T) {
			h, get := refetchHarness(t, setup{opts: mode.opts, op: oidcsessiontest.Config{
				ResourceScopes: map[string][]string{billingAPI: {"billing:read", "billing:write"}},
			}})
			h.b.startSession()
			own := h.b.me()
			grants := func() int { return h.stats().Grants["refresh_token"] }

			_, orders := h.b.token("resource=" + url.QueryEscape(ordersAPI))
			if orders.Claims["aud"] != ordersAPI || orders.Primary != own.AccessToken || grants() != 1 {
				t.Fatalf("orders: %+v, %d grants", orders, grants())
			}
			_, billing := h.b.token("resource=" + url.QueryEscape(billingAPI) + "&scope=billing:read")
			if billing.Claims["aud"] != billingAPI || billing.Claims["scope"] != "billing:read" || grants() != 2 {
				t.Fatalf("billing: %+v, %d grants", billing.Claims, grants())
			}
			_, again := h.b.token("resource=" + url.QueryEscape(ordersAPI))
			_, mine := h.b.token("")
			if again.Token != orders.Token || mine.Token != own.AccessToken || grants() != 2 {
				t.Fatalf("kept tokens: orders %s→%s, own %s→%s, %d grants", orders.Token, again.Token, own.AccessToken, mine.Token, grants())
			}
			if len(again.Tokens) != 3 || !again.Tokens[0].Primary || again.Tokens[1].Resource != ordersAPI ||
				again.Tokens[2].Resource != billingAPI || again.Tokens[2].Scope != "billing:read" {
				t.Fatalf("Tokens: %+v", again.Tokens)
			}
			if who := h.b.me(); who.AccessToken != own.AccessToken || who.Scope != own.Scope || !who.HasRefreshToken {
				t.Fatalf("the session's own token changed: %+v", who)
			}
			// Userinfo, called with the session's own token, still works.
			if r := get("/refetch", nil); r.status != 200 || r.who(t).UserInfo["sub"] != "user-1" || h.stats().UserInfo != 1 {
				t.Fatalf("userinfo beside resource tokens: %d %s", r.status, r.body)
			}
			// Past the resource token's refresh window a new one is had.
			h.clock.Advance(4*time.Minute + 50*time.Second)
			_, later := h.b.token("resource=" + url.QueryEscape(ordersAPI))
			if later.Token == orders.Token || later.Claims["aud"] != ordersAPI {
				t.Fatalf("a token inside its refresh window was handed out: %+v", later)
			}
			if s := h.stats(); s.ReuseDetections != 0 {
				t.Fatalf("%d reuse detections", s.ReuseDetections)
			}
		})
	}
}

// TestTokenRefused: a resource the provider refuses is a rejected refresh
// (400 invalid_request), and the session lives on with its own token; a
// resource that is not an absolute URI is refused before any grant.
func TestTokenRefused(t *testing.T) {
	h := newHarness(t, setup{op: oidcsessiontest.Config{Resources: []string{ordersAPI}}})
	h.b.startSession()
	if r, _ := h.b.token("resource=" + url.QueryEscape("https://unknown.example/")); r.status != 400 || r.json(t)["error"] != "invalid_request" {
		t.Fatalf("refused resource: %d %s", r.status, r.body)
	}
	if r, _ := h.b.token("resource=orders"); r.status != 500 || h.stats().Grants["refresh_token"] != 1 {
		t.Fatalf("relative resource: %d %s", r.status, r.body)
	}
	if who := h.b.me(); who.Subject != "user-1" {
		t.Fatalf("session lost: %+v", who)
	}
}

// TestResourceGrantThenStaleCookie: a grant for a resource spends the
// refresh token while the session's own token is due but not expired (the
// proxy behind TryRefresh lets it through); a request still carrying the
// cookie from before it, once the session's own token has expired, must
// get a fresh token of its own (following the resource grant's outcome
// and granting from its successor), not the expired one, and never
// present the spent refresh token.
func TestResourceGrantThenStaleCookie(t *testing.T) {
	for _, mode := range storageModes {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t, setup{opts: mode.opts})
			h.b.startSession()
			stale := h.b.cookieHeader()
			h.clock.Advance(4*time.Minute + 40*time.Second) // inside the refresh window
			if r := h.b.get("/proxy/orders/echo", withCookie(stale)); r.status != 200 || r.saw(t).Aud != ordersAPI {
				t.Fatalf("proxied: %d %s", r.status, r.body)
			}
			h.clock.Advance(25 * time.Second) // expired, still inside the grace window
			r := h.b.get("/app", withCookie(stale))
			if r.status != 200 {
				t.Fatalf("/app with the stale cookie: %d %s", r.status, r.body)
			}
			if exp, _ := time.Parse(time.RFC3339, r.who(t).ExpiresAt); !exp.After(h.clock.Now()) {
				t.Fatalf("served an expired token (expires %s)", exp)
			}
			if s := h.stats(); s.ReuseDetections != 0 || s.Grants["refresh_token"] != 2 {
				t.Fatalf("%d grants, %d reuse detections; want 2 and 0", s.Grants["refresh_token"], s.ReuseDetections)
			}
		})
	}
}

// TestConcurrentCallsShareGrants: 30 concurrent API calls of one request
// for one resource make one grant; 100 concurrent requests from one
// browser for three tokens never present a spent refresh token, and every
// call reaches the API with a live token for the right audience.
func TestConcurrentCallsShareGrants(t *testing.T) {
	for _, mode := range storageModes {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t, setup{opts: mode.opts})
			h.b.startSession()
			rep := h.b.callAPI("n=30&resource=" + url.QueryEscape(ordersAPI))
			for i, st := range rep.Status {
				if st != 200 || rep.Saw[i].Aud != ordersAPI {
					t.Fatalf("call %d: %d %+v", i, st, rep.Saw[i])
				}
			}
			if g := h.stats().Grants["refresh_token"]; g != 1 {
				t.Fatalf("30 calls of one request made %d grants", g)
			}

			h.clock.Advance(5*time.Minute + time.Second) // every token is due
			resources := []string{ordersAPI, billingAPI, ""}
			var wg sync.WaitGroup
			errs := make(chan string, 100)
			for i := range 100 {
				wg.Go(func() {
					res := resources[i%3]
					r := h.b.get("/test/call?resource="+url.QueryEscape(res), nil)
					var rep callReport
					_ = json.Unmarshal([]byte(r.body), &rep)
					want := any(res)
					if res == "" {
						want = h.op.ClientID()
					}
					if r.status != 200 || len(rep.Status) != 1 || rep.Status[0] != 200 || rep.Saw[0].Aud != want {
						errs <- fmt.Sprintf("request %d (%q): %d %s", i, res, r.status, r.body)
					}
				})
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			if s := h.stats(); s.ReuseDetections != 0 {
				t.Fatalf("%d reuse detections", s.ReuseDetections)
			}
			t.Logf("%s: %d refresh grants for 100 requests", mode.name, h.stats().Grants["refresh_token"])
		})
	}
}

// TestClientRenewsRefusedToken: a kept token the API refuses as
// invalid_token is renewed once and the call sent again (with its body);
// a token obtained for the very call and refused is not renewed again.
func TestClientRenewsRefusedToken(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	h.b.callAPI("resource=" + url.QueryEscape(ordersAPI))
	h.api.revokeLast() // the provider revoked it: the API now refuses it
	calls, _ := h.api.stats()
	rep := h.b.callAPI("method=POST&body=hello&resource=" + url.QueryEscape(ordersAPI))
	after, tokens := h.api.stats()
	if rep.Status[0] != 200 || rep.Saw[0].Body != "hello" || after-calls != 2 || tokens[len(tokens)-1] == tokens[len(tokens)-2] {
		t.Fatalf("renewal: %+v, %d API calls", rep, after-calls)
	}
	if g := h.stats().Grants["refresh_token"]; g != 2 {
		t.Fatalf("%d grants, want 2", g)
	}

	h.api.refuseAudience(billingAPI)
	calls, _ = h.api.stats()
	rep = h.b.callAPI("resource=" + url.QueryEscape(billingAPI))
	after, _ = h.api.stats()
	if rep.Status[0] != 401 || after-calls != 1 || h.stats().Grants["refresh_token"] != 3 {
		t.Fatalf("a fresh token refused: %+v, %d API calls, %d grants", rep, after-calls, h.stats().Grants["refresh_token"])
	}
	// Kept and refused again: one renewal, one retry, then the refusal stands.
	calls, _ = h.api.stats()
	rep = h.b.callAPI("resource=" + url.QueryEscape(billingAPI))
	after, _ = h.api.stats()
	if rep.Status[0] != 401 || after-calls != 2 || h.stats().Grants["refresh_token"] != 4 {
		t.Fatalf("a kept token refused: %+v, %d API calls, %d grants", rep, after-calls, h.stats().Grants["refresh_token"])
	}
}

// proxied sends a request through the app's proxy with b's cookies.
func (b *browser) proxied(method, path string, body io.Reader, hdr http.Header) response {
	b.h.t.Helper()
	req, err := http.NewRequest(method, b.h.app.URL+path, body)
	if err != nil {
		b.h.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := b.noFollow().Do(req)
	if err != nil {
		b.h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(got), url: resp.Request.URL}
}

func (r response) saw(t *testing.T) apiSaw {
	t.Helper()
	var s apiSaw
	if r.status != 200 || json.Unmarshal([]byte(r.body), &s) != nil {
		t.Fatalf("proxied: %d %s", r.status, r.body)
	}
	return s
}

// TestProxy: what the proxy sends up and passes down.
func TestProxy(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	sameOrigin := http.Header{"Sec-Fetch-Site": {"same-origin"}, oidcsession.CSRFHeader: {"1"}}

	r := h.b.proxied("GET", "/proxy/orders/items/echo?x=1", nil, http.Header{
		"Authorization": {"Basic c2VjcmV0"}, oidcsession.CSRFHeader: {"1"}, "Accept": {"application/json"},
	})
	saw := r.saw(t)
	host, _ := url.Parse(h.app.URL)
	if saw.Path != "/orders/items/echo" || saw.Query != "x=1" || saw.Aud != ordersAPI || saw.Cookie || saw.CSRF || saw.ForwardedHost != host.Host {
		t.Fatalf("went up: %+v", saw)
	}
	if r.header.Get("X-Api") != "yes" || len(setCookies(r, "api-cookie")) != 0 {
		t.Fatalf("came down: %v", r.header)
	}
	if saw := h.b.proxied("GET", "/proxy/own/echo", nil, nil).saw(t); saw.Aud != h.op.ClientID() {
		t.Fatalf("the session's own token: %+v", saw)
	}

	if saw := h.b.proxied("POST", "/proxy/orders/echo", strings.NewReader("hello"), sameOrigin).saw(t); saw.Method != "POST" || saw.Body != "hello" {
		t.Fatalf("POST: %+v", saw)
	}
	calls, _ := h.api.stats()
	for name, hdr := range map[string]http.Header{
		"cross-site":              {"Sec-Fetch-Site": {"cross-site"}, oidcsession.CSRFHeader: {"1"}},
		"same-site":               {"Sec-Fetch-Site": {"same-site"}, oidcsession.CSRFHeader: {"1"}},
		"without the CSRF header": {"Sec-Fetch-Site": {"same-origin"}},
	} {
		r := h.b.proxied("POST", "/proxy/orders/echo", strings.NewReader("x"), hdr)
		if r.status != 403 || r.json(t)["error"] != "csrf" {
			t.Fatalf("%s POST: %d %s", name, r.status, r.body)
		}
	}
	if after, _ := h.api.stats(); after != calls {
		t.Fatal("a refused request reached the API")
	}

	// A token the provider revoked: small bodies are sent again.
	h.api.revokeLast()
	if saw := h.b.proxied("PUT", "/proxy/orders/echo", strings.NewReader("again"), sameOrigin).saw(t); saw.Body != "again" {
		t.Fatalf("retried PUT: %+v", saw)
	}
	// A large body cannot be: try_refresh, and the retry has a new token.
	h.api.revokeLast()
	big := bytes.Repeat([]byte("b"), 100<<10)
	r = h.b.proxied("POST", "/proxy/orders/echo", bytes.NewReader(big), sameOrigin)
	if r.status != 401 || r.json(t)["error"] != "try_refresh" {
		t.Fatalf("large body with a refused token: %d %s", r.status, r.body)
	}
	if saw := h.b.proxied("POST", "/proxy/orders/echo", bytes.NewReader(big), sameOrigin).saw(t); len(saw.Body) != len(big) {
		t.Fatalf("large body retried: %d bytes", len(saw.Body))
	}

	if r := h.b.proxied("GET", "/proxy/down/echo", nil, nil); r.status != 502 || r.json(t)["error"] != "bad_gateway" {
		t.Fatalf("API down: %d %s", r.status, r.body)
	}
	if s := h.stats(); s.ReuseDetections != 0 {
		t.Fatalf("%d reuse detections", s.ReuseDetections)
	}
}

// TestProxySession: the proxy answers session errors as the package does.
func TestProxySession(t *testing.T) {
	h := newHarness(t, setup{})
	if r := h.b.proxied("GET", "/proxy/orders/echo", nil, jsonAccept); r.status != 401 || r.json(t)["error"] != "unauthenticated" {
		t.Fatalf("no session: %d %s", r.status, r.body)
	}
	h.b.startSession()
	h.clock.Advance(5*time.Minute + time.Second)
	if r := h.b.proxied("GET", "/proxy/orders/echo", nil, jsonAccept); r.status != 401 || r.json(t)["error"] != "try_refresh" {
		t.Fatalf("expired: %d %s", r.status, r.body)
	}
	if r := h.b.refresh(); r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	if saw := h.b.proxied("GET", "/proxy/orders/echo", nil, jsonAccept).saw(t); saw.Aud != ordersAPI {
		t.Fatalf("after refresh: %+v", saw)
	}
}

// TestProxyStreams: the API's answer comes down as it is written.
func TestProxyStreams(t *testing.T) {
	h := newHarness(t, setup{})
	h.b.startSession()
	req, _ := http.NewRequest("GET", h.app.URL+"/proxy/orders/stream", nil)
	resp, err := h.b.noFollow().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("data: one\n\n"))
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(resp.Body, first); done <- err }()
	select {
	case err := <-done:
		if err != nil || string(first) != "data: one\n\n" {
			t.Fatalf("first event: %q %v", first, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first event did not arrive before the API finished")
	}
	close(h.api.release)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "data: two\n\n" {
		t.Fatalf("rest: %q", rest)
	}
}

// TestResourceTokensShed: a cookie session keeps at most WithResourceTokens
// tokens, and sheds the oldest when they would outgrow its cookies; every
// response stays within the cookie budget and the session stays usable.
func TestResourceTokensShed(t *testing.T) {
	h := newHarness(t, setup{
		opts: []oidcsession.Option{oidcsession.WithResourceTokens(3)},
		op:   oidcsessiontest.Config{AccessTokenClaims: map[string]any{"pad": strings.Repeat("p", 900)}},
	})
	h.b.startSession()
	var last tokenReport
	for i := range 6 {
		r, rep := h.b.token("resource=" + url.QueryEscape(fmt.Sprintf("https://api%d.example/", i)))
		if r.status != 200 {
			t.Fatalf("resource %d: %d %s", i, r.status, r.body)
		}
		for _, line := range r.header.Values("Set-Cookie") {
			if len(line) > 4096 {
				t.Fatalf("resource %d: a Set-Cookie of %d bytes", i, len(line))
			}
		}
		last = rep
	}
	kept := last.Tokens[1:]
	if len(kept) == 0 || len(kept) > 3 || kept[len(kept)-1].Resource != "https://api5.example/" {
		t.Fatalf("kept %+v", kept)
	}
	t.Logf("kept %d resource tokens of 6 in cookies", len(kept))
	if who := h.b.me(); who.Subject != "user-1" || !who.HasRefreshToken {
		t.Fatalf("session after shedding: %+v", who)
	}
}

// TestResourceTokensBoundInAStore: a stored session is held to the length
// sealed values open at (WithMaxChunks cookies): with room for 64 tokens
// by count, 30 large resource tokens shed the oldest instead of making a
// record that no longer opens, and the session stays usable.
func TestResourceTokensBoundInAStore(t *testing.T) {
	h := newHarness(t, setup{
		opts: []oidcsession.Option{oidcsession.WithStore(oidcsession.NewMemoryStore()), oidcsession.WithResourceTokens(64)},
		op:   oidcsessiontest.Config{AccessTokenClaims: map[string]any{"pad": strings.Repeat("p", 900)}},
	})
	h.b.startSession()
	var last tokenReport
	for i := range 30 {
		r, rep := h.b.token("resource=" + url.QueryEscape(fmt.Sprintf("https://api%d.example/", i)))
		if r.status != 200 {
			t.Fatalf("resource %d: %d %s", i, r.status, r.body)
		}
		last = rep
	}
	kept := last.Tokens[1:]
	if len(kept) == 0 || len(kept) >= 30 || kept[len(kept)-1].Resource != "https://api29.example/" {
		t.Fatalf("kept %d: %+v", len(kept), kept)
	}
	t.Logf("a stored session kept %d large resource tokens of 30", len(kept))
	if who := h.b.me(); who.Subject != "user-1" || !who.HasRefreshToken {
		t.Fatalf("session after shedding: %+v", who)
	}
}
