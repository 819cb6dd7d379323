package e2e

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// ttl is the access-token lifetime of the in-process app's provider: the
// server refreshes in the last quarter, 1.25 s.
const ttl = 5 * time.Second

// callResult is what the tests read back from the page for one call.
type callResult struct {
	Status     int    `json:"status"`
	Error      string `json:"error"`
	RetryAfter string `json:"retryAfter"`
}

// callsJS makes n concurrent calls of /api/x through the page's
// sessionFetch and resolves with their status and JSON "error".
func callsJS(n int) string {
	return `Promise.all(Array.from({length: ` + itoa(n) + `}, () => window.api("/api/x").then(async (r) => ({
  status: r.status, error: (await r.json().catch(() => ({}))).error || "", retryAfter: r.headers.get("Retry-After") || ""}))))`
}

func itoa(n int) string { return strconv.Itoa(n) }

func statuses(rs []callResult) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.Status)
	}
	return out
}

func repeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestBuildsUnderStrictCSP loads the classic script and the module under
// the example's CSP (nonce, strict-dynamic, Trusted Types), checks each
// defines the whole API and completes a try_refresh round, and that a
// wrong integrity value is refused by the browser.
func TestBuildsUnderStrictCSP(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, ttl)
	s := newSession(t)
	tb := s.newTab()
	api := []string{"createSessionFetch", "installAxiosInterceptor", "onSessionChange", "scheduleRefresh", "sessionFetch", "signOut"}

	for i, kind := range []string{"classic", "module"} {
		if i == 0 {
			a.signIn(tb, kind)
		} else {
			tb.navigate(a.base+"/page/"+kind, `document.documentElement.dataset.ready === "`+kind+`"`)
		}
		var names []string
		tb.eval(`Object.keys(window.helper).filter((k) => k !== "default" && typeof window.helper[k] === "function").sort()`, &names)
		if !slices.Equal(names, api) {
			t.Fatalf("%s build: %v", kind, names)
		}
		sleepPastExpiry(tb)
		var rs []callResult
		tb.eval(callsJS(1), &rs)
		if rs[0].Status != 200 {
			t.Fatalf("%s build after expiry: %+v", kind, rs)
		}
		if n, g := tb.refreshPOSTs(), a.op.Stats().SuccessfulGrants["refresh_token"]; n != i+1 || g != i+1 {
			t.Fatalf("%s build: %d refresh POSTs, %d grants, want %d", kind, n, g, i+1)
		}
		t.Logf("%s build: try_refresh, one refresh POST, one grant, retried: 200", kind)
	}
	tb.noProblems()

	bad := s.newTab()
	bad.navigate(a.base+"/page/bad-integrity", `document.documentElement.dataset.ready === "no-helper"`)
	if len(bad.problemsContaining("integrity")) == 0 {
		t.Fatalf("no integrity error reported for a wrong integrity value: %v", bad.problems)
	}
}

// TestOneAndTwentyCallsAfterExpiry: one call, then 20 concurrent calls,
// each after an expiry: one refresh POST and one grant each time, and
// every call succeeds.
func TestOneAndTwentyCallsAfterExpiry(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, ttl)
	tb := newSession(t).newTab()
	a.signIn(tb, "module")

	for round, n := range []int{1, 20} {
		sleepPastExpiry(tb)
		apiBefore := tb.count("GET", "/api/x")
		var rs []callResult
		tb.eval(callsJS(n), &rs)
		if !slices.Equal(statuses(rs), repeat(200, n)) {
			t.Fatalf("%d calls: %v", n, rs)
		}
		posts, grants := tb.refreshPOSTs(), a.op.Stats().SuccessfulGrants["refresh_token"]
		if posts != round+1 || grants != round+1 || a.refreshPOSTs.Load() != int64(posts) {
			t.Fatalf("%d calls: %d refresh POSTs (server saw %d), %d grants; want %d", n, posts, a.refreshPOSTs.Load(), grants, round+1)
		}
		// Each call is sent once and retried at most once: a call that
		// still carries the pre-refresh cookie but reaches the server after
		// the refresh is given the new session (grace window) and needs no
		// retry.
		if got := tb.count("GET", "/api/x") - apiBefore; got < n || got > 2*n {
			t.Fatalf("%d calls sent %d API requests, want each once and at most one retry each", n, got)
		}
		t.Logf("%d call(s) after expiry: 1 refresh POST, 1 grant, %d/%d succeeded", n, n, n)
		if n == 1 {
			// The next round waits for the renewed token to expire.
			tb.navigate(a.base+"/page/module", `document.documentElement.dataset.ready === "module"`)
		}
	}
	tb.noProblems()
}

