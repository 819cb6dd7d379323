package oidcsession

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// TestClientAuthMethods (issue 6.4) signs in, refreshes (plainly and with
// options) and signs out with each client authentication method against a
// provider that accepts only the method the client registered, although
// it advertises others.
func TestClientAuthMethods(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	both := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	tests := []struct {
		name string
		op   oidcsessiontest.Config
		opts []Option
	}{
		{"default: basic", oidcsessiontest.Config{ClientAuthMethod: "client_secret_basic"}, nil},
		{"client_secret_post, registered", oidcsessiontest.Config{ClientAuthMethod: "client_secret_post"},
			[]Option{WithClientAuth(ClientSecretPost)}},
		{"client_secret_basic, chosen over advertised post", oidcsessiontest.Config{TokenEndpointAuthMethods: []string{"client_secret_post", "client_secret_basic"}, ClientAuthMethod: "client_secret_basic"},
			[]Option{WithClientAuth(ClientSecretBasic)}},
		{"private_key_jwt RSA", oidcsessiontest.Config{ClientPublicKey: &rsaKey.PublicKey, ClientAuthMethod: "private_key_jwt", TokenEndpointAuthMethods: both},
			[]Option{WithPrivateKeyJWT(PrivateKeyJWT{Key: rsaKey, KeyID: "k1"})}},
		{"private_key_jwt PS256", oidcsessiontest.Config{ClientPublicKey: &rsaKey.PublicKey, ClientAuthMethod: "private_key_jwt", TokenEndpointAuthMethods: both},
			[]Option{WithPrivateKeyJWT(PrivateKeyJWT{Key: rsaKey, Algorithm: "PS256"})}},
		{"private_key_jwt EC", oidcsessiontest.Config{ClientPublicKey: &ecKey.PublicKey, ClientAuthMethod: "private_key_jwt", TokenEndpointAuthMethods: both},
			[]Option{WithPrivateKeyJWT(PrivateKeyJWT{Key: ecKey})}},
		{"public client", oidcsessiontest.Config{PublicClient: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newLoginAppWith(t, tt.op, func(c *oauth2.Config) {
				if tt.op.ClientAuthMethod == "private_key_jwt" {
					c.ClientSecret = ""
				}
			}, tt.opts...)
			b := newBrowser(t)
			a.signIn(b)
			a.clock.Advance(6 * time.Minute)
			if r := b.page(t, a.srv.URL+"/app"); r.status != 200 {
				t.Fatalf("inline refresh: %d %s", r.status, r.body)
			}
			req := httptest.NewRequest("GET", "/", nil)
			for _, c := range b.Jar.Cookies(mustURL(t, a.srv.URL)) {
				req.AddCookie(c)
			}
			if _, err := a.m.RefreshSession(httptest.NewRecorder(), req, RefreshOptions{Scopes: []string{"openid"}}); err != nil {
				t.Fatalf("refresh with options: %v", err)
			}
			if r := send(t, b.noFollow(), http.MethodPost, a.srv.URL+"/auth/logout", "application/json", csrfHeader); r.status != 200 {
				t.Fatalf("logout: %d %s", r.status, r.body)
			}
			if g, n := a.op.SuccessfulGrants("refresh_token"), a.op.Grants("refresh_token"); g != 2 || n != 2 {
				t.Fatalf("%d of %d refresh grants succeeded", g, n)
			}
			if a.op.Revocations() != 1 {
				t.Fatal("no revocation")
			}
		})
	}
}

// TestClientAuthDefaultFailsOnRegistration shows why the option exists: a
// provider that advertises basic and post but enforces post refuses the
// default (basic), with a clear error.
func TestClientAuthDefaultFailsOnRegistration(t *testing.T) {
	a := newLoginApp(t, oidcsessiontest.Config{ClientAuthMethod: "client_secret_post"})
	b := newBrowser(t)
	r := b.page(t, a.srv.URL+"/auth/login?return_to=/app")
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "invalid_client") {
		t.Fatalf("sign-in with the wrong method: %d %s", r.status, r.body)
	}
}

// TestClientAuthValidation: New refuses client authentication settings
// that cannot work.
func TestClientAuthValidation(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name   string
		secret string
		opts   []Option
		want   string
	}{
		{"unknown method", "s", []Option{WithClientAuth("client_secret_jwt")}, "WithClientAuth"},
		{"basic without secret", "", []Option{WithClientAuth(ClientSecretBasic)}, "client secret"},
		{"none with a secret", "s", []Option{WithClientAuth(ClientAuthNone)}, "client secret"},
		{"private_key_jwt without key", "", []Option{WithClientAuth(PrivateKeyJWTAuth)}, "WithPrivateKeyJWT"},
		{"private_key_jwt and another method", "", []Option{WithPrivateKeyJWT(PrivateKeyJWT{Key: ecKey}), WithClientAuth(ClientSecretPost)}, "WithClientAuth"},
		{"bad algorithm", "", []Option{WithPrivateKeyJWT(PrivateKeyJWT{Key: ecKey, Algorithm: "RS256"})}, "Algorithm"},
		{"no key", "", []Option{WithPrivateKeyJWT(PrivateKeyJWT{})}, "Key"},
	}
	op := oidcsessiontest.New(t, oidcsessiontest.Config{})
	provider := discover(t, op)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(provider, oauth2.Config{ClientID: "client", ClientSecret: tt.secret},
				append([]Option{WithKeys(testHashKey, testBlockKey)}, tt.opts...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error about %q", err, tt.want)
			}
		})
	}
}
