package provider

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
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestClass(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want Class
	}{
		{"no answer", &Error{Err: errors.New("dial")}, Unavailable},
		{"500", &Error{Status: 500}, Unavailable},
		{"503", &Error{Status: 503}, Unavailable},
		{"429", &Error{Status: 429}, Unavailable},
		{"temporarily_unavailable 400", &Error{Status: 400, Code: "temporarily_unavailable"}, Unavailable},
		{"400 invalid_grant", &Error{Status: 400, Code: "invalid_grant"}, Refused},
		{"401", &Error{Status: 401}, Refused},
		{"403", &Error{Status: 403}, Refused},
		{"404", &Error{Status: 404}, Refused},
		{"502 invalid_grant body", &Error{Status: 502, Code: "invalid_grant"}, Unavailable},
		{"200 without token", &Error{Status: 200, unusable: true}, Unusable},
	}
	for _, tt := range tests {
		if got := tt.err.Class(); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// echo fails every request with an error that echoes its body and
// credentials, as some transports do.
type echo struct{}

func (echo) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	return nil, fmt.Errorf("refused %s body %s auth %s", r.URL, b, r.Header.Get("Authorization"))
}

// TestErrorsRedact: an Error's message never carries the request (and so a
// token or a credential), the provider's body, or the endpoint's query.
func TestErrorsRedact(t *testing.T) {
	c := &Client{ClientID: "client", Secret: "s3cret", Method: "client_secret_basic", TokenURL: "https://op.test/token?tenant=x", HTTP: &http.Client{Transport: echo{}}, Now: time.Now}
	_, err := c.Token(context.Background(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"RT-SECRET"}})
	msg := err.Error()
	for _, leak := range []string{"RT-SECRET", "s3cret", "Basic", "tenant"} {
		if strings.Contains(msg, leak) {
			t.Fatalf("%q leaks %q", msg, leak)
		}
	}
	if msg != "token endpoint https://op.test/token could not be reached: request failed (*errors.errorString)" {
		t.Fatalf("message %q", msg)
	}
	op := &net.OpError{Op: "dial", Err: errors.New("refused")}
	if got := (&Error{Op: "token endpoint", Endpoint: "https://op/token", Err: op}).Error(); got != "token endpoint https://op/token could not be reached: network error (dial)" {
		t.Fatal(got)
	}
	if got := (&Error{Op: "token endpoint", Endpoint: "https://op/token", Err: context.DeadlineExceeded}).Error(); !strings.HasSuffix(got, "timeout") {
		t.Fatal(got)
	}
}

func answer(status int, ct, body string) (*http.Response, []byte) {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {ct}}}, []byte(body)
}

func TestParseTokenResponse(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		class   Class
		code    string
		wantTok bool
	}{
		{"success", 200, `{"access_token":"at","token_type":"Bearer","expires_in":300,"refresh_token":"rt","id_token":"x.y.z"}`, 0, "", true},
		{"error", 400, `{"error":"invalid_grant","error_description":"spent"}`, Refused, "invalid_grant", false},
		{"error with 200", 200, `{"error":"invalid_grant"}`, Refused, "invalid_grant", false},
		{"200 without token", 200, `{"token_type":"Bearer"}`, Unusable, "", false},
		{"200 not JSON", 200, `<html>`, Unusable, "", false},
		{"503 text", 503, `down`, Unavailable, "", false},
		{"hostile code", 400, `{"error":"<script>"}`, Refused, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := answer(tt.status, "application/json", tt.body)
			tok, err := ParseTokenResponse("https://op/token", resp, body)
			if tt.wantTok {
				if err != nil || tok.AccessToken != "at" || tok.RefreshToken != "rt" || tok.Extra("id_token") != "x.y.z" {
					t.Fatalf("%v %+v", err, tok)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Class() != tt.class || e.Code != tt.code {
				t.Fatalf("got %v (%+v)", err, e)
			}
			var re *oauth2.RetrieveError
			if tt.class == Refused && (!errors.As(err, &re) || re.Response.StatusCode != tt.status) {
				t.Fatal("a refusal does not unwrap to *oauth2.RetrieveError")
			}
			if strings.Contains(err.Error(), "spent") || strings.Contains(err.Error(), "<script>") {
				t.Fatalf("provider text in %q", err)
			}
		})
	}
}