// TestThreeTabsAtExpiry: three tabs of one browser call at expiry; the
// provider holds the first refresh for 700 ms, so every tab has its
// try_refresh answer before any refresh is done. One refresh POST in
// total, one grant, and each tab retried once.
func TestThreeTabsAtExpiry(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, ttl)
	s := newSession(t)
	tabs := []*tab{s.newTab(), s.newTab(), s.newTab()}
	a.signIn(tabs[0], "module")
	for _, tb := range tabs[1:] {
		tb.navigate(a.base+"/page/module", `document.documentElement.dataset.ready === "module"`)
	}
	sleepPastExpiry(tabs[2])
	a.op.DelayNextRefreshes(1, 700*time.Millisecond)

	results := make([][]callResult, len(tabs))
	errs := make([]error, len(tabs))
	var wg sync.WaitGroup
	for i, tb := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = tb.evalErr(callsJS(1), &results[i])
		}()
	}
	wg.Wait()
	posts := 0
	for i, tb := range tabs {
		if errs[i] != nil || len(results[i]) != 1 || results[i][0].Status != 200 {
			t.Fatalf("tab %d: %v %v", i, results[i], errs[i])
		}
		if n := tb.count("GET", "/api/x"); n != 2 {
			t.Fatalf("tab %d sent %d API requests, want the try_refresh one and its retry", i, n)
		}
		posts += tb.refreshPOSTs()
	}
	if grants := a.op.Stats().SuccessfulGrants["refresh_token"]; posts != 1 || grants != 1 || a.refreshPOSTs.Load() != 1 {
		t.Fatalf("3 tabs: %d refresh POSTs (server saw %d), %d grants; want 1 and 1", posts, a.refreshPOSTs.Load(), grants)
	}
	// The two tabs that did not POST learned of the refresh from the other.
	others := 0
	for _, tb := range tabs {
		var from []string
		tb.eval(`window.events.filter((e) => e.type === "refreshed").map((e) => e.source)`, &from)
		if slices.Equal(from, []string{"other-tab"}) {
			others++
		}
		tb.noProblems()
	}
	if others != 2 {
		t.Fatalf("%d tabs learned of the refresh from another tab, want 2", others)
	}
	t.Log("3 tabs at expiry: 1 refresh POST, 1 grant, 3 calls retried once each")
}

// TestScheduleRefreshOverThreeLifetimes: two tabs run scheduleRefresh from
// the server's refresh_at for three token lifetimes: every refresh POST is
// a grant, and the API never sees an expired token.
func TestScheduleRefreshOverThreeLifetimes(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, ttl)
	s := newSession(t)
	tabs := []*tab{s.newTab(), s.newTab()}
	a.signIn(tabs[0], "module")
	tabs[1].navigate(a.base+"/page/module", `document.documentElement.dataset.ready === "module"`)
	for _, tb := range tabs {
		tb.eval(`(window.cancel = window.schedule(), true)`, nil)
	}
	waitFor(t, "three renewals", 3*ttl+5*time.Second, func() bool { return a.op.Stats().SuccessfulGrants["refresh_token"] >= 3 })
	for _, tb := range tabs {
		tb.eval(`window.cancel()`, nil)
	}
	// A POST may still be on its way: let the counts settle.
	waitFor(t, "refresh POSTs = grants", 3*time.Second, func() bool {
		return a.refreshPOSTs.Load() == int64(a.op.Stats().Grants["refresh_token"])
	})
	posts := tabs[0].refreshPOSTs() + tabs[1].refreshPOSTs()
	grants := a.op.Stats().SuccessfulGrants["refresh_token"]
	if posts != grants || int64(posts) != a.refreshPOSTs.Load() || a.op.Stats().Grants["refresh_token"] != grants {
		t.Fatalf("scheduleRefresh in 2 tabs: %d refresh POSTs (server saw %d), %d grants (%d attempts)",
			posts, a.refreshPOSTs.Load(), grants, a.op.Stats().Grants["refresh_token"])
	}
	for _, tb := range tabs {
		var rs []callResult
		tb.eval(callsJS(1), &rs)
		if rs[0].Status != 200 || tb.count("GET", "/api/x") != 1 {
			t.Fatalf("a call after the renewals: %v, %d API requests", rs, tb.count("GET", "/api/x"))
		}
		tb.noProblems()
	}
	t.Logf("scheduleRefresh, 2 tabs, 3 lifetimes: %d refresh POSTs = %d grants (tabs: %d + %d)", posts, grants, tabs[0].refreshPOSTs(), tabs[1].refreshPOSTs())
}

