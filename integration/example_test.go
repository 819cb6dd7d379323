package integration

import (
	"bytes"
	"context"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	exampleOnce sync.Once
	exampleBin  string
	exampleErr  error
)

// buildExample builds `go run ./example` once per run.
func buildExample(t *testing.T) string {
	t.Helper()
	exampleOnce.Do(func() {
		exampleBin = filepath.Join(tmpDir, "example")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", exampleBin, "./example")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			exampleErr = &buildError{err: err, out: string(out)}
		}
	})
	if exampleErr != nil {
		t.Fatalf("go build ./example: %v", exampleErr)
	}
	return exampleBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// exampleReads reports whether the example program reads the environment
// variable name.
func exampleReads(t *testing.T, name string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repoRoot(), "example", "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(`"`+name+`"`)) {
			return true
		}
	}
	return false
}

// The example program, as a user runs it against their provider: only the
// documented OIDC_* variables, API_RESOURCE, BASE_URL, ADDR and
// SESSION_KEYS. Checked at the HTTP level: sign in through the provider's
// pages, the page and the JSON API, a session that outlives its access
// token, the orders API through the example's proxy, sign-out.
func TestExample(t *testing.T) {
	forEachProvider(t, func(t *testing.T, p *provider) {
		bin := buildExample(t)
		u := p.newUser(t)
		c := p.clients["basic"]
		addr := exampleAddrs[p.name]
		base := "http://" + addr
		// The orders API behind the example's proxy takes tokens for its
		// resource where the provider has resource indicators (the
		// sign-in asks for its scope, so the grant holds it), else the
		// session's own token with the client as audience (Dex's are JWTs).
		scopes, resource, audience := "openid profile email offline_access", "", c.id
		if p.resourceIndicators {
			scopes, resource, audience = scopes+" "+ordersScope, ordersResource, ordersResource
		}
		env := []string{
			"OIDC_ISSUER=" + p.issuer,
			"OIDC_CLIENT_ID=" + c.id,
			"OIDC_CLIENT_SECRET=" + c.secret,
			"OIDC_SCOPES=" + scopes,
			"API_RESOURCE=" + resource,
			"BASE_URL=" + base,
			"ADDR=" + addr,
			"SESSION_KEYS=" + hex.EncodeToString(randomBytes(32)) + ":" + hex.EncodeToString(randomBytes(32)),
		}
		// Where offline_access needs prompt=consent, the example gets a
		// refresh token only if it can be told to send it.
		refreshable := !p.consentForOffline
		if p.consentForOffline && exampleReads(t, "OIDC_PROMPT") {
			env = append(env, "OIDC_PROMPT=consent")
			refreshable = true
		}
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), env...)
		proc, err := startChild("example-"+p.name, tmpDir, cmd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			proc.stop()
			if t.Failed() {
				t.Logf("example's log:\n%s", proc.log.tail(40))
			}
		})
		waitForExample(t, proc, base)

		b := newBrowser(t, p, u)
		r := b.get(base + "/app")
		if r.status != http.StatusOK || r.url.String() != base+"/app" || len(b.pages) == 0 {
			t.Fatalf("sign-in through the example: %s (provider pages %v)", r, b.pages)
		}
		signedIn := time.Now()
		var me struct {
			Sub string `json:"sub"`
		}
		r = b.fetch(http.MethodGet, base+"/api/me", nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/me: %s", r)
		}
		r.json(t, &me)
		if me.Sub == "" {
			t.Fatalf("GET /api/me has no sub: %s", r)
		}

		// The access token expires (3 s at both providers).
		time.Sleep(time.Until(signedIn.Add(tokenLifetime*time.Second + 300*time.Millisecond)))
		if r := b.fetch(http.MethodGet, base+"/api/me", nil); r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "try_refresh") {
			t.Fatalf("GET /api/me after expiry: %s; want 401 try_refresh", r)
		}
		pages := len(b.pages)
		if refreshable {
			if r := b.fetch(http.MethodPost, base+"/auth/refresh", nil); r.status != http.StatusOK {
				t.Fatalf("POST /auth/refresh: %s", r)
			}
			if got := p.counts(t, u); got.RefreshGrants != 1 {
				t.Errorf("provider counted %d refresh grants, want 1", got.RefreshGrants)
			}
		} else {
			// No refresh token (the example sends no prompt=consent): a page
			// renews the session silently with prompt=none.
			if r := b.get(base + "/app"); r.status != http.StatusOK || r.url.String() != base+"/app" || len(b.pages) != pages {
				t.Fatalf("silent renewal through the example: %s (provider pages %v)", r, b.pages)
			}
			if got := p.counts(t, u); got.SilentOK != 1 || got.RefreshGrants != 0 {
				t.Errorf("provider: %d silent authorizations, %d refresh grants; want 1 and 0", got.SilentOK, got.RefreshGrants)
			}
		}
		if r := b.fetch(http.MethodGet, base+"/api/me", nil); r.status != http.StatusOK {
			t.Fatalf("GET /api/me after renewal: %s", r)
		}
		grants := p.counts(t, u).RefreshGrants
		r = b.fetch(http.MethodGet, base+"/api/orders/", nil)
		var orders struct {
			API      string   `json:"api"`
			Subject  string   `json:"subject"`
			Audience []string `json:"audience"`
		}
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/orders/ through the example's proxy: %s", r)
		}
		r.json(t, &orders)
		if orders.API != "orders" || orders.Subject != me.Sub || !slices.Contains(orders.Audience, audience) {
			t.Errorf("the orders API answered %s; want the caller's orders for %s with a token for %s", r.body, me.Sub, audience)
		}
		if got, want := p.counts(t, u).RefreshGrants, grants+map[bool]int{true: 1}[p.resourceIndicators]; got != want {
			t.Errorf("provider counted %d refresh grants after the API call, want %d (one for the resource's token where there is one)", got, want)
		}

		r = b.submitLogout(base)
		if r.status != http.StatusOK || r.url.String() != base+"/signed-out" {
			t.Fatalf("sign-out through the example: %s", r)
		}
		if r := b.fetch(http.MethodGet, base+"/api/me", nil); r.status != http.StatusUnauthorized {
			t.Errorf("GET /api/me after sign-out: %s", r)
		}
	})
}

// waitForExample waits until the example answers on base.
func waitForExample(t *testing.T, proc *child, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if done, err := proc.exited(); done {
			t.Fatalf("the example exited: %v\n%s", err, proc.log.tail(20))
		}
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the example did not answer on %s\n%s", base, proc.log.tail(20))
}
