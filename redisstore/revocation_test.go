package redisstore

import (
	"testing"
	"time"
)

// TestOldCookieAcrossReplicas: after a refresh on replica 0, the previous
// cookie on another replica is served inside the grace window; after it,
// it is a replayed copy: 401 token_reuse_detected, the session gone on
// every replica, and its refresh token revoked at the provider.
func TestOldCookieAcrossReplicas(t *testing.T) {
	d := newDeployment(t, 4, serverSide)
	old := d.startSession()
	d.clock.Advance(6 * time.Minute)
	rotated := d.replicas[0].do(inline, old)
	if rotated.status != 200 || rotated.cookie == "" {
		t.Fatalf("refresh on replica 0: %d %s", rotated.status, rotated.body)
	}
	for i, r := range d.replicas[1:] { // every cache warm with the current session
		if a := r.do(inline, rotated.cookie); a.status != 200 {
			t.Fatalf("replica %d, current cookie: %d", i+1, a.status)
		}
	}
	d.clock.Advance(time.Second)
	if a := d.replicas[2].do(inline, old); a.status != 200 || a.body != rotated.body || a.cookie == "" {
		t.Fatalf("old cookie inside the grace window on replica 2: %d %s", a.status, a.body)
	}
	d.clock.Advance(time.Minute)
	a := d.replicas[3].do(inline, old)
	if a.status != 401 || a.errorCode() != "token_reuse_detected" {
		t.Fatalf("old cookie after the grace window on replica 3: %d %s", a.status, a.body)
	}
	for i, r := range d.replicas {
		took := within(t, time.Second, func() bool { return r.do(inline, rotated.cookie).status == 401 },
			"the revoked session refused on a replica")
		t.Logf("replica %d refuses the revoked session after %s", i, took)
	}
	if s := d.op.Stats(); s.Revocations != 1 || s.ReuseDetections != 0 || d.grants() != 1 {
		t.Fatalf("revocations %d, reuse detections %d, grants %d; want 1, 0, 1", s.Revocations, s.ReuseDetections, d.grants())
	}
}

// TestSignOutSeenWithinASecond: replica B serves a session from its local
// cache (no round trip to Redis); after a sign-out on replica A, B refuses
// it within one second, which only the invalidation from Redis can tell it.
func TestSignOutSeenWithinASecond(t *testing.T) {
	d := newDeployment(t, 2, serverSide)
	a, b := d.replicas[0], d.replicas[1]
	cookie := d.startSession()
	if r := b.do(inline, cookie); r.status != 200 {
		t.Fatalf("replica B: %d", r.status)
	}
	before := b.rt.n.Load()
	if r := b.do(inline, cookie); r.status != 200 || b.rt.n.Load() != before {
		t.Fatalf("replica B's second request: %d, %d round trips to Redis; want 200 from its cache", r.status, b.rt.n.Load()-before)
	}
	if r := a.logout(cookie); r.status != 200 {
		t.Fatalf("sign-out on replica A: %d %s", r.status, r.body)
	}
	signedOut := time.Now()
	var last answer
	took := within(t, time.Second, func() bool {
		last = b.do(inline, cookie)
		return last.status == 401
	}, "replica B refuses the signed-out session")
	if last.errorCode() != "session_expired" {
		t.Fatalf("replica B after the sign-out: %d %s", last.status, last.body)
	}
	t.Logf("replica B refused the session %s after the sign-out on A returned (%s since)", took, time.Since(signedOut))
}
