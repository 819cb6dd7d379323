package oidcsessiontest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// signJWT serializes claims as a compact JWS signed with key. typ is the
// header's "typ" ("JWT", or "at+jwt" for RFC 9068 access tokens).
func signJWT(key *signingKey, typ string, claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": key.alg, "kid": key.kid, "typ": typ})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sig, err := key.sign([]byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + enc.EncodeToString(sig), nil
}

// errBadJWT is returned by verifyJWT for any malformed or unverifiable token;
// callers only need to know the token is not ours.
var errBadJWT = errors.New("invalid JWT")

// verifyJWT checks token's signature against keys (selected by kid) and
// returns its claims. It deliberately ignores exp: its one user,
// id_token_hint, must accept expired ID tokens.
func verifyJWT(keys []*signingKey, token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errBadJWT
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	pb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, errBadJWT
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(hb, &h) != nil {
		return nil, errBadJWT
	}
	for _, k := range keys {
		if k.kid != h.Kid || k.alg != h.Alg {
			continue
		}
		if !k.verify([]byte(parts[0]+"."+parts[1]), sig) {
			return nil, errBadJWT
		}
		d := json.NewDecoder(bytes.NewReader(pb))
		d.UseNumber()
		var claims map[string]any
		if d.Decode(&claims) != nil || claims == nil {
			return nil, errBadJWT
		}
		return claims, nil
	}
	return nil, errBadJWT
}

// atHash is the ID token's at_hash (OIDC Core 3.1.3.6): the left half of the
// SHA-256 of the access token, base64url. SHA-256 is right for both RS256
// and ES256.
func atHash(accessToken string) string {
	h := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(h[:len(h)/2])
}

// s256 is the PKCE S256 transform of a code verifier (RFC 7636 4.2).
func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
