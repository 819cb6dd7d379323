package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// ordersAPI is the API behind the app's proxy (/api/orders/): a separate
// server, as an API usually is, that the browser never reaches directly
// and that trusts only access tokens signed by the provider for its own
// audience (the resource indicator the app asks tokens for).
type ordersAPI struct {
	verifier *oidc.IDTokenVerifier
	srv      *http.Server
	url      string
}

// startOrdersAPI serves the API on a free loopback port until ctx is done.
// Access tokens are JWTs checked with the provider's published keys: the
// signature, the issuer, the expiry and the audience.
func startOrdersAPI(ctx context.Context, provider *oidc.Provider, audience string) (*ordersAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("orders API: %w", err)
	}
	a := &ordersAPI{
		// go-oidc checks a JWT's issuer, audience, expiry and signature;
		// an access token (RFC 9068) has the same claims as an ID token.
		verifier: provider.VerifierContext(ctx, &oidc.Config{ClientID: audience}),
		url:      "http://" + ln.Addr().String(),
	}
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = a.srv.Close()
	}()
	return a, nil
}

// serve answers GET / with the caller's orders, as an API would.
func (a *ordersAPI) serve(w http.ResponseWriter, r *http.Request) {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		refuse(w, "", "a bearer token is required")
		return
	}
	tok, err := a.verifier.Verify(r.Context(), raw)
	if err != nil {
		refuse(w, "invalid_token", "the access token is not valid here: "+reason(err))
		return
	}
	var claims struct {
		Scope string `json:"scope"`
	}
	_ = tok.Claims(&claims)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"api":        "orders",
		"subject":    tok.Subject,
		"audience":   tok.Audience,
		"scope":      claims.Scope,
		"expires_at": tok.Expiry.UTC().Format(time.RFC3339),
		"orders": []map[string]any{
			{"id": "A-1001", "item": "Notebook", "status": "shipped"},
			{"id": "A-1002", "item": "Pencils", "status": "processing"},
		},
	})
}

// refuse answers 401 as RFC 6750 section 3 says, so the app's proxy can
// tell a refused token (invalid_token) from a missing one.
func refuse(w http.ResponseWriter, code, desc string) {
	v := `Bearer realm="orders"`
	if code != "" {
		v += `, error="` + code + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// reason is why a token failed, without the token.
func reason(err error) string {
	var expired *oidc.TokenExpiredError
	if errors.As(err, &expired) {
		return "expired"
	}
	return "its signature, issuer or audience does not match"
}
