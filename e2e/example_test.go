package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// runExample builds the example program and runs it, with its embedded
// provider on free ports, tokens that live ttl and env (KEY=value) added
// to its environment, until the test ends; it returns the URL the program
// prints.
func runExample(t *testing.T, tokenTTL time.Duration, env ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "example")
	build := exec.Command("go", "build", "-o", bin, "github.com/oidcsession/oidcsession/example")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./example: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "ADDR=127.0.0.1:0", "OIDC_TEST_ADDR=127.0.0.1:0", "OIDC_TEST_TOKEN_TTL="+tokenTTL.String(),
		"OIDC_ISSUER=", "BASE_URL=", "SESSION_KEYS=", "REDIS_URL=")
	cmd.Env = append(cmd.Env, env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		open := regexp.MustCompile(`oidcsession example: open (http://\S+)/`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := open.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case base := <-found:
		return base
	case <-time.After(30 * time.Second):
		t.Fatal("the example did not print its URL")
	}
	return ""
}

// text reads an element's text.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	var s string
	tb.run(chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// TestExampleClickThrough runs the example program and goes through it as
// a person does: home, sign in at the test provider's page, the app page
// with its scheduled renewal, the API, the orders API through the proxy,
// the sessions card without a store, a phone-sized dark view, sign-out
// from the home page (the classic build) while a second tab on /app (the
// module build) is told, and signing in again. Screenshots go to artifacts/.
func TestExampleClickThrough(t *testing.T) {
	t.Parallel()
	const tokenTTL = 6 * time.Second
	base := runExample(t, tokenTTL)
	s := newSession(t)
	tb := s.newTab()

	tb.run(chromedp.Navigate(base+"/"), chromedp.WaitVisible(`a[href="/auth/login?return_to=/app"]`, chromedp.ByQuery))
	if got := tb.text("aside.banner"); !strings.Contains(got, "Test provider.") || !strings.Contains(got, "live 6s") {
		t.Fatalf("home banner: %q", got)
	}
	tb.screenshot("01-home")

	tb.run(chromedp.Click(`a[href="/auth/login?return_to=/app"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`button[value="continue"]`, chromedp.ByQuery))
	if got := tb.text("main"); !strings.Contains(got, "Continue as Test User") {
		t.Fatalf("provider page: %q", got)
	}
	tb.screenshot("02-provider-sign-in")

	tb.run(chromedp.Click(`button[value="continue"]`, chromedp.ByQuery))
	tb.waitJS(`location.pathname === "/app" && document.documentElement.dataset.ready === "1"`, 20*time.Second)
	if got := tb.text("#token-state"); !regexp.MustCompile(`^valid for \d+ s$`).MatchString(got) {
		t.Fatalf("token state %q", got)
	}
	if got := tb.text("h1"); got != "Signed in as user-1" {
		t.Fatalf("/app heading %q", got)
	}
	tb.screenshot("03-app")

	// scheduleRefresh renews at the server's refresh_at, before expiry.
	tb.waitJS(`document.getElementById("log").textContent.includes("renewed by this tab")`, tokenTTL+5*time.Second)
	if n := tb.refreshPOSTs(); n != 1 {
		t.Fatalf("%d refresh POSTs for one renewal", n)
	}
	tb.run(chromedp.Click(`#call`, chromedp.ByQuery))
	tb.waitJS(`document.getElementById("api").textContent.startsWith("200")`, 5*time.Second)
	tb.run(chromedp.Click(`#refresh`, chromedp.ByQuery))
	tb.waitJS(`document.getElementById("api").textContent.includes("the server kept the token")`, 5*time.Second)
	tb.screenshot("04-app-renewed")

	// The orders API, through the package's proxy: JSON from the API
	// itself, for this user, with a token the browser never held.
	tb.run(chromedp.Click(`#orders`, chromedp.ByQuery))
	tb.waitJS(`document.getElementById("api").textContent.includes('"api": "orders"')`, 5*time.Second)
	if got := tb.text("#api"); !strings.HasPrefix(got, "200 OK from the orders API") || !strings.Contains(got, `"subject": "user-1"`) || !strings.Contains(got, `"A-1001"`) {
		t.Fatalf("orders API: %q", got)
	}
	if n := tb.count("GET", "/api/orders/"); n != 1 {
		t.Fatalf("%d requests to /api/orders/, want 1", n)
	}
	tb.screenshot("05-orders-api")

	// Without REDIS_URL, the sessions card says what listing devices needs.
	if got := tb.text("#sessions"); !strings.Contains(got, "sealed cookies") || !strings.Contains(got, "REDIS_URL=redis://127.0.0.1:6379/0") {
		t.Fatalf("sessions card in cookie mode: %q", got)
	}
	tb.run(chromedp.ScrollIntoView(`#sessions`, chromedp.ByQuery))
	tb.screenshot("06-sessions-need-a-store")
	tb.eval(`window.scrollTo(0, 0)`, nil)

	// A phone in dark mode.
	tb.run(
		emulation.SetDeviceMetricsOverride(390, 844, 3, true),
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}),
	)
	var overflow bool
	tb.eval(`document.documentElement.scrollWidth > window.innerWidth`, &overflow)
	if overflow {
		t.Error("the app page scrolls sideways at 390 px")
	}
	tb.screenshot("07-app-dark-390px")
	tb.run(emulation.ClearDeviceMetricsOverride(), emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{}))

	// A second tab on /app, then sign out from the home page in the first.
	other := s.newTab()
	other.navigate(base+"/app", `document.documentElement.dataset.ready === "1"`)
	tb.run(chromedp.Navigate(base+"/"), chromedp.WaitVisible(`#signout`, chromedp.ByQuery), chromedp.Click(`#signout`, chromedp.ByQuery))
	tb.waitJS(`location.pathname === "/signed-out"`, 10*time.Second)
	if got := tb.text("h1"); got != "You are signed out" {
		t.Fatalf("after sign-out: %q", got)
	}
	tb.screenshot("08-signed-out")
	other.waitJS(`!document.getElementById("ended").hidden && document.getElementById("ended-text").textContent === "You signed out in another tab."`, 5*time.Second)
	other.screenshot("09-other-tab-told")
	postsBefore := other.refreshPOSTs()

	// Signing in again asks again: the provider's session ended too.
	tb.run(chromedp.Click(`a[href="/auth/login?return_to=/app"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`button[value="continue"]`, chromedp.ByQuery))
	tb.screenshot("10-sign-in-again")
	if n := other.refreshPOSTs(); n != postsBefore {
		t.Fatalf("the signed-out tab sent %d refresh POSTs", n-postsBefore)
	}
	tb.noProblems()
	other.noProblems()
	dir, _ := filepath.Abs(filepath.Join("artifacts", t.Name()))
	fmt.Fprintf(os.Stderr, "e2e: example screenshots in %s\n", dir)
}

// signInAt signs the tab's browser in through the example's pages: the
// login URL, the test provider's Continue, back on /app once its script ran.
func signInAt(tb *tab, base string) {
	tb.t.Helper()
	tb.run(chromedp.Navigate(base+"/auth/login?return_to=/app"), chromedp.WaitVisible(`button[value="continue"]`, chromedp.ByQuery),
		chromedp.Click(`button[value="continue"]`, chromedp.ByQuery))
	tb.waitJS(`location.pathname === "/app" && document.documentElement.dataset.ready === "1"`, 20*time.Second)
}

// rows returns the session IDs /app's "Your sessions" card lists, and the
// one marked as this device.
func (tb *tab) rows() (ids []string, current string) {
	tb.t.Helper()
	tb.eval(`[...document.querySelectorAll("#device-list li")].map((li) => li.dataset.sessionId)`, &ids)
	tb.eval(`[...document.querySelectorAll("#device-list li[data-current]")].map((li) => li.dataset.sessionId).join(" ")`, &current)
	return ids, current
}

// TestExampleSessionsOnRedis runs the example with REDIS_URL on a
// redis-server of its own and three browser contexts (three devices) of
// one user: /app lists the three sessions with this device marked; "Sign
// out" on one row ends that device's session, whose page learns it at its
// next call; "Sign out other devices" ends the last one; then the card in
// a phone-sized dark view. Screenshots go to artifacts/.
func TestExampleSessionsOnRedis(t *testing.T) {
	t.Parallel()
	base := runExample(t, 30*time.Second, "REDIS_URL="+startRedis(t))
	a, b, c := newSession(t).newTab(), newSession(t).newTab(), newSession(t).newTab()
	for _, tb := range []*tab{a, b, c} {
		signInAt(tb, base)
	}
	_, idB := b.rows()
	_, idC := c.rows()
	a.navigate(base+"/app", `document.documentElement.dataset.ready === "1"`)
	ids, idA := a.rows()
	if len(ids) != 3 || idA == "" || idB == "" || idC == "" || !slices.Contains(ids, idA) || !slices.Contains(ids, idB) || !slices.Contains(ids, idC) {
		t.Fatalf("a lists %v (this device %q); b is %q, c is %q", ids, idA, idB, idC)
	}
	if first := ids[0]; first != idA {
		t.Errorf("this device is not listed first: %v, this device %s", ids, idA)
	}
	card := a.text("#sessions")
	if strings.Count(card, "This device") != 1 || strings.Count(card, "Chrome on Linux") != 3 || !strings.Contains(card, "Sign out other devices") {
		t.Fatalf("sessions card: %q", card)
	}
	a.run(chromedp.ScrollIntoView(`#sessions`, chromedp.ByQuery))
	a.screenshot("01-sessions-three-devices")

	// Sign out b's device from a.
	a.run(chromedp.Click(`#device-list li[data-session-id="`+idB+`"] button[data-sign-out]`, chromedp.ByQuery))
	a.waitJS(`!document.querySelector('#device-list li[data-session-id="`+idB+`"]') && document.getElementById("log").textContent.includes("Signed out a device")`, 5*time.Second)
	if ids, _ := a.rows(); len(ids) != 2 || a.count("POST", "/api/sessions/sign-out") != 1 {
		t.Fatalf("after signing out b: a lists %v, %d sign-out POSTs", ids, a.count("POST", "/api/sessions/sign-out"))
	}
	a.run(chromedp.ScrollIntoView(`#sessions`, chromedp.ByQuery))
	a.screenshot("02-one-device-signed-out")

	// b's page learns it at its next call: its session is gone.
	b.run(chromedp.Click(`#call`, chromedp.ByQuery))
	b.waitJS(`!document.getElementById("ended").hidden`, 5*time.Second)
	if got := b.text("#ended-text"); got != "Your session has ended." {
		t.Fatalf("b after its sign-out: %q", got)
	}
	b.screenshot("03-signed-out-device")

	// c is still signed in; "Sign out other devices" in a ends it.
	c.run(chromedp.Click(`#call`, chromedp.ByQuery))
	c.waitJS(`document.getElementById("api").textContent.startsWith("200")`, 5*time.Second)
	a.run(chromedp.Click(`#sign-out-others`, chromedp.ByQuery))
	a.waitJS(`document.querySelectorAll("#device-list li").length === 1 && document.getElementById("no-others").checkVisibility() && !document.getElementById("sign-out-others").checkVisibility()`, 5*time.Second)
	c.run(chromedp.Click(`#call`, chromedp.ByQuery))
	c.waitJS(`!document.getElementById("ended").hidden`, 5*time.Second)

	// a itself is untouched, and its card fits a phone in dark mode.
	a.run(chromedp.Click(`#call`, chromedp.ByQuery))
	a.waitJS(`document.getElementById("api").textContent.startsWith("200")`, 5*time.Second)
	a.run(
		emulation.SetDeviceMetricsOverride(390, 844, 3, true),
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}),
	)
	a.navigate(base+"/app", `document.documentElement.dataset.ready === "1"`)
	var overflow bool
	a.eval(`document.documentElement.scrollWidth > window.innerWidth`, &overflow)
	if overflow {
		t.Error("the app page scrolls sideways at 390 px")
	}
	var shown []bool
	a.eval(`["#device-list li[data-current]", "#no-others", "#sign-out-others"].map((s) => document.querySelector(s).checkVisibility())`, &shown)
	if !slices.Equal(shown, []bool{true, true, false}) {
		t.Fatalf("after a reload, visible [this device, no-others note, sign-out-others]: %v", shown)
	}
	a.run(chromedp.ScrollIntoView(`#sessions`, chromedp.ByQuery))
	a.screenshot("04-only-this-device-dark-390px")
	for _, tb := range []*tab{a, b, c} {
		tb.noProblems()
	}
	dir, _ := filepath.Abs(filepath.Join("artifacts", t.Name()))
	fmt.Fprintf(os.Stderr, "e2e: sessions screenshots in %s\n", dir)
}
