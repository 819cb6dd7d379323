package oidcsession

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

func TestNewValidates(t *testing.T) {
	op := oidcsessiontest.New(t, oidcsessiontest.Config{})
	provider, err := oidc.NewProvider(context.Background(), op.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	good := oauth2.Config{ClientID: "client", ClientSecret: "secret", Scopes: []string{oidc.ScopeOpenID}}
	keys := WithKeys(testHashKey, testBlockKey)
	tests := []struct {
		name     string
		provider *oidc.Provider
		oc       oauth2.Config
		opts     []Option
		want     string // "" = valid
	}{
		{"valid", provider, good, []Option{keys}, ""},
		{"nil provider", nil, good, []Option{keys}, "provider is nil"},
		{"no keys", provider, good, nil, "at least one hash/block key pair"},
		{"odd keys", provider, good, []Option{WithKeys(testHashKey)}, "pairs"},
		{"short hash key", provider, good, []Option{WithKeys([]byte("short"), testBlockKey)}, "hash key 0 has 5 bytes"},
		{"bad block key", provider, good, []Option{WithKeys(testHashKey, []byte("seventeen bytes!!"))}, "block key 0 has 17 bytes"},
		{"no client id", provider, oauth2.Config{}, []Option{keys}, "ClientID is empty"},
		{"scopes without openid", provider, oauth2.Config{ClientID: "c", Scopes: []string{"profile"}}, []Option{keys}, `must contain "openid"`},
		{"relative redirect", provider, oauth2.Config{ClientID: "c", RedirectURL: "/cb"}, []Option{keys}, "RedirectURL"},
		{"SameSite=None over http", provider, good, []Option{keys, WithInsecureCookies(), WithSameSite(http.SameSiteNoneMode)}, "SameSite=None requires secure"},
		{"__Host- name over http", provider, good, []Option{keys, WithInsecureCookies(), WithCookieName("__Host-s")}, "needs secure cookies"},
		{"bad cookie name", provider, good, []Option{keys, WithCookieName("a b")}, "not a valid cookie name"},
		{"negative skew", provider, good, []Option{keys, WithRefreshSkew(-1)}, "negative"},
		{"zero timeout", provider, good, []Option{keys, WithRefreshTimeout(0)}, "WithRefreshTimeout"},
		{"zero lifetime", provider, good, []Option{keys, WithLifetime(0, 0)}, "absolute lifetime"},
		{"too many chunks", provider, good, []Option{keys, WithMaxChunks(50)}, "WithMaxChunks"},
		{"external login URL", provider, good, []Option{keys, WithLoginURL("https://evil.example/login")}, "WithLoginURL"},
		{"protocol-relative login URL", provider, good, []Option{keys, WithLoginURL("//evil.example")}, "WithLoginURL"},
		{"bad origin", provider, good, []Option{keys, WithTrustedOrigins("https://a.example/path")}, "WithTrustedOrigins"},
		{"nil clock", provider, good, []Option{keys, WithClock(nil)}, "must not be nil"},
		{"nil option ignored", provider, good, []Option{keys, nil}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.provider, tt.oc, tt.opts...)
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

// TestDefaultClientAuth: without WithClientAuth the method is decided once
// from the secret and the provider's advertised methods, never probed.
func TestDefaultClientAuth(t *testing.T) {
	tests := []struct {
		methods []string
		secret  string
		want    ClientAuthMethod
	}{
		{nil, "s", ClientSecretBasic},
		{[]string{"client_secret_post"}, "s", ClientSecretPost},
		{[]string{"client_secret_post", "client_secret_basic"}, "s", ClientSecretBasic},
		{[]string{"client_secret_basic"}, "", ClientAuthNone},
		{[]string{"private_key_jwt"}, "s", ClientSecretBasic},
	}
	for _, tt := range tests {
		if got := defaultClientAuth(tt.methods, tt.secret); got != tt.want {
			t.Errorf("%v secret=%q: %v, want %v", tt.methods, tt.secret, got, tt.want)
		}
	}
}

func TestFromContextWithoutMiddleware(t *testing.T) {
	if s, ok := FromContext(context.Background()); ok || s != nil {
		t.Fatal("FromContext invented a session")
	}
	if _, ok := FromContext(NewContext(context.Background(), nil)); ok {
		t.Fatal("a nil session counts as present")
	}
	s := sampleSession()
	if got, ok := FromContext(NewContext(context.Background(), s)); !ok || got != s {
		t.Fatal("NewContext/FromContext round trip")
	}
}
