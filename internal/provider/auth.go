package provider

import (
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
	"time"
)

// DefaultAlg is the JWS algorithm for a key: RS256 for RSA, ES256, ES384
// or ES512 by curve, EdDSA for Ed25519; "" for any other key.
func DefaultAlg(key crypto.PublicKey) string {
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

// AlgFits reports whether alg can be made with key: RSA keys also make
// PS256.
func AlgFits(key crypto.PublicKey, alg string) bool {
	if _, ok := key.(*rsa.PublicKey); ok {
		return alg == "RS256" || alg == "PS256"
	}
	return alg != "" && alg == DefaultAlg(key)
}

// assertion signs a private_key_jwt client assertion (RFC 7523 section 3):
// iss and sub are the client_id, aud the token endpoint (OIDC Core section
// 9), valid for one minute, with a random jti so the provider can refuse a
// replay.
func (c *Client) assertion() (string, error) {
	header := map[string]string{"alg": c.Alg, "typ": "JWT"}
	if c.KeyID != "" {
		header["kid"] = c.KeyID
	}
	now := c.Now()
	claims := map[string]any{
		"iss": c.ClientID, "sub": c.ClientID, "aud": c.TokenURL,
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
	sig, err := signJWS(c.Key, c.Alg, []byte(input))
	if err != nil {
		return "", fmt.Errorf("signing the client assertion: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// signJWS signs input with key for the JWS algorithm alg (RFC 7518).
func signJWS(key crypto.Signer, alg string, input []byte) ([]byte, error) {
	h, size := crypto.SHA256, 32
	switch alg {
	case "ES384":
		h, size = crypto.SHA384, 48
	case "ES512":
		h, size = crypto.SHA512, 66
	}
	var digest []byte
	switch h {
	case crypto.SHA384:
		s := sha512.Sum384(input)
		digest = s[:]
	case crypto.SHA512:
		s := sha512.Sum512(input)
		digest = s[:]
	default:
		s := sha256.Sum256(input)
		digest = s[:]
	}
	switch alg {
	case "RS256":
		return key.Sign(rand.Reader, digest, crypto.SHA256)
	case "PS256":
		return key.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	case "EdDSA":
		return key.Sign(rand.Reader, input, crypto.Hash(0))
	case "ES256", "ES384", "ES512":
		der, err := key.Sign(rand.Reader, digest, h)
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