// TestSignOutTellsTheOtherTab: sign-out in one tab reaches the other tab,
// whose scheduled renewal stops: over the next 10 s neither tab sends a
// refresh POST or an API call.
func TestSignOutTellsTheOtherTab(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, ttl)
	s := newSession(t)
	tabA, tabB := s.newTab(), s.newTab()
	a.signIn(tabA, "module")
	tabB.navigate(a.base+"/page/module", `document.documentElement.dataset.ready === "module"`)
	for _, tb := range []*tab{tabA, tabB} {
		tb.eval(`(window.cancel = window.schedule(), true)`, nil)
	}
	var out struct {
		OK bool `json:"ok"`
	}
	tabA.eval(`window.helper.signOut({navigate: false})`, &out)
	if !out.OK {
		t.Fatal("sign-out failed")
	}
	tabB.waitJS(`window.events.some((e) => e.type === "ended" && e.reason === "signed_out" && e.source === "other-tab")`, 5*time.Second)

	tabB.mu.Lock()
	before := len(tabB.requests)
	tabB.mu.Unlock()
	postsBefore, grantsBefore := a.refreshPOSTs.Load(), a.op.Stats().Grants["refresh_token"]
	time.Sleep(10 * time.Second) // two token lifetimes: a live schedule would have fired twice
	tabB.mu.Lock()
	after := tabB.requests[before:]
	tabB.mu.Unlock()
	if len(after) != 0 || a.refreshPOSTs.Load() != postsBefore || a.op.Stats().Grants["refresh_token"] != grantsBefore {
		t.Fatalf("after sign-out: tab B sent %v; refresh POSTs %d -> %d", after, postsBefore, a.refreshPOSTs.Load())
	}
	if tabA.count("POST", "/auth/logout") != 1 || tabB.count("POST", "/auth/logout") != 0 {
		t.Fatal("logout POSTs")
	}
	tabA.noProblems()
	tabB.noProblems()
	t.Log("sign-out in tab A: tab B told; 0 requests from tab B and 0 refresh POSTs in the next 10 s")
}

// TestRefreshRefused: the provider refuses the refresh token. Five
// concurrent calls cost one refresh POST, all get the refresh's 401
// session_expired, onSessionExpired runs once, and nothing is retried
// afterwards.
func TestRefreshRefused(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, ttl)
	tb := newSession(t).newTab()
	a.signIn(tb, "module")
	a.op.FailNextRefreshes(1, 400, "invalid_grant")
	sleepPastExpiry(tb)

	var rs []callResult
	tb.eval(callsJS(5), &rs)
	// Every call ends in a 401 that means the session is over: the
	// refresh's session_expired, or, for a call the browser sent only
	// after the refused refresh had deleted the cookie (a loaded machine
	// delays dispatch), unauthenticated. At least one waited for the
	// refresh.
	refused := 0
	for _, r := range rs {
		if r.Status != 401 || (r.Error != "session_expired" && r.Error != "unauthenticated") {
			t.Fatalf("calls after a refused refresh: %+v", rs)
		}
		if r.Error == "session_expired" {
			refused++
		}
	}
	if refused == 0 {
		t.Fatalf("no call got the refused refresh's answer: %+v", rs)
	}
	var expired []map[string]any
	tb.eval(`window.expired`, &expired)
	if len(expired) != 1 || (expired[0]["error"] != "session_expired" && expired[0]["error"] != "unauthenticated") {
		t.Fatalf("onSessionExpired: %v", expired)
	}
	// A later call meets the cleared session: 401 unauthenticated, no new
	// onSessionExpired (the tab knows already), no refresh.
	tb.eval(callsJS(1), &rs)
	if rs[0].Status != 401 || rs[0].Error != "unauthenticated" {
		t.Fatalf("a later call: %+v", rs)
	}
	// A schedule started now has nothing to renew.
	tb.eval(`(window.cancel = window.schedule(), true)`, nil)
	time.Sleep(ttl)
	var notified int
	tb.eval(`window.expired.length`, &notified)
	if notified != 1 {
		t.Fatalf("onSessionExpired ran %d times", notified)
	}
	if posts := tb.refreshPOSTs(); posts != 1 || a.op.Stats().Grants["refresh_token"] != 1 || a.op.Stats().SuccessfulGrants["refresh_token"] != 0 {
		t.Fatalf("refused refresh: %d refresh POSTs, %d attempts at the provider", posts, a.op.Stats().Grants["refresh_token"])
	}
	if n := tb.count("GET", "/api/x"); n != 6 {
		t.Fatalf("%d API requests, want 6 (none retried)", n)
	}
	tb.noProblems()
	t.Logf("refresh refused: 5 calls (%d with the refresh's session_expired), 1 refresh POST, onSessionExpired once, no loop", refused)
}

