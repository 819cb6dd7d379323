package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
)

// newReplicas starts n instances of one app, as behind a load balancer:
// each its own Middleware on its own address, with the same client and
// cookie keys, sharing shared as their Store (server-side sessions) or,
// with asCoordinator, only as their Coordinator (sessions in cookies).
// A browser's cookies reach every replica (cookies are shared across the
// ports of 127.0.0.1).
func newReplicas(t *testing.T, p *provider, u user, n int, shared oidcsession.Store, asCoordinator bool, opts ...oidcsession.Option) []*app {
	t.Helper()
	opts = append(opts, oidcsession.WithKeys(randomBytes(32), randomBytes(32)))
	if asCoordinator {
		opts = append(opts, oidcsession.WithCoordinator(shared))
	} else {
		opts = append(opts, oidcsession.WithStore(shared))
	}
	var apps []*app
	for range n {
		apps = append(apps, newApp(t, p, u, appSpec{opts: opts}))
	}
	return apps
}

// sharing names how the replicas share state, for subtests.
var sharing = []struct {
	name          string
	asCoordinator bool
}{
	{"store", false},      // WithStore: server-side sessions
	{"coordinator", true}, // WithCoordinator: sessions in cookies
}

// Two replicas share one session and one grant. One refreshes; the other
// then gets the old cookie (a request sent before the new cookie arrived)
// inside the grace window and is given the refreshed session: no second
// grant, no spent refresh token presented, nothing for the provider's
// reuse detection. Then the refreshed session expires and 20 concurrent
// requests spread over both replicas cost exactly one more grant.
//
// After the grace window the old cookie differs by how sessions are kept:
//
//   - Store: it is a replayed copy (token theft): 401 token_reuse_detected,
//     the session revoked on both replicas and its refresh token revoked
//     at the provider (RFC 7009; Dex has no revocation endpoint), and the
//     spent refresh token is never presented.
//   - Coordinator (cookies): nothing tells a late copy from a stolen one,
//     so its spent refresh token does reach the provider, whose reuse
//     detection answers (oidc-provider revokes the grant, Dex refuses the
//     token): 401 session_expired, as in one process.
func TestReplicasOneSession(t *testing.T) {
	t.Parallel()
	const (
		grace = 3 * time.Second // the replay below must land inside it, even on a busy machine
		storm = 20
	)
	for _, sh := range sharing {
		t.Run(sh.name, func(t *testing.T) {
			forEachProvider(t, func(t *testing.T, p *provider) {
				u := p.newUser(t)
				r := newReplicas(t, p, u, 2, oidcsession.NewMemoryStore(), sh.asCoordinator, oidcsession.WithGraceWindow(grace))
				one, two := r[0], r[1]
				b := newBrowser(t, p, u)
				first := one.signIn(b)
				old := one.sessionCookies(b)
				if s, r := two.me(b); s == nil || s.AccessToken != first.AccessToken {
					t.Fatalf("the session at the second replica: %s", r)
				}
				waitUntilExpired(t, first.ExpiresAt)

				refreshed, r1 := one.me(b)
				if refreshed == nil || refreshed.AccessToken == first.AccessToken {
					t.Fatalf("refresh at the first replica: %s", r1)
				}
				refreshedAt := time.Now()
				dexLines := len(p.proc.log.Lines())

				// Inside the grace window, at the other replica.
				late := newBrowser(t, p, u)
				late.setCookies(two.base, old)
				s, r2 := two.me(late)
				if s == nil || s.AccessToken != refreshed.AccessToken || len(r2.header.Values("Set-Cookie")) == 0 {
					t.Fatalf("the old cookie at the second replica inside the grace window: %s; want the refreshed session and its cookie", r2)
				}
				c := p.counts(t, u)
				if c.RefreshGrants != 1 || len(c.RefreshErrors) != 0 {
					t.Fatalf("provider: %d refresh grants, errors %q; want 1 and none", c.RefreshGrants, c.RefreshErrors)
				}
				checkNoReuse(t, p, u, dexLines, 1)

				// The refreshed session expires; a storm over both replicas.
				waitUntilExpired(t, refreshed.ExpiresAt)
				tokens := stormReplicas(t, r, b.cookieHeader(one.base), storm)
				if len(tokens) != 1 || tokens[refreshed.AccessToken] != 0 {
					t.Errorf("%d requests over 2 replicas saw access tokens %v; want one new token for all", storm, tokens)
				}
				c = p.counts(t, u)
				if c.RefreshGrants != 2 || len(c.RefreshErrors) != 0 {
					t.Errorf("%d requests over 2 replicas: provider counted %d refresh grants in all, errors %q; want 2 (one more) and none",
						storm, c.RefreshGrants, c.RefreshErrors)
				}
				checkNoReuse(t, p, u, dexLines, 2)

				// After the grace window.
				time.Sleep(time.Until(refreshedAt.Add(grace + 300*time.Millisecond)))
				current := one.sessionCookies(b)
				replay := newBrowser(t, p, u)
				replay.setCookies(two.base, old)
				s, r3 := two.me(replay)
				c = p.counts(t, u)
				if !sh.asCoordinator {
					if s != nil || r3.status != http.StatusUnauthorized || !strings.Contains(string(r3.body), `"token_reuse_detected"`) {
						t.Fatalf("the old cookie after the grace window: %s; want 401 token_reuse_detected", r3)
					}
					for i, a := range r {
						holder := newBrowser(t, p, u)
						holder.setCookies(a.base, current)
						if s, r := a.me(holder); s != nil || r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `"session_expired"`) {
							t.Errorf("the current cookie at replica %d after reuse detection: %s; want 401 session_expired (revoked)", i+1, r)
						}
					}
					c = p.counts(t, u)
					switch p.name {
					case "oidc-provider":
						if c.RefreshGrants != 2 || c.Consumed != 2 || len(c.RefreshErrors) != 0 || !slices.Equal(c.RevokedBy, []string{"revocation"}) {
							t.Errorf("provider: %d refresh grants, %d consumed, refresh errors %q, grants revoked by %q; want 2, 2, none, and the session's refresh token revoked once (RFC 7009)",
								c.RefreshGrants, c.Consumed, c.RefreshErrors, c.RevokedBy)
						}
					case "dex":
						if n := dexRefusals(p.proc.log, dexLines, u); n != 0 || c.RefreshGrants != 2 {
							t.Errorf("Dex: %d refused refresh tokens, %d refresh grants; want 0 and 2", n, c.RefreshGrants)
						}
					}
					return
				}
				if s != nil || r3.status != http.StatusUnauthorized || !strings.Contains(string(r3.body), `"session_expired"`) {
					t.Errorf("the old cookie after the grace window, sessions in cookies: %s; want 401 session_expired", r3)
				}
				switch p.name {
				case "oidc-provider":
					if !slices.Equal(c.RefreshErrors, []string{"invalid_grant: refresh token already used"}) || !slices.Equal(c.RevokedBy, []string{"token"}) {
						t.Errorf("provider: refresh errors %q, grants revoked by %q; want the spent token refused and the grant revoked by reuse detection", c.RefreshErrors, c.RevokedBy)
					}
				case "dex":
					if n := dexRefusals(p.proc.log, dexLines, u); n != 1 {
						t.Errorf("Dex logged %d refused (claimed twice) refresh tokens, want 1", n)
					}
				}
			})
		})
	}
}