func TestUserInfo(t *testing.T) {
	var status int
	var ct, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer AT" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	c := &Client{UserInfoURL: srv.URL, HTTP: srv.Client()}
	tests := []struct {
		name        string
		status      int
		ct, body    string
		wantClass   Class
		wantClaims  string
		wantSubject string
	}{
		{"claims", 200, "application/json; charset=utf-8", ` {"sub": "u1", "name": "N"} `, 0, `{"sub":"u1","name":"N"}`, "u1"},
		{"no sub", 200, "application/json", `{"name":"N"}`, Unusable, "", ""},
		{"array", 200, "application/json", `[1]`, Unusable, "", ""},
		{"signed", 200, "application/jwt", `a.b.c`, Unusable, "", ""},
		{"huge", 200, "application/json", `{"sub":"u1","x":"` + strings.Repeat("x", MaxUserInfo) + `"}`, Unusable, "", ""},
		{"refused", 403, "application/json", `{"error":"insufficient_scope"}`, Refused, "", ""},
		{"down", 502, "text/plain", `bad gateway`, Unavailable, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ct, body = tt.status, tt.ct, tt.body
			claims, sub, err := c.UserInfo(context.Background(), "AT", "Bearer")
			if tt.wantClass == 0 {
				if err != nil || string(claims) != tt.wantClaims || sub != tt.wantSubject {
					t.Fatalf("%s %q %v", claims, sub, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Class() != tt.wantClass {
				t.Fatalf("%v", err)
			}
		})
	}
}

// TestClientAuthentication sends a token request with each method and
// checks what reached the endpoint, including a verifiable assertion.
func TestClientAuthentication(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	var got *http.Request
	var form url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got, form = r, r.PostForm
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"at","token_type":"Bearer"}`))
	}))
	defer srv.Close()
	tests := []struct {
		name   string
		c      Client
		verify func(t *testing.T)
	}{
		{"basic", Client{ClientID: "c:1", Secret: "s&2", Method: "client_secret_basic"}, func(t *testing.T) {
			id, secret, ok := got.BasicAuth()
			if !ok || id != "c%3A1" || secret != "s%262" || form.Has("client_secret") {
				t.Fatalf("basic %q %q %t", id, secret, ok)
			}
		}},
		{"post", Client{ClientID: "c", Secret: "s", Method: "client_secret_post"}, func(t *testing.T) {
			if form.Get("client_id") != "c" || form.Get("client_secret") != "s" || got.Header.Get("Authorization") != "" {
				t.Fatal(form)
			}
		}},
		{"none", Client{ClientID: "c", Method: "none"}, func(t *testing.T) {
			if form.Get("client_id") != "c" || form.Has("client_secret") || got.Header.Get("Authorization") != "" {
				t.Fatal(form)
			}
		}},
		{"RS256", Client{ClientID: "c", Method: "private_key_jwt", Key: rsaKey, Alg: "RS256", KeyID: "k1"}, nil},
		{"PS256", Client{ClientID: "c", Method: "private_key_jwt", Key: rsaKey, Alg: "PS256"}, nil},
		{"ES256", Client{ClientID: "c", Method: "private_key_jwt", Key: p256, Alg: "ES256"}, nil},
		{"ES384", Client{ClientID: "c", Method: "private_key_jwt", Key: p384, Alg: "ES384"}, nil},
		{"EdDSA", Client{ClientID: "c", Method: "private_key_jwt", Key: edKey, Alg: "EdDSA"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.TokenURL, c.HTTP, c.Now = srv.URL+"/token", srv.Client(), time.Now
			if _, err := c.Token(context.Background(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt"}}); err != nil {
				t.Fatal(err)
			}
			if tt.verify != nil {
				tt.verify(t)
				return
			}
			if form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || form.Get("client_id") != "c" {
				t.Fatal(form)
			}
			verifyAssertion(t, form.Get("client_assertion"), c.Key.Public(), c.Alg, c.TokenURL)
		})
	}
}

// verifyAssertion checks a client assertion's signature and claims with
// the standard library alone.
func verifyAssertion(t *testing.T, jwt string, pub crypto.PublicKey, alg, aud string) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("assertion %q", jwt)
	}
	input := []byte(parts[0] + "." + parts[1])
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	ok := false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		d := sha256.Sum256(input)
		if alg == "PS256" {
			ok = rsa.VerifyPSS(k, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		} else {
			ok = rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil
		}
	case *ecdsa.PublicKey:
		var d []byte
		if alg == "ES384" {
			s := sha512.Sum384(input)
			d = s[:]
		} else {
			s := sha256.Sum256(input)
			d = s[:]
		}
		n := len(sig) / 2
		ok = ecdsa.Verify(k, d, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:]))
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, input, sig)
	}
	if !ok {
		t.Fatalf("%s signature does not verify", alg)
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	for _, want := range []string{`"iss":"c"`, `"sub":"c"`, `"aud":"` + aud + `"`, `"jti":`, `"exp":`} {
		if !strings.Contains(string(claims), want) {
			t.Fatalf("claims %s lack %s", claims, want)
		}
	}
}

func TestAlgFits(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if !AlgFits(&rsaKey.PublicKey, "PS256") || AlgFits(&rsaKey.PublicKey, "ES256") || !AlgFits(&p256.PublicKey, "ES256") || AlgFits(&p256.PublicKey, "RS256") || AlgFits("not a key", "") {
		t.Fatal("AlgFits")
	}
}
