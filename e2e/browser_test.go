package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// requireEnv makes a missing Chromium a failure instead of a skip; CI sets it.
const requireEnv = "OIDCSESSION_E2E"

var (
	browserOnce sync.Once
	browserCtx  context.Context // the running Chromium, shared by every test
	browserErr  error
	closeAll    = func() {}
)

func TestMain(m *testing.M) {
	code := m.Run()
	closeAll()
	os.Exit(code)
}

// chromiumPath finds Debian's chromium (never a browser downloaded at run time).
func chromiumPath() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	return "", errors.New("no Chromium found (set CHROMIUM, or install Debian's chromium package: apt-get install chromium)")
}

// startBrowser launches one headless Chromium with a fresh profile, with
// the flags a closed network and a root user need.
func startBrowser() (context.Context, func(), error) {
	path, err := chromiumPath()
	if err != nil {
		return nil, nil, err
	}
	profile, err := os.MkdirTemp("", "oidcsession-e2e-profile-")
	if err != nil {
		return nil, nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // root in a container
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	stop := func() {
		cancelBrowser()
		cancelAlloc()
		_ = os.RemoveAll(profile)
	}
	// The first Run starts the browser, which lives as long as its context:
	// no timeout here.
	if err := chromedp.Run(ctx); err != nil {
		stop()
		return nil, nil, fmt.Errorf("starting %s: %w", path, err)
	}
	return ctx, stop, nil
}

// session is one browser context (its own cookies, storage, locks and
// channels) with its tabs.
type session struct {
	t  *testing.T
	id cdp.BrowserContextID
}

// browserExec sends commands to the browser itself (not to a tab).
func browserExec() context.Context {
	return cdp.WithExecutor(browserCtx, chromedp.FromContext(browserCtx).Browser)
}

// newSession gives the test a fresh browser context in the shared Chromium,
// or skips (fails with OIDCSESSION_E2E=require) when there is no Chromium.
func newSession(t *testing.T) *session {
	t.Helper()
	browserOnce.Do(func() {
		var stop func()
		browserCtx, stop, browserErr = startBrowser()
		if browserErr == nil {
			closeAll = stop
		}
	})
	if browserErr != nil {
		if os.Getenv(requireEnv) == "require" {
			t.Fatalf("%s=require and the browser is not usable: %v", requireEnv, browserErr)
		}
		t.Skipf("skipping the browser tests: %v (set %s=require to make this a failure)", browserErr, requireEnv)
	}
	id, err := target.CreateBrowserContext().Do(browserExec())
	if err != nil {
		t.Fatalf("creating a browser context: %v", err)
	}
	t.Cleanup(func() { _ = target.DisposeBrowserContext(id).Do(browserExec()) })
	return &session{t: t, id: id}
}

// request is one request a tab sent, as the DevTools protocol reported it.
type request struct {
	method, path string
}

// tab is one page target: it records every request it sends and every
// script error, CSP violation and uncaught exception.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	requests []request
	problems []string
}

// newTab opens a tab of the session in a window of its own, so every tab
// is visible (a background tab's timers would be throttled) and a new
// browser context needs no existing window.
func (s *session) newTab() *tab {
	s.t.Helper()
	id, err := target.CreateTarget("about:blank").WithBrowserContextID(s.id).WithNewWindow(true).Do(browserExec())
	if err != nil {
		s.t.Fatalf("opening a tab: %v", err)
	}
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithTargetID(id))
	s.t.Cleanup(cancel)
	tb := &tab{t: s.t, ctx: ctx}
	chromedp.ListenTarget(ctx, tb.observe)
	if err := chromedp.Run(ctx, network.Enable(), log.Enable(), runtime.Enable(), page.Enable()); err != nil {
		s.t.Fatalf("attaching to a tab: %v", err)
	}
	return tb
}

func (tb *tab) observe(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if u, err := url.Parse(e.Request.URL); err == nil {
			tb.requests = append(tb.requests, request{e.Request.Method, u.Path})
		}
	case *runtime.EventExceptionThrown:
		tb.problems = append(tb.problems, "exception: "+e.ExceptionDetails.Error())
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.APITypeError {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value))
			}
			tb.problems = append(tb.problems, "console.error: "+strings.Join(parts, " "))
		}
	case *log.EventEntryAdded:
		// Failed fetches (401, 503) are logged as "network" errors on
		// purpose; CSP, integrity and script errors are what matter.
		if e.Entry.Level == log.LevelError && e.Entry.Source != log.SourceNetwork {
			tb.problems = append(tb.problems, string(e.Entry.Source)+": "+e.Entry.Text)
		}
	}
}

// count returns how many requests with method to path the tab has sent.
func (tb *tab) count(method, path string) int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	n := 0
	for _, r := range tb.requests {
		if r.method == method && r.path == path {
			n++
		}
	}
	return n
}

// refreshPOSTs is how many refresh POSTs the tab has sent.
func (tb *tab) refreshPOSTs() int { return tb.count("POST", "/auth/refresh") }

// noProblems fails the test if the tab logged a script error or a CSP or
// integrity violation.
func (tb *tab) noProblems() {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.problems) > 0 {
		tb.t.Fatalf("the page reported:\n  %s", strings.Join(tb.problems, "\n  "))
	}
}

// problemsContaining returns the logged problems that contain s.
func (tb *tab) problemsContaining(s string) []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, p := range tb.problems {
		if strings.Contains(p, s) {
			out = append(out, p)
		}
	}
	return out
}

// run runs actions with a deadline, failing the test on error.
func (tb *tab) run(actions ...chromedp.Action) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page, awaiting a promise,
// and decodes its JSON value into out (which may be nil).
func (tb *tab) eval(expr string, out any) {
	tb.t.Helper()
	if err := tb.evalErr(expr, out); err != nil {
		tb.t.Fatalf("evaluating %s: %v", expr, err)
	}
}

// evalErr is eval for other goroutines than the test's: it returns the error.
func (tb *tab) evalErr(expr string, out any) error {
	ctx, cancel := context.WithTimeout(tb.ctx, 60*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
}

// navigate loads u and waits for the page's script to say it is ready.
func (tb *tab) navigate(u, ready string) {
	tb.t.Helper()
	tb.run(chromedp.Navigate(u))
	tb.waitJS(ready, 20*time.Second)
}

// waitJS polls a JavaScript condition in the page until it is true. A
// navigation in between (a click that loads the next page) is waited out.
func (tb *tab) waitJS(cond string, within time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(within)
	var lastErr error
	for {
		var ok bool
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		lastErr = chromedp.Run(ctx, chromedp.Evaluate("!!("+cond+")", &ok))
		cancel()
		if lastErr == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("timed out after %v waiting for %s (last error: %v)", within, cond, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// emptied holds the artifacts directories emptied by this run, so a test's
// directory holds only the screenshots of its latest run.
var emptied sync.Map

// screenshot saves the viewport as artifacts/<test>/<name>.png and logs the path.
func (tb *tab) screenshot(name string) string {
	tb.t.Helper()
	var png []byte
	tb.run(chromedp.CaptureScreenshot(&png))
	dir := filepath.Join("artifacts", strings.ReplaceAll(tb.t.Name(), "/", "_"))
	if _, done := emptied.LoadOrStore(dir, true); !done {
		if err := os.RemoveAll(dir); err != nil {
			tb.t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	abs, _ := filepath.Abs(file)
	tb.t.Logf("screenshot: %s", abs)
	return abs
}

// waitFor polls a Go condition; the browser and the servers work in real time.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
