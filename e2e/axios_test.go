package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// axiosPath is the browser build of the pinned axios, installed by
// scripts/prepare.sh (npm ci in axios/).
var axiosPath = filepath.Join("axios", "node_modules", "axios", "dist", "axios.min.js")

// axiosCallsJS makes n concurrent GETs of /api/x through the page's axios
// instance and resolves with their status and JSON "error"; a rejected
// call reports its response and the refresh the interceptor tried
// (error.oidcsessionRefresh).
func axiosCallsJS(n int) string {
	return `Promise.all(Array.from({length: ` + itoa(n) + `}, () => window.ax.get("/api/x").then(
  (r) => ({ status: r.status, error: "", refreshStatus: 0, refreshError: "" }),
  (e) => ({ status: e.response ? e.response.status : 0, error: (e.response && e.response.data && e.response.data.error) || "",
            refreshStatus: e.oidcsessionRefresh ? e.oidcsessionRefresh.status : 0,
            refreshError: (e.oidcsessionRefresh && e.oidcsessionRefresh.error) || "" }))))`
}

type axiosResult struct {
	Status        int    `json:"status"`
	Error         string `json:"error"`
	RefreshStatus int    `json:"refreshStatus"`
	RefreshError  string `json:"refreshError"`
}

// TestAxiosInterceptor: the interceptor on the real axios (npm, pinned)
// in Chromium: 20 concurrent calls after expiry cost one refresh POST and
// one grant and all succeed; after a refused refresh every call rejects
// with what ended the session, onSessionExpired runs once, no loop.
func TestAxiosInterceptor(t *testing.T) {
	if _, err := os.Stat(axiosPath); err != nil {
		if os.Getenv("OIDCSESSION_E2E") == "require" {
			t.Fatalf("axios is not installed (run e2e/scripts/prepare.sh): %v", err)
		}
		t.Skipf("axios is not installed (run e2e/scripts/prepare.sh): %v", err)
	}
	t.Parallel()
	a := newTestApp(t, ttl)
	tb := newSession(t).newTab()
	a.signIn(tb, "axios")

	sleepPastExpiry(tb)
	var rs []axiosResult
	tb.eval(axiosCallsJS(20), &rs)
	var got []int
	for _, r := range rs {
		got = append(got, r.Status)
	}
	if !slices.Equal(got, repeat(200, 20)) {
		t.Fatalf("20 axios calls after expiry: %+v", rs)
	}
	if posts, grants := tb.refreshPOSTs(), a.op.Stats().SuccessfulGrants["refresh_token"]; posts != 1 || grants != 1 {
		t.Fatalf("20 axios calls: %d refresh POSTs, %d grants; want 1 and 1", posts, grants)
	}
	if n := tb.count("GET", "/api/x"); n < 20 || n > 40 {
		t.Fatalf("20 calls sent %d API requests, want each once and at most one retry each", n)
	}

	// The next token expires; the provider refuses its refresh.
	tb.navigate(a.base+"/page/axios", `document.documentElement.dataset.ready === "axios"`)
	a.op.FailNextRefreshes(1, 400, "invalid_grant")
	sleepPastExpiry(tb)
	tb.eval(axiosCallsJS(5), &rs)
	refused := 0
	for _, r := range rs {
		switch {
		case r.Status == 401 && r.RefreshStatus == 401 && r.RefreshError == "session_expired":
			refused++ // the refused refresh's answer
		case r.Status == 401 && r.Error == "unauthenticated" && r.RefreshStatus == 0:
			// sent after the refused refresh had deleted the cookie
		default:
			t.Fatalf("axios calls after a refused refresh: %+v", rs)
		}
	}
	if refused == 0 {
		t.Fatalf("no call got the refused refresh's answer: %+v", rs)
	}
	var expired []map[string]any
	tb.eval(`window.expired`, &expired)
	if len(expired) != 1 {
		t.Fatalf("onSessionExpired: %v", expired)
	}
	if posts, attempts := tb.refreshPOSTs(), a.op.Stats().Grants["refresh_token"]; posts != 2 || attempts != 2 {
		t.Fatalf("after the refused refresh: %d refresh POSTs, %d attempts at the provider; want 2 and 2", posts, attempts)
	}
	tb.noProblems()
	var version string
	tb.eval(`axios.VERSION`, &version)
	t.Logf("axios %s: 20 calls after expiry, 1 refresh POST, 1 grant; refused refresh: %d/5 calls got it, onSessionExpired once, no loop", version, refused)
}
