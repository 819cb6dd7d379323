package oidcsession_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// TestClientAuthMethods (issue 6.4) signs in, refreshes (plainly and with
// options) and signs out with each client authentication method against a
// provider that accepts only the method the client registered, although
// it advertises others.
func TestClientAuthMethods(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	all := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	type O = oidcsession.Option
	tests := []struct {
		name string
		op   oidcsessiontest.Config
		opts []O
	}{
		{"default: basic", oidcsessiontest.Config{ClientAuthMethod: "client_secret_basic"}, nil},
		{"default when only post is advertised", oidcsessiontest.Config{TokenEndpointAuthMethods: []string{"client_secret_post"}}, nil},
		{"client_secret_post, registered", oidcsessiontest.Config{ClientAuthMethod: "client_secret_post"}, []O{oidcsession.WithClientAuth(oidcsession.ClientSecretPost)}},
		{"client_secret_basic, chosen over advertised post", oidcsessiontest.Config{TokenEndpointAuthMethods: []string{"client_secret_post", "client_secret_basic"}, ClientAuthMethod: "client_secret_basic"},
			[]O{oidcsession.WithClientAuth(oidcsession.ClientSecretBasic)}},
		{"private_key_jwt RS256", oidcsessiontest.Config{ClientPublicKey: &rsaKey.PublicKey, ClientAuthMethod: "private_key_jwt", TokenEndpointAuthMethods: all},
			[]O{oidcsession.WithPrivateKeyJWT(oidcsession.PrivateKeyJWT{Key: rsaKey, KeyID: "k1"})}},
		{"private_key_jwt PS256", oidcsessiontest.Config{ClientPublicKey: &rsaKey.PublicKey, ClientAuthMethod: "private_key_jwt", TokenEndpointAuthMethods: all},
			[]O{oidcsession.WithPrivateKeyJWT(oidcsession.PrivateKeyJWT{Key: rsaKey, Algorithm: "PS256"})}},
		{"private_key_jwt ES256", oidcsessiontest.Config{ClientPublicKey: &ecKey.PublicKey, ClientAuthMethod: "private_key_jwt", TokenEndpointAuthMethods: all},
			[]O{oidcsession.WithPrivateKeyJWT(oidcsession.PrivateKeyJWT{Key: ecKey})}},
		{"public client", oidcsessiontest.Config{PublicClient: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{op: tt.op, opts: tt.opts, client: func(c *oauth2.Config) {
				if tt.op.ClientAuthMethod == "private_key_jwt" {
					c.ClientSecret = ""
				}
			}})
			h.b.signIn()
			h.clock.Advance(6 * time.Minute)
			h.b.me()
			if r := h.b.refreshSession("scope=openid", nil); r.status != 200 {
				t.Fatalf("refresh with options: %d %s", r.status, r.body)
			}
			if r := h.b.post("/auth/logout", csrf); r.status != 200 {
				t.Fatalf("logout: %d %s", r.status, r.body)
			}
			s := h.stats()
			if s.SuccessfulGrants["refresh_token"] != 2 || s.Grants["refresh_token"] != 2 || s.SuccessfulGrants["authorization_code"] != 1 || s.Revocations != 1 {
				t.Fatalf("%+v", s)
			}
		})
	}
}

// TestClientAuthDefaultFailsOnRegistration shows why the option exists: a
// provider that advertises basic and post but enforces post refuses the
// default (basic), with a clear error.
func TestClientAuthDefaultFailsOnRegistration(t *testing.T) {
	h := newHarness(t, setup{op: oidcsessiontest.Config{ClientAuthMethod: "client_secret_post"}})
	r := h.b.page("/auth/login?return_to=/app")
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "invalid_client") {
		t.Fatalf("sign-in with the wrong method: %d %s", r.status, r.body)
	}
}
