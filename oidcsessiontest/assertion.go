package oidcsessiontest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"time"
)

// checkClientAssertion verifies a private_key_jwt client assertion (RFC
// 7523 section 3, OIDC Core section 9) against Config.ClientPublicKey and
// returns why it is refused, or "" when it is good: a signature by the
// registered key (RS256, PS256, ES256 or EdDSA), iss = sub = client_id,
// aud naming the issuer or the token endpoint, an exp in the future and a
// jti not seen before.
func (p *Provider) checkClientAssertion(assertion, bodyID string) string {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 || p.cfg.ClientPublicKey == nil {
		return "client assertion unusable"
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	pb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	var h struct {
		Alg string `json:"alg"`
	}
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &h) != nil {
		return "client assertion malformed"
	}
	if !verifyClientSignature(p.cfg.ClientPublicKey, h.Alg, []byte(parts[0]+"."+parts[1]), sig) {
		return "client assertion signature invalid"
	}
	var c struct {
		Iss string      `json:"iss"`
		Sub string      `json:"sub"`
		Aud any         `json:"aud"`
		Exp json.Number `json:"exp"`
		Jti string      `json:"jti"`
	}
	d := json.NewDecoder(bytes.NewReader(pb))
	d.UseNumber()
	if d.Decode(&c) != nil {
		return "client assertion claims malformed"
	}
	exp, err := c.Exp.Int64()
	now := p.cfg.Now()
	switch {
	case c.Iss != p.cfg.ClientID || c.Sub != p.cfg.ClientID || (bodyID != "" && bodyID != p.cfg.ClientID):
		return "client assertion iss and sub must be the client_id"
	case !audContains(c.Aud, p.Issuer()) && !audContains(c.Aud, p.Issuer()+"/token"):
		return "client assertion aud must name the issuer or the token endpoint"
	case err != nil || !now.Before(time.Unix(exp, 0)):
		return "client assertion expired"
	case c.Jti == "":
		return "client assertion has no jti"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.assertionJTIs == nil {
		p.assertionJTIs = map[string]time.Time{}
	}
	if _, seen := p.assertionJTIs[c.Jti]; seen {
		return "client assertion jti replayed"
	}
	for k, until := range p.assertionJTIs {
		if !now.Before(until) {
			delete(p.assertionJTIs, k)
		}
	}
	p.assertionJTIs[c.Jti] = time.Unix(exp, 0)
	return ""
}

// verifyClientSignature checks a JWS signature by the client's public key.
func verifyClientSignature(pub crypto.PublicKey, alg string, input, sig []byte) bool {
	h := sha256.Sum256(input)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256":
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil
		case "PS256":
			return rsa.VerifyPSS(k, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
	case *ecdsa.PublicKey:
		if alg != "ES256" || len(sig) != 64 {
			return false
		}
		return ecdsa.Verify(k, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	case ed25519.PublicKey:
		return alg == "EdDSA" && ed25519.Verify(k, input, sig)
	}
	return false
}