// checkNoReuse fails t if the provider saw a refresh token presented
// twice, and checks oidc-provider's count of tokens spent.
func checkNoReuse(t *testing.T, p *provider, u user, dexLines, grants int) {
	t.Helper()
	switch p.name {
	case "oidc-provider":
		if c := p.counts(t, u); c.Consumed != grants || c.Revoked != 0 || len(c.RefreshErrors) != 0 {
			t.Errorf("oidc-provider: %d refresh tokens consumed, %d grants revoked, refresh errors %q; want %d, 0, none",
				c.Consumed, c.Revoked, c.RefreshErrors, grants)
		}
	case "dex":
		if n := dexRefusals(p.proc.log, dexLines, u); n != 0 {
			t.Errorf("Dex logged %d refused (claimed twice) refresh tokens, want 0", n)
		}
	}
}

// stormReplicas sends n concurrent page requests with cookie, spread over
// the replicas in turn, and returns how many answers carried each access
// token. Every answer must be 200 with a new cookie.
func stormReplicas(t *testing.T, replicas []*app, cookie string, n int) map[string]int {
	t.Helper()
	client := &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: n},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	type answer struct {
		status    int
		setCookie bool
		body      []byte
		err       error
	}
	answers := make([]answer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, replicas[i%len(replicas)].base+"/app", nil)
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Cookie", cookie)
			<-start
			resp, err := client.Do(req)
			if err != nil {
				answers[i].err = err
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			answers[i] = answer{status: resp.StatusCode, setCookie: len(resp.Header.Values("Set-Cookie")) > 0, body: body}
		})
	}
	close(start)
	wg.Wait()
	tokens := map[string]int{}
	for i, ans := range answers {
		if ans.err != nil || ans.status != http.StatusOK || !ans.setCookie {
			t.Errorf("request %d (replica %d): %d (new cookie: %v) %v %s", i, i%len(replicas)+1, ans.status, ans.setCookie, ans.err, truncate(string(ans.body), 200))
			continue
		}
		var s session
		if err := json.Unmarshal(ans.body, &s); err != nil {
			t.Errorf("request %d: %v", i, err)
		}
		tokens[s.AccessToken]++
	}
	return tokens
}