// TestProviderDown: during a provider outage a call gets the refresh's 503
// with Retry-After and is not retried; until Retry-After ends, calls and
// scheduleRefresh get that 503 without a POST; once the provider is back,
// one grant renews the session.
func TestProviderDown(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, ttl)
	tb := newSession(t).newTab()
	a.signIn(tb, "module")
	a.op.SetRefreshOutage(true)
	sleepPastExpiry(tb)

	var rs []callResult
	tb.eval(callsJS(3), &rs)
	answered := time.Now() // the browser read the 503 before this
	for _, r := range rs {
		if r.Status != 503 || r.Error != "temporarily_unavailable" || r.RetryAfter != "5" {
			t.Fatalf("calls during the outage: %+v", rs)
		}
	}
	if posts, api := tb.refreshPOSTs(), tb.count("GET", "/api/x"); posts != 1 || api != 3 {
		t.Fatalf("during the outage: %d refresh POSTs, %d API requests; want 1 and 3", posts, api)
	}

	// Inside Retry-After (5 s) a call gets the same 503 without a POST,
	// and a schedule started now waits for its end.
	tb.eval(callsJS(1), &rs)
	if rs[0].Status != 503 || rs[0].RetryAfter != "5" {
		t.Fatalf("a call inside Retry-After: %+v", rs)
	}
	tb.eval(`(window.cancel = window.schedule(), true)`, nil)
	time.Sleep(time.Until(answered.Add(3500 * time.Millisecond)))
	if n := tb.refreshPOSTs(); n != 1 {
		t.Fatalf("%d refresh POSTs %v after the 503, want 1: Retry-After is 5 s", n, time.Since(answered).Round(time.Millisecond))
	}
	a.op.SetRefreshOutage(false)
	waitFor(t, "the renewal after Retry-After", 8*time.Second, func() bool { return a.op.Stats().SuccessfulGrants["refresh_token"] == 1 })
	if waited := time.Since(answered); waited < 4*time.Second {
		t.Fatalf("renewed %v after the 503, before Retry-After ended", waited)
	}
	tb.waitJS(`window.events.some((e) => e.type === "refreshed")`, 3*time.Second)
	tb.eval(`window.cancel()`, nil)
	tb.eval(callsJS(1), &rs)
	if rs[0].Status != 200 {
		t.Fatalf("after the outage: %+v", rs)
	}
	if posts := tb.refreshPOSTs(); posts != 2 || a.op.Stats().Grants["refresh_token"] != 2 || a.op.Stats().SuccessfulGrants["refresh_token"] != 1 {
		t.Fatalf("provider down: %d refresh POSTs, %d attempts, %d grants; want 2, 2, 1", posts, a.op.Stats().Grants["refresh_token"], a.op.Stats().SuccessfulGrants["refresh_token"])
	}
	tb.noProblems()
	t.Log("provider down: 3 calls, 1 refresh POST, 503 + Retry-After, no retry; a call and the schedule inside Retry-After sent no POST; after it, 1 grant")
}
