package oidcsessiontest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
)

// signingKey is one key pair of the provider. Old keys stay in the JWKS
// after RotateKeys so tokens signed before a rotation keep verifying.
type signingKey struct {
	kid string
	alg string
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

// newSigningKey generates a key for alg with a fresh random kid.
func newSigningKey(alg string) (*signingKey, error) {
	k := &signingKey{alg: alg, kid: randomString(12)}
	var err error
	switch alg {
	case "RS256":
		k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		err = fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("oidcsessiontest: generate %s key: %w", alg, err)
	}
	return k, nil
}

// sign returns the JWS signature of signingInput: PKCS #1 v1.5 over SHA-256
// for RS256, and the raw 64-byte r||s (RFC 7518 3.4) for ES256.
func (k *signingKey) sign(signingInput []byte) ([]byte, error) {
	h := sha256.Sum256(signingInput)
	if k.rsa != nil {
		return rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, h[:])
	}
	r, s, err := ecdsa.Sign(rand.Reader, k.ec, h[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig, nil
}

// verify reports whether sig is a valid signature of signingInput by k.
func (k *signingKey) verify(signingInput, sig []byte) bool {
	h := sha256.Sum256(signingInput)
	if k.rsa != nil {
		return rsa.VerifyPKCS1v15(&k.rsa.PublicKey, crypto.SHA256, h[:], sig) == nil
	}
	if len(sig) != 64 {
		return false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(&k.ec.PublicKey, h[:], r, s)
}

// jwk is the public half of k as a JSON Web Key (RFC 7517, RFC 7518 6).
func (k *signingKey) jwk() map[string]any {
	m := map[string]any{"kid": k.kid, "alg": k.alg, "use": "sig"}
	b64 := base64.RawURLEncoding.EncodeToString
	if k.rsa != nil {
		m["kty"] = "RSA"
		m["n"] = b64(k.rsa.N.Bytes())
		m["e"] = b64(big.NewInt(int64(k.rsa.E)).Bytes())
		return m
	}
	// Bytes returns the uncompressed point 0x04 || X || Y, 32 bytes each.
	pt, err := k.ec.PublicKey.Bytes()
	if err != nil || len(pt) != 65 {
		return nil
	}
	m["kty"] = "EC"
	m["crv"] = "P-256"
	m["x"] = b64(pt[1:33])
	m["y"] = b64(pt[33:])
	return m
}

// randomString returns n random bytes encoded as base64url without padding,
// used for codes, refresh tokens, kids, jtis and session ids.
func randomString(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error (Go 1.24+).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