// RevokeSubject ("sign me out everywhere") on one replica ends the user's
// sessions on the other: with a Store at once, each session's refresh
// token revoked at the provider (RFC 7009; Dex has none); with cookies
// and a shared Coordinator at their next refresh, which the package
// refuses without presenting the refresh token.
func TestRevokeSubjectAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, sh := range sharing {
		t.Run(sh.name, func(t *testing.T) {
			forEachProvider(t, func(t *testing.T, p *provider) {
				u := p.newUser(t)
				r := newReplicas(t, p, u, 2, oidcsession.NewMemoryStore(), sh.asCoordinator)
				one, two := r[0], r[1]
				browsers := []*browser{newBrowser(t, p, u), newBrowser(t, p, u)}
				var signedIn []*session
				for _, b := range browsers {
					signedIn = append(signedIn, one.signIn(b))
					if s, r := two.me(b); s == nil {
						t.Fatalf("the session at the second replica: %s", r)
					}
				}
				n, err := one.m.RevokeSubject(context.Background(), signedIn[0].Subject)
				switch {
				case err != nil:
					t.Fatalf("RevokeSubject: %v", err)
				case !sh.asCoordinator && n != 2, sh.asCoordinator && n != 0:
					t.Errorf("RevokeSubject ended %d sessions; want 2 with a Store, 0 (uncounted) with cookies", n)
				}
				if sh.asCoordinator {
					for i, b := range browsers {
						if !beforeRefreshWindow(signedIn[i].ExpiresAt) {
							t.Logf("cookie session %d is inside its refresh window already; not checked before its refresh", i+1)
							continue
						}
						if s, r := two.me(b); s == nil || s.AccessToken != signedIn[i].AccessToken {
							t.Errorf("cookie session %d at the other replica before its refresh: %s; want it served (a cookie cannot be revoked)", i+1, r)
						}
					}
					waitUntilExpired(t, signedIn[1].ExpiresAt)
				}
				for i, b := range browsers {
					if s, r := two.me(b); s != nil || r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `"session_expired"`) {
						t.Errorf("session %d at the other replica after RevokeSubject: %s; want 401 session_expired", i+1, r)
					}
				}
				c := p.counts(t, u)
				if c.SignIns != 2 || c.RefreshGrants != 0 || len(c.RefreshErrors) != 0 {
					t.Errorf("provider: %d sign-ins, %d refresh grants, errors %q; want 2, and no refresh token presented", c.SignIns, c.RefreshGrants, c.RefreshErrors)
				}
				if p.revocation {
					want := []string{"revocation", "revocation"}
					if sh.asCoordinator {
						want = nil // nothing to revoke with: the tokens are in the cookies
					}
					if !slices.Equal(c.RevokedBy, want) {
						t.Errorf("provider revoked grants by %q; want %q", c.RevokedBy, want)
					}
				}
			})
		})
	}
}
