package oidcsession_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// A protected API behind Require, with a session started from a token
// response of the app's own sign-in flow.
func ExampleMiddleware_Require() {
	op, err := oidcsessiontest.Start(oidcsessiontest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer op.Close()

	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, op.Issuer())
	if err != nil {
		log.Fatal(err)
	}
	m, err := oidcsession.New(provider, oauth2.Config{
		ClientID:     op.ClientID(),
		ClientSecret: op.ClientSecret(),
		Scopes:       []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess},
	}, oidcsession.WithKeys([]byte("a-32-byte-hash-key-for-examples!"), []byte("16-byte-blockkey")))
	if err != nil {
		log.Fatal(err)
	}

	api := m.Require(oidcsession.TryRefresh())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := oidcsession.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s", s.Subject())
	}))

	// Without a session.
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "/api/me", nil))
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))

	// Sign in (here with tokens straight from the test provider).
	tok, err := op.IssueTokens(oidcsessiontest.IssueOptions{})
	if err != nil {
		log.Fatal(err)
	}
	rec = httptest.NewRecorder()
	if _, err := m.StartSession(rec, httptest.NewRequest("GET", "/", nil), tok); err != nil {
		log.Fatal(err)
	}
	cookie := strings.SplitN(rec.Header().Get("Set-Cookie"), ";", 2)[0]

	req := httptest.NewRequest("GET", "/api/me", nil)
	req.Header.Set("Cookie", cookie)
	rec = httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// 401 {"error":"unauthenticated","error_description":"sign in first"}
	// 200 hello user-1
}

// Errors are classified by data: a transient failure keeps the session.
func ExampleRefreshError() {
	handle := func(err error) string {
		var re *oidcsession.RefreshError
		switch {
		case oidcsession.IsTransient(err):
			return "provider unavailable, try again"
		case errors.As(err, &re) && re.Class == oidcsession.RefreshTerminal:
			return "signed out"
		default:
			return "other"
		}
	}
	fmt.Println(handle(&oidcsession.RefreshError{Class: oidcsession.RefreshTransient, Err: context.DeadlineExceeded}))
	fmt.Println(handle(&oidcsession.RefreshError{Class: oidcsession.RefreshTerminal, Err: &oauth2.RetrieveError{ErrorCode: "invalid_grant"}}))
	// Output:
	// provider unavailable, try again
	// signed out
}
