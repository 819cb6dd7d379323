package oidcsessiontest

import (
	"crypto"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// User is the account the provider signs in without a form, so tests never
// have to drive a login page.
type User struct {
	// Subject is the "sub" claim; default "user-1".
	Subject string
	// Claims are put in the ID token and the userinfo response. Default:
	// name "Test User", email "user@example.test", email_verified true.
	Claims map[string]any
}

// Config describes the provider's single client, its user and its policies.
// The zero value is a working confidential client with rotating refresh
// tokens, reuse detection, revocation and RP-initiated logout.
type Config struct {
	// Addr is the listen address; default "127.0.0.1:0". The example app
	// gives a fixed one so that browser bookmarks survive restarts.
	Addr string
	// ClientID is the only client the provider knows; default "client".
	ClientID string
	// ClientSecret is the client's secret; default "secret". Leave it empty
	// with PublicClient for a public client.
	ClientSecret string
	// PublicClient turns off client authentication (PKCE only) so tests can
	// play a SPA or native app.
	PublicClient bool
	// RedirectURIs lists the allowed redirect_uri values; empty allows any
	// absolute http(s) URI, which suits tests on random ports.
	RedirectURIs []string
	// PostLogoutRedirectURIs lists the allowed post_logout_redirect_uri
	// values; empty allows any absolute http(s) URI.
	PostLogoutRedirectURIs []string
	// User is the account signed in by /authorize and IssueTokens.
	User User
	// Algorithm is the signing algorithm: "RS256" (default) or "ES256".
	Algorithm string
	// AccessTokenLifetime is the access token's lifetime; default 5m.
	AccessTokenLifetime time.Duration
	// IDTokenLifetime is the ID token's lifetime; default 5m.
	IDTokenLifetime time.Duration
	// RefreshTokenLifetime is each refresh token's lifetime; default 24h.
	RefreshTokenLifetime time.Duration
	// AccessTokenClaims are extra claims put in every access token (they
	// win over the standard ones), so tests can make realistic ~1.2 KB tokens.
	AccessTokenClaims map[string]any
	// IDTokenClaims are extra claims put in every ID token (they win over
	// the standard ones and User.Claims).
	IDTokenClaims map[string]any
	// Resources lists the RFC 8707 resource indicators accepted on token
	// requests; empty accepts any absolute URI.
	Resources []string
	// ResourceScopes gives a resource its own scopes, as an API's
	// registration at a real provider does: a refresh_token grant for that
	// one resource may ask for a subset of them (else invalid_scope) and
	// gets all of them when it asks for none, whatever the grant's own
	// scopes. Default: a resource's tokens carry the grant's scopes.
	ResourceScopes map[string][]string
	// DisableRefreshRotation keeps the presented refresh token valid; the
	// refresh response then carries no refresh_token (as Auth0 does without
	// rotation). By default every refresh_token grant rotates.
	DisableRefreshRotation bool
	// DisableReuseDetection makes a spent refresh token fail with
	// invalid_grant without revoking its family. By default reuse revokes
	// the whole family.
	DisableReuseDetection bool
	// OmitIDTokenOnRefresh leaves the ID token out of refresh responses, as
	// many providers do. By default a fresh one (without nonce) is returned.
	OmitIDTokenOnRefresh bool
	// OmitRefreshToken never issues refresh tokens.
	OmitRefreshToken bool
	// TokenEndpointAuthMethods are advertised and accepted at /token and
	// /revoke; default ["client_secret_basic","client_secret_post"], or
	// ["none"] for a public client.
	TokenEndpointAuthMethods []string
	// DisableRevocation removes revocation_endpoint from discovery; /revoke
	// answers 404.
	DisableRevocation bool
	// DisableEndSession removes end_session_endpoint from discovery;
	// /end_session answers 404.
	DisableEndSession bool

	// ClientAuthMethod is how the client is registered to authenticate at
	// /token and /revoke: "client_secret_basic", "client_secret_post",
	// "private_key_jwt" or "none". When set, only that method is accepted,
	// as at a provider that enforces the registration (oidc-provider),
	// although discovery still advertises all of TokenEndpointAuthMethods.
	// Default: any advertised method.
	ClientAuthMethod string
	// ClientPublicKey verifies private_key_jwt client assertions (RFC
	// 7523): an *rsa.PublicKey (RS256 or PS256), a P-256 *ecdsa.PublicKey
	// (ES256) or an ed25519.PublicKey (EdDSA). Setting it adds
	// "private_key_jwt" to the default TokenEndpointAuthMethods.
	ClientPublicKey crypto.PublicKey
	// OfflineAccessRequiresConsent follows OIDC Core section 11, as
	// oidc-provider does: the offline_access scope, and with it a refresh
	// token, is granted only when the authorization request's prompt
	// includes consent, so prompt=none never yields a refresh token. By
	// default offline_access is granted whenever it is asked for and a
	// refresh token is always issued.
	OfflineAccessRequiresConsent bool
	// InvalidTargetSpendsRefreshToken makes a refresh_token grant spend the
	// presented refresh token before it checks the resource parameter, so
	// a refusal with invalid_target leaves the token spent (a later
	// presentation is reuse). oidc-provider behaves this way. By default
	// the resource is checked first and a refused request spends nothing.
	InvalidTargetSpendsRefreshToken bool
	// InvalidScopeSpendsRefreshToken does the same for the scope parameter
	// and invalid_scope. oidc-provider checks scope before spending, which
	// is the default here.
	InvalidScopeSpendsRefreshToken bool
	// CompleteAbandonedRefreshes carries out a delayed refresh_token grant
	// (DelayNextRefreshes) whose client gave up waiting: the refresh token
	// is spent and the answer lost, as a provider that finishes what it
	// started does. By default a grant whose client is gone is dropped
	// and spends nothing. Real providers do either.
	CompleteAbandonedRefreshes bool
	// BackChannelLogoutURI is the client's backchannel_logout_uri (OIDC
	// Back-Channel Logout 1.0): end_session and BackChannelLogout POST a
	// signed logout token there. Default: none, and discovery does not
	// advertise back-channel logout.
	BackChannelLogoutURI string
	// BackChannelLogoutClient sends the logout tokens; default
	// http.DefaultClient (give an httptest server's Client for TLS).
	BackChannelLogoutClient *http.Client
	// Now is the clock for iat, exp, refresh-token expiry and code expiry,
	// so tests can move time without sleeping; default time.Now.
	Now func() time.Time

	// For people in a browser (demos, end-to-end tests); tests that follow
	// redirects leave it off.

	// LoginPage makes /authorize show a minimal sign-in page (the user's
	// name, Continue and Cancel) whenever it would sign the user in
	// interactively, so sign-in and sign-out are visible. prompt=none never
	// shows it, and neither does a live provider session (single sign-on).
	LoginPage bool
}

// withDefaults returns a copy of c with every default filled in and its maps
// and slices cloned, so the caller may keep mutating its own Config.
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.ClientID == "" {
		c.ClientID = "client"
	}
	if c.ClientSecret == "" && !c.PublicClient {
		c.ClientSecret = "secret"
	}
	if c.User.Subject == "" {
		c.User.Subject = "user-1"
	}
	if c.User.Claims == nil {
		c.User.Claims = map[string]any{
			"name":           "Test User",
			"email":          "user@example.test",
			"email_verified": true,
		}
	} else {
		c.User.Claims = maps.Clone(c.User.Claims)
	}
	switch c.Algorithm {
	case "":
		c.Algorithm = "RS256"
	case "RS256", "ES256":
	default:
		return c, fmt.Errorf("oidcsessiontest: unsupported algorithm %q (want RS256 or ES256)", c.Algorithm)
	}
	if c.AccessTokenLifetime <= 0 {
		c.AccessTokenLifetime = 5 * time.Minute
	}
	if c.IDTokenLifetime <= 0 {
		c.IDTokenLifetime = 5 * time.Minute
	}
	if c.RefreshTokenLifetime <= 0 {
		c.RefreshTokenLifetime = 24 * time.Hour
	}
	if len(c.TokenEndpointAuthMethods) == 0 {
		if c.PublicClient {
			c.TokenEndpointAuthMethods = []string{"none"}
		} else {
			c.TokenEndpointAuthMethods = []string{"client_secret_basic", "client_secret_post"}
		}
		if c.ClientPublicKey != nil {
			c.TokenEndpointAuthMethods = append(c.TokenEndpointAuthMethods, "private_key_jwt")
		}
	}
	for _, m := range append(slices.Clone(c.TokenEndpointAuthMethods), c.ClientAuthMethod) {
		switch m {
		case "client_secret_basic", "client_secret_post", "none":
		case "private_key_jwt":
			if c.ClientPublicKey == nil {
				return c, fmt.Errorf("oidcsessiontest: private_key_jwt needs ClientPublicKey")
			}
		case "":
		default:
			return c, fmt.Errorf("oidcsessiontest: unsupported token endpoint auth method %q", m)
		}
	}
	for _, u := range c.RedirectURIs {
		if !isHTTPURI(u) {
			return c, fmt.Errorf("oidcsessiontest: redirect URI %q is not an absolute http(s) URI", u)
		}
	}
	for _, u := range c.Resources {
		if !isAbsoluteURI(u) {
			return c, fmt.Errorf("oidcsessiontest: resource %q is not an absolute URI", u)
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	c.Resources = slices.Clone(c.Resources)
	c.ResourceScopes = maps.Clone(c.ResourceScopes)
	c.TokenEndpointAuthMethods = slices.Clone(c.TokenEndpointAuthMethods)
	c.AccessTokenClaims = maps.Clone(c.AccessTokenClaims)
	c.IDTokenClaims = maps.Clone(c.IDTokenClaims)
	return c, nil
}

// isHTTPURI reports whether s is an absolute http or https URI without a
// fragment, as OAuth requires of redirect URIs.
func isHTTPURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Fragment == ""
}

// isAbsoluteURI reports whether s is an absolute URI without a fragment, as
// RFC 8707 requires of resource indicators.
func isAbsoluteURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && u.Fragment == "" && !u.ForceQuery
}
