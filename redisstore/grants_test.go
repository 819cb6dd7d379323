package redisstore

import (
	"sync"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
)

// TestReplicasShareOneGrant: four replicas on one Redis make exactly one
// refresh grant for 200 concurrent requests with one expired session
// spread over them, inline and through the refresh endpoint, with
// server-side sessions and with cookie sessions coordinated by Redis; every
// request gets 2xx and the same new access token.
func TestReplicasShareOneGrant(t *testing.T) {
	for _, md := range []mode{serverSide, cookies} {
		for _, c := range []caller{inline, handler} {
			t.Run(string(md)+"/"+string(c), func(t *testing.T) {
				d := newDeployment(t, 4, md)
				cookie := d.startSession()
				d.clock.Advance(6 * time.Minute)
				d.op.DelayNextRefreshes(1, 200*time.Millisecond) // the storm arrives while the grant runs
				answers := d.storm(200, c, cookie)
				mustAll2xx(t, answers)
				if g, s := d.grants(), d.op.Stats(); g != 1 || s.ReuseDetections != 0 {
					t.Fatalf("%d refresh grants, %d reuse detections; want 1, 0", g, s.ReuseDetections)
				}
				if c == inline {
					for _, a := range answers[1:] {
						if a.body != answers[0].body {
							t.Fatalf("two access tokens served: %s and %s", answers[0].body, a.body)
						}
					}
				}
			})
		}
	}
}

// TestHungGrantOnOneReplica: replica 0's grant hangs at the provider; the
// other replicas, asked for the same expired session meanwhile, wait for
// its outcome instead of presenting the refresh token again, and then the
// new session works on every replica without another grant.
func TestHungGrantOnOneReplica(t *testing.T) {
	d := newDeployment(t, 4, serverSide, oidcsession.WithRefreshTimeout(5*time.Second))
	cookie := d.startSession()
	d.clock.Advance(6 * time.Minute)
	d.op.DelayNextRefreshes(1, 1500*time.Millisecond)
	var wg sync.WaitGroup
	answers := make([]answer, 4)
	wg.Add(1)
	go func() { defer wg.Done(); answers[0] = d.replicas[0].do(inline, cookie) }()
	within(t, 5*time.Second, func() bool { return d.grants() == 1 }, "replica 0 presents the token")
	for i := 1; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = d.replicas[i].do(inline, cookie) }()
	}
	wg.Wait()
	mustAll2xx(t, answers)
	for _, a := range answers {
		if a.body != answers[0].body || a.cookie == "" {
			t.Fatalf("replicas disagree: %+v", answers)
		}
	}
	if g, s := d.grants(), d.op.Stats(); g != 1 || s.ReuseDetections != 0 {
		t.Fatalf("%d refresh grants, %d reuse detections; want 1, 0", g, s.ReuseDetections)
	}
	for i, r := range d.replicas {
		if a := r.do(inline, answers[0].cookie); a.status != 200 || a.body != answers[0].body {
			t.Fatalf("replica %d with the new cookie: %d %s", i, a.status, a.body)
		}
	}
	if g := d.grants(); g != 1 {
		t.Fatalf("%d grants after the new session was used everywhere", g)
	}
}
