package oidcsession

import (
	"crypto"
	"errors"
	"fmt"
	"slices"

	"github.com/oidcsession/oidcsession/internal/provider"
)

// ClientAuthMethod is how the client authenticates at the provider's token
// and revocation endpoints (the token_endpoint_auth_method of its
// registration, OIDC Core section 9).
type ClientAuthMethod string

// The client authentication methods.
const (
	// ClientSecretBasic sends client_id and client_secret in an HTTP Basic
	// header (RFC 6749 section 2.3.1).
	ClientSecretBasic ClientAuthMethod = "client_secret_basic"
	// ClientSecretPost sends them in the form body.
	ClientSecretPost ClientAuthMethod = "client_secret_post"
	// ClientAuthNone is a public client: client_id only, PKCE protects the
	// code.
	ClientAuthNone ClientAuthMethod = "none"
	// PrivateKeyJWTAuth signs a short-lived JWT with the client's own key
	// (RFC 7523); set it with WithPrivateKeyJWT.
	PrivateKeyJWTAuth ClientAuthMethod = "private_key_jwt"
)

// PrivateKeyJWT is the client's key for private_key_jwt authentication.
type PrivateKeyJWT struct {
	// Key signs the assertions: an *rsa.PrivateKey, an *ecdsa.PrivateKey
	// (P-256, P-384 or P-521), an ed25519.PrivateKey, or any crypto.Signer
	// with such a public key (an HSM or KMS key, say).
	Key crypto.Signer
	// KeyID is the kid header, naming the key in the client's registered
	// JWKS. Optional.
	KeyID string
	// Algorithm is the JWS algorithm. Default: RS256 for RSA keys, ES256,
	// ES384 or ES512 by curve, EdDSA for Ed25519. PS256 may be chosen for
	// RSA keys.
	Algorithm string
}

// WithClientAuth sets how the client authenticates at the token and
// revocation endpoints; it must be the method the client is registered
// with, since a provider that enforces the registration refuses any other
// (with invalid_client, which this package reports as a refused sign-in).
// Default: ClientAuthNone when oauth2.Config.ClientSecret is empty, else
// ClientSecretBasic, or ClientSecretPost when the provider advertises only
// that in token_endpoint_auth_methods_supported. For private_key_jwt use
// WithPrivateKeyJWT.
func WithClientAuth(method ClientAuthMethod) Option {
	return func(c *config) { c.clientAuth = method }
}

// WithPrivateKeyJWT authenticates the client with assertions signed by its
// own key (private_key_jwt: RFC 7523, OIDC Core section 9); leave
// oauth2.Config.ClientSecret empty. Register the public key (or a JWKS
// holding it under k.KeyID) with the provider. Assertions name the token
// endpoint as their audience and live one minute. Default: not used.
func WithPrivateKeyJWT(k PrivateKeyJWT) Option {
	return func(c *config) {
		if k.Algorithm == "" && k.Key != nil {
			k.Algorithm = provider.DefaultAlg(k.Key.Public())
		}
		c.privateKey = &k
		if c.clientAuth == "" {
			c.clientAuth = PrivateKeyJWTAuth
		}
	}
}

// clientAuthFor checks the configured method against the client's secret
// and key, and picks the default when none is configured: a public client
// (no secret) uses none; otherwise client_secret_basic, which every
// provider must support (RFC 6749 section 2.3.1), unless the provider
// advertises only client_secret_post. It is decided once, in New: probing
// by retrying with another method would present a refresh token twice.
func (c *config) clientAuthFor(secret string, advertised []string) (ClientAuthMethod, error) {
	switch c.clientAuth {
	case "":
		switch {
		case secret == "":
			return ClientAuthNone, nil
		case len(advertised) > 0 && !slices.Contains(advertised, string(ClientSecretBasic)) && slices.Contains(advertised, string(ClientSecretPost)):
			return ClientSecretPost, nil
		}
		return ClientSecretBasic, nil
	case ClientSecretBasic, ClientSecretPost:
		if c.privateKey != nil {
			return "", fmt.Errorf("WithClientAuth: %q conflicts with WithPrivateKeyJWT", c.clientAuth)
		}
		if secret == "" {
			return "", fmt.Errorf("WithClientAuth: %s needs oauth2.Config.ClientSecret, the client secret", c.clientAuth)
		}
	case ClientAuthNone, PrivateKeyJWTAuth:
		if secret != "" {
			return "", fmt.Errorf("WithClientAuth: %s sends no client secret; leave oauth2.Config.ClientSecret empty", c.clientAuth)
		}
		if c.clientAuth == ClientAuthNone && c.privateKey != nil {
			return "", errors.New("WithClientAuth: none conflicts with WithPrivateKeyJWT")
		}
	default:
		return "", fmt.Errorf("WithClientAuth: unknown method %q", c.clientAuth)
	}
	if c.clientAuth == PrivateKeyJWTAuth {
		switch k := c.privateKey; {
		case k == nil:
			return "", errors.New("WithClientAuth: private_key_jwt needs WithPrivateKeyJWT")
		case k.Key == nil:
			return "", errors.New("WithPrivateKeyJWT: Key is nil")
		case !provider.AlgFits(k.Key.Public(), k.Algorithm):
			return "", fmt.Errorf("WithPrivateKeyJWT: Algorithm %q does not fit a %T key", k.Algorithm, k.Key.Public())
		}
	}
	return c.clientAuth, nil
}
