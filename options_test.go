package oidcsession_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// TestNewValidates: New refuses every configuration that cannot work, with
// an error that names the option.
func TestNewValidates(t *testing.T) {
	op := oidcsessiontest.New(t, oidcsessiontest.Config{})
	provider := discover(t, op)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := oauth2.Config{ClientID: "client", ClientSecret: "secret", Scopes: []string{oidc.ScopeOpenID}}
	public := oauth2.Config{ClientID: "client"}
	keys := oidcsession.WithKeys(hashKey, blockKey)
	type O = oidcsession.Option
	tests := []struct {
		name     string
		provider *oidc.Provider
		oc       oauth2.Config
		opts     []O
		want     string // "" = valid
	}{
		{"valid", provider, good, []O{keys}, ""},
		{"nil option ignored", provider, good, []O{keys, nil}, ""},
		{"nil provider", nil, good, []O{keys}, "provider is nil"},
		{"no keys", provider, good, nil, "at least one hash/block key pair"},
		{"odd keys", provider, good, []O{oidcsession.WithKeys(hashKey)}, "pairs"},
		{"short hash key", provider, good, []O{oidcsession.WithKeys([]byte("short"), blockKey)}, "hash key 0 has 5 bytes"},
		{"bad block key", provider, good, []O{oidcsession.WithKeys(hashKey, []byte("seventeen bytes!!"))}, "block key 0 has 17 bytes"},
		{"no client id", provider, oauth2.Config{}, []O{keys}, "ClientID is empty"},
		{"scopes without openid", provider, oauth2.Config{ClientID: "c", Scopes: []string{"profile"}}, []O{keys}, `must contain "openid"`},
		{"relative redirect", provider, oauth2.Config{ClientID: "c", RedirectURL: "/cb"}, []O{keys}, "RedirectURL"},
		{"SameSite=None over http", provider, good, []O{keys, oidcsession.WithInsecureCookies(), oidcsession.WithSameSite(http.SameSiteNoneMode)}, "SameSite=None requires secure"},
		{"__Host- name over http", provider, good, []O{keys, oidcsession.WithInsecureCookies(), oidcsession.WithCookieName("__Host-s")}, "needs secure cookies"},
		{"bad cookie name", provider, good, []O{keys, oidcsession.WithCookieName("a b")}, "not a valid cookie name"},
		{"negative skew", provider, good, []O{keys, oidcsession.WithRefreshSkew(-1)}, "WithRefreshSkew"},
		{"negative tolerance", provider, good, []O{keys, oidcsession.WithClockTolerance(-time.Second)}, "WithClockTolerance"},
		{"zero timeout", provider, good, []O{keys, oidcsession.WithRefreshTimeout(0)}, "WithRefreshTimeout"},
		{"zero lifetime", provider, good, []O{keys, oidcsession.WithLifetime(0, 0)}, "absolute"},
		{"sub-second Retry-After", provider, good, []O{keys, oidcsession.WithRetryAfter(time.Millisecond)}, "WithRetryAfter"},
		{"too many chunks", provider, good, []O{keys, oidcsession.WithMaxChunks(50)}, "WithMaxChunks"},
		{"no resource tokens", provider, good, []O{keys, oidcsession.WithResourceTokens(0)}, "WithResourceTokens"},
		{"too many resource tokens", provider, good, []O{keys, oidcsession.WithResourceTokens(65)}, "WithResourceTokens"},
		{"external login URL", provider, good, []O{keys, oidcsession.WithLoginURL("https://evil.example/login")}, "WithLoginURL"},
		{"protocol-relative login URL", provider, good, []O{keys, oidcsession.WithLoginURL("//evil.example")}, "WithLoginURL"},
		{"bad origin", provider, good, []O{keys, oidcsession.WithTrustedOrigins("https://a.example/path")}, "WithTrustedOrigins"},
		{"nil clock", provider, good, []O{keys, oidcsession.WithClock(nil)}, "must not be nil"},
		{"store and coordinator", provider, good, []O{keys, oidcsession.WithStore(oidcsession.NewMemoryStore()), oidcsession.WithCoordinator(oidcsession.NewMemoryStore())}, "WithCoordinator"},
		{"prompt none", provider, good, []O{keys, oidcsession.WithPrompt("none")}, "WithPrompt"},
		{"prompt unknown", provider, good, []O{keys, oidcsession.WithPrompt("create")}, "WithPrompt"},
		{"reserved auth param", provider, good, []O{keys, oidcsession.WithAuthParams(map[string]string{"state": "x"})}, `"state"`},
		{"reserved auth param, any case", provider, good, []O{keys, oidcsession.WithAuthParams(map[string]string{"Redirect_URI": "x"})}, `"Redirect_URI"`},
		{"empty auth param", provider, good, []O{keys, oidcsession.WithAuthParams(map[string]string{"": "x"})}, "not a parameter name"},
		{"relative resource", provider, good, []O{keys, oidcsession.WithResources("orders")}, "WithResources"},
		{"resource twice", provider, good, []O{keys, oidcsession.WithResources("https://a.example/"), oidcsession.WithAuthParams(map[string]string{"resource": "https://b.example/"})}, "together with WithResources"},
		{"relative post-logout URL", provider, good, []O{keys, oidcsession.WithPostLogoutRedirectURL("/bye")}, "WithPostLogoutRedirectURL"},
		{"javascript post-logout URL", provider, good, []O{keys, oidcsession.WithPostLogoutRedirectURL("javascript:alert(1)")}, "WithPostLogoutRedirectURL"},
		{"unknown client auth", provider, good, []O{keys, oidcsession.WithClientAuth("client_secret_jwt")}, "WithClientAuth"},
		{"basic without secret", provider, public, []O{keys, oidcsession.WithClientAuth(oidcsession.ClientSecretBasic)}, "client secret"},
		{"none with a secret", provider, good, []O{keys, oidcsession.WithClientAuth(oidcsession.ClientAuthNone)}, "client secret"},
		{"private_key_jwt without key", provider, public, []O{keys, oidcsession.WithClientAuth(oidcsession.PrivateKeyJWTAuth)}, "WithPrivateKeyJWT"},
		{"private_key_jwt and another method", provider, public, []O{keys, oidcsession.WithPrivateKeyJWT(oidcsession.PrivateKeyJWT{Key: ecKey}), oidcsession.WithClientAuth(oidcsession.ClientSecretPost)}, "WithClientAuth"},
		{"private_key_jwt with a secret", provider, good, []O{keys, oidcsession.WithPrivateKeyJWT(oidcsession.PrivateKeyJWT{Key: ecKey})}, "client secret"},
		{"bad algorithm", provider, public, []O{keys, oidcsession.WithPrivateKeyJWT(oidcsession.PrivateKeyJWT{Key: ecKey, Algorithm: "RS256"})}, "Algorithm"},
		{"no key", provider, public, []O{keys, oidcsession.WithPrivateKeyJWT(oidcsession.PrivateKeyJWT{})}, "Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := oidcsession.New(tt.provider, tt.oc, tt.opts...)
			if tt.want == "" {
				if err != nil || m == nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestFromContextWithoutMiddleware(t *testing.T) {
	if s, ok := oidcsession.FromContext(context.Background()); ok || s != nil {
		t.Fatal("FromContext invented a session")
	}
	if _, ok := oidcsession.FromContext(oidcsession.NewContext(context.Background(), nil)); ok {
		t.Fatal("a nil session counts as a session")
	}
}
