package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// runExample builds the example program and runs it, with its embedded
// provider on free ports and tokens that live ttl, until the test ends; it
// returns the URL the program prints.
func runExample(t *testing.T, tokenTTL time.Duration) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "example")
	build := exec.Command("go", "build", "-o", bin, "github.com/oidcsession/oidcsession/example")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./example: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "ADDR=127.0.0.1:0", "OIDC_TEST_ADDR=127.0.0.1:0", "OIDC_TEST_TOKEN_TTL="+tokenTTL.String(),
		"OIDC_ISSUER=", "BASE_URL=", "SESSION_KEYS=")
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
// with its scheduled renewal, the API, a phone-sized dark view, sign-out
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
	tb.screenshot("05-app-dark-390px")
	tb.run(emulation.ClearDeviceMetricsOverride(), emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{}))

	// A second tab on /app, then sign out from the home page in the first.
	other := s.newTab()
	other.navigate(base+"/app", `document.documentElement.dataset.ready === "1"`)
	tb.run(chromedp.Navigate(base+"/"), chromedp.WaitVisible(`#signout`, chromedp.ByQuery), chromedp.Click(`#signout`, chromedp.ByQuery))
	tb.waitJS(`location.pathname === "/signed-out"`, 10*time.Second)
	if got := tb.text("h1"); got != "You are signed out" {
		t.Fatalf("after sign-out: %q", got)
	}
	tb.screenshot("06-signed-out")
	other.waitJS(`!document.getElementById("ended").hidden && document.getElementById("ended-text").textContent === "You signed out in another tab."`, 5*time.Second)
	other.screenshot("07-other-tab-told")
	postsBefore := other.refreshPOSTs()

	// Signing in again asks again: the provider's session ended too.
	tb.run(chromedp.Click(`a[href="/auth/login?return_to=/app"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`button[value="continue"]`, chromedp.ByQuery))
	tb.screenshot("08-sign-in-again")
	if n := other.refreshPOSTs(); n != postsBefore {
		t.Fatalf("the signed-out tab sent %d refresh POSTs", n-postsBefore)
	}
	tb.noProblems()
	other.noProblems()
	dir, _ := filepath.Abs(filepath.Join("artifacts", t.Name()))
	fmt.Fprintf(os.Stderr, "e2e: example screenshots in %s\n", dir)
}
