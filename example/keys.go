package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// sessionKeys parses SESSION_KEYS: "hash:block[,hash:block]", newest pair
// first, each key in hex or base64 (standard or URL alphabet, padded or
// not). Empty gives nil. Key sizes are checked by oidcsession.New.
func sessionKeys(s string) ([][]byte, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var keys [][]byte
	for i, pair := range strings.Split(s, ",") {
		hashKey, blockKey, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok {
			return nil, fmt.Errorf("SESSION_KEYS: pair %d is not hash:block", i+1)
		}
		for _, k := range []string{hashKey, blockKey} {
			b, err := decodeKey(k)
			if err != nil {
				return nil, fmt.Errorf("SESSION_KEYS: pair %d: %w", i+1, err)
			}
			keys = append(keys, b)
		}
	}
	return keys, nil
}

// decodeKey reads one key; the error never repeats the key.
func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(s)%2 == 0 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("a key of %d characters is neither hex nor base64", len(s))
}

// randomKeys returns a fresh hash/block pair (HMAC-SHA256, AES-256).
func randomKeys() [][]byte {
	hashKey, blockKey := make([]byte, 32), make([]byte, 32)
	rand.Read(hashKey)
	rand.Read(blockKey)
	return [][]byte{hashKey, blockKey}
}
