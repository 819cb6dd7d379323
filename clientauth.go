package oidcsession

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
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

// defaultAlgorithm is the JWS algorithm for key, or "" when the key type is
// not supported.
func defaultAlgorithm(key crypto.PublicKey) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return "RS256"
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256"
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
	case ed25519.PublicKey:
		return "EdDSA"
	}
	return ""
}

// algorithmFits reports whether alg can be made with key.
func algorithmFits(key crypto.PublicKey, alg string) bool {
	if _, ok := key.(*rsa.PublicKey); ok {
		return alg == "RS256" || alg == "PS256"
	}
	return alg != "" && alg == defaultAlgorithm(key)
}

// defaultClientAuth picks the method when none is configured: a public
// client (no secret) uses none; otherwise client_secret_basic, which every
// provider must support (RFC 6749 section 2.3.1), unless the provider
// advertises only client_secret_post. It is decided once, in New: probing
// by retrying with another method would present a refresh token twice.
func defaultClientAuth(advertised []string, secret string) ClientAuthMethod {
	switch {
	case secret == "":
		return ClientAuthNone
	case len(advertised) > 0 && !slices.Contains(advertised, string(ClientSecretBasic)) && slices.Contains(advertised, string(ClientSecretPost)):
		return ClientSecretPost
	}
	return ClientSecretBasic
}

// validateClientAuth checks the configured method against the client's
// secret and key.
func (c *config) validateClientAuth(secret string) error {
	switch c.clientAuth {
	case "", ClientSecretBasic, ClientSecretPost, ClientAuthNone, PrivateKeyJWTAuth:
	default:
		return fmt.Errorf("WithClientAuth: unknown method %q", c.clientAuth)
	}
	switch {
	case c.privateKey != nil && c.clientAuth != PrivateKeyJWTAuth:
		return fmt.Errorf("WithClientAuth: %q conflicts with WithPrivateKeyJWT", c.clientAuth)
	case (c.clientAuth == ClientSecretBasic || c.clientAuth == ClientSecretPost) && secret == "":
		return fmt.Errorf("WithClientAuth: %s needs oauth2.Config.ClientSecret, the client secret", c.clientAuth)
	case (c.clientAuth == ClientAuthNone || c.clientAuth == PrivateKeyJWTAuth) && secret != "":
		return fmt.Errorf("WithClientAuth: %s sends no client secret; leave oauth2.Config.ClientSecret empty", c.clientAuth)
	case c.clientAuth == PrivateKeyJWTAuth && c.privateKey == nil:
		return errors.New("WithClientAuth: private_key_jwt needs WithPrivateKeyJWT")
	}
	if k := c.privateKey; k != nil {
		if k.Key == nil {
			return errors.New("WithPrivateKeyJWT: Key is nil")
		}
		if !algorithmFits(k.Key.Public(), k.Algorithm) {
			return fmt.Errorf("WithPrivateKeyJWT: Algorithm %q does not fit a %T key", k.Algorithm, k.Key.Public())
		}
	}
	return nil
}

// newClientPost builds a form POST to one of the provider's endpoints
// (token, revocation) authenticated with the client's method.
func (m *Middleware) newClientPost(ctx context.Context, endpoint string, form url.Values) (*http.Request, error) {
	switch m.cfg.clientAuth {
	case ClientSecretPost:
		form.Set("client_id", m.oauth.ClientID)
		form.Set("client_secret", m.oauth.ClientSecret)
	case ClientAuthNone:
		form.Set("client_id", m.oauth.ClientID)
	case PrivateKeyJWTAuth:
		assertion, err := m.clientAssertion()
		if err != nil {
			return nil, err
		}
		form.Set("client_id", m.oauth.ClientID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("oidcsession: building a request to the provider: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if m.cfg.clientAuth == ClientSecretBasic {
		// RFC 6749 section 2.3.1: form-encode both parts before Basic.
		req.SetBasicAuth(url.QueryEscape(m.oauth.ClientID), url.QueryEscape(m.oauth.ClientSecret))
	}
	return req, nil
}

// clientAssertion signs a private_key_jwt assertion (RFC 7523 section 3):
// iss and sub are the client_id, aud the token endpoint (OIDC Core section
// 9), valid for one minute, with a random jti so the provider can refuse a
// replay.
func (m *Middleware) clientAssertion() (string, error) {
	k := m.cfg.privateKey
	header := map[string]string{"alg": k.Algorithm, "typ": "JWT"}
	if k.KeyID != "" {
		header["kid"] = k.KeyID
	}
	now := m.cfg.now()
	claims := map[string]any{
		"iss": m.oauth.ClientID, "sub": m.oauth.ClientID, "aud": m.oauth.Endpoint.TokenURL,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": rand.Text(),
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sig, err := signJWS(k.Key, k.Algorithm, []byte(input))
	if err != nil {
		return "", fmt.Errorf("oidcsession: signing the client assertion: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// signJWS signs input with key for the JWS algorithm alg (RFC 7518).
func signJWS(key crypto.Signer, alg string, input []byte) ([]byte, error) {
	digest := func(h crypto.Hash) []byte {
		switch h {
		case crypto.SHA384:
			s := sha512.Sum384(input)
			return s[:]
		case crypto.SHA512:
			s := sha512.Sum512(input)
			return s[:]
		}
		s := sha256.Sum256(input)
		return s[:]
	}
	switch alg {
	case "RS256":
		return key.Sign(rand.Reader, digest(crypto.SHA256), crypto.SHA256)
	case "PS256":
		return key.Sign(rand.Reader, digest(crypto.SHA256), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	case "EdDSA":
		return key.Sign(rand.Reader, input, crypto.Hash(0))
	case "ES256", "ES384", "ES512":
		h, size := crypto.SHA256, 32
		switch alg {
		case "ES384":
			h, size = crypto.SHA384, 48
		case "ES512":
			h, size = crypto.SHA512, 66
		}
		der, err := key.Sign(rand.Reader, digest(h), h)
		if err != nil {
			return nil, err
		}
		// crypto.Signer gives ASN.1 DER; JWS wants r || s, each padded.
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 {
			return nil, errors.New("malformed ECDSA signature")
		}
		out := make([]byte, 2*size)
		rs.R.FillBytes(out[:size])
		rs.S.FillBytes(out[size:])
		return out, nil
	}
	return nil, fmt.Errorf("unsupported algorithm %q", alg)
}
