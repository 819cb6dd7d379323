package redisstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
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

// TestRevocationSeenWithinASecond: RevokeSubject, or a back-channel logout
// token, on replica A ends the session on replica B (which serves it from
// its cache until told) within one second; the logout token's jti is then
// refused on B as a replay, and tokens that are not valid logout tokens
// end nothing. On a real redis-server.
func TestRevocationSeenWithinASecond(t *testing.T) {
	for _, how := range []string{"RevokeSubject", "back-channel logout"} {
		t.Run(how, func(t *testing.T) {
			d := newDeployment(t, 2, serverSide)
			a, b := d.replicas[0], d.replicas[1]
			cookie := d.startSession()
			other := d.startSession() // another session of the same user
			for _, c := range []string{cookie, other} {
				if r := b.do(inline, c); r.status != 200 {
					t.Fatalf("replica B: %d", r.status)
				}
			}
			var token string
			switch how {
			case "RevokeSubject":
				if n, err := a.m.RevokeSubject(context.Background(), "user-1"); err != nil || n != 2 {
					t.Fatalf("RevokeSubject on A: %d, %v", n, err)
				}
			default:
				now := d.clock.Now()
				claims := map[string]any{"iss": d.op.Issuer(), "aud": d.op.ClientID(), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
					"jti": "logout-1", "sub": "user-1",
					"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}
				hostile := map[string]string{
					"unsigned":       unsigned(claims),
					"wrong audience": d.sign(with(claims, "aud", "another-client")),
					"no event":       d.sign(with(claims, "events", nil)),
				}
				for name, tok := range hostile {
					if r := a.postLogoutToken(tok); r.status != 400 {
						t.Fatalf("%s: %d %s", name, r.status, r.body)
					}
				}
				if r := b.do(inline, cookie); r.status != 200 {
					t.Fatalf("a refused logout token ended the session: %d", r.status)
				}
				token = d.sign(claims)
				if r := a.postLogoutToken(token); r.status != 200 {
					t.Fatalf("logout token on A: %d %s", r.status, r.body)
				}
			}
			start := time.Now()
			for _, c := range []string{cookie, other} {
				within(t, time.Second, func() bool { return b.do(inline, c).status == 401 }, "replica B refuses the revoked session")
			}
			t.Logf("%s on A: both sessions refused on B after %s", how, time.Since(start))
			if token != "" {
				if r := b.postLogoutToken(token); r.status != 400 || !strings.Contains(r.body, "replay") {
					t.Fatalf("the same logout token on B: %d %s", r.status, r.body)
				}
			}
			if n := d.op.Stats().Revocations; n != 2 {
				t.Fatalf("%d refresh tokens revoked at the provider, want 2", n)
			}
		})
	}
}

// sign signs claims with the provider's key, as its logout tokens are.
func (d *deployment) sign(claims map[string]any) string {
	d.t.Helper()
	tok, err := d.op.SignJWT(claims)
	if err != nil {
		d.t.Fatal(err)
	}
	return tok
}

// with is a copy of claims with name set to v (deleted when v is nil).
func with(claims map[string]any, name string, v any) map[string]any {
	c := make(map[string]any, len(claims))
	for k, x := range claims {
		c[k] = x
	}
	if v == nil {
		delete(c, name)
	} else {
		c[name] = v
	}
	return c
}

// unsigned is claims as an "alg":"none" JWT.
func unsigned(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

// postLogoutToken posts a logout token to the replica's back-channel
// endpoint, as the provider would.
func (r *replica) postLogoutToken(token string) answer {
	req, _ := http.NewRequest(http.MethodPost, r.app.URL+"/auth/backchannel-logout", strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r.send(req, "")
}

// TestDumpHoldsNoToken: everything the deployment wrote to Redis (records,
// indexes, the grant's claim and published outcome, the grace window) is
// read back key by key, as from a dump; no access, refresh or ID token,
// nor any JWT's decoded claims, appears in it.
func TestDumpHoldsNoToken(t *testing.T) {
	d := newDeployment(t, 2, serverSide)
	tok, err := d.op.IssueTokens(oidcsessiontest.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if _, err := d.replicas[0].m.StartSession(rec, httptest.NewRequest("GET", "/", nil), tok); err != nil {
		t.Fatal(err)
	}
	cookie := sessionCookie(t, rec.Result().Cookies())
	d.clock.Advance(6 * time.Minute)
	rotated := d.replicas[1].do(inline, cookie) // a grant: claim, outcome, new record
	if rotated.status != 200 {
		t.Fatalf("refresh: %d %s", rotated.status, rotated.body)
	}
	idt, _ := tok.Extra("id_token").(string)
	secrets := []string{tok.AccessToken, tok.RefreshToken, idt}
	for _, jwt := range []string{tok.AccessToken, idt} {
		if parts := strings.Split(jwt, "."); len(parts) == 3 {
			claims, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, parts[1], parts[2], string(claims))
		}
	}
	ctx := context.Background()
	c := d.redis.client(t)
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v, %v", keys, err)
	}
	var dump strings.Builder
	for _, k := range keys {
		dump.WriteString(k + "\n")
		switch typ := c.Type(ctx, k).Val(); typ {
		case "string":
			dump.WriteString(c.Get(ctx, k).Val())
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				dump.WriteString(f + "=" + v + "\n")
			}
		case "set":
			dump.WriteString(strings.Join(c.SMembers(ctx, k).Val(), "\n"))
		case "zset":
			dump.WriteString(strings.Join(c.ZRange(ctx, k, 0, -1).Val(), "\n"))
		case "list":
			dump.WriteString(strings.Join(c.LRange(ctx, k, 0, -1).Val(), "\n"))
		default:
			t.Fatalf("key %q of type %s: read it too", k, typ)
		}
		dump.WriteString("\n")
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(dump.String(), s) {
			t.Fatalf("Redis holds a token or its claims in the clear (%d keys)", len(keys))
		}
	}
	t.Logf("%d keys, %d bytes read back, no token in them", len(keys), dump.Len())
}
