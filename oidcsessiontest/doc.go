// Package oidcsessiontest runs a real OpenID Connect provider in-process,
// over HTTP on a loopback port, so relying-party code can be tested end to
// end with unmodified client libraries (go-oidc, x/oauth2, a browser) and
// with failures that are hard to provoke against a hosted provider:
// refresh-token reuse, slow or dropped token requests, key rotation, a
// provider that changes "sub".
//
// It depends only on the standard library and golang.org/x/oauth2; JWTs
// (RS256 or ES256) and the JWKS are produced by hand.
//
// # Use in a test
//
//	func TestLogin(t *testing.T) {
//		op := oidcsessiontest.New(t, oidcsessiontest.Config{})
//		ctx := context.Background()
//		provider, err := oidc.NewProvider(ctx, op.Issuer())
//		if err != nil {
//			t.Fatal(err)
//		}
//		conf := oauth2.Config{
//			ClientID: op.ClientID(), ClientSecret: op.ClientSecret(),
//			Endpoint: provider.Endpoint(), RedirectURL: "http://app.test/callback",
//			Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
//		}
//		// Skip the browser: a real token set whose refresh token works.
//		tok, err := op.IssueTokens(oidcsessiontest.IssueOptions{})
//		if err != nil {
//			t.Fatal(err)
//		}
//		op.FailNextRefreshes(1, http.StatusServiceUnavailable, "temporarily_unavailable")
//		// ... exercise your code with conf and tok, then assert on
//		// op.Stats().Grants["refresh_token"], op.Stats().ReuseDetections, ...
//	}
//
// For the browser flow, send the authorization URL (with
// oauth2.S256ChallengeOption) to an http.Client with a cookie jar: the
// provider signs the configured user in at once (there is no login form
// unless Config.LoginPage asks for one, for people in a browser), sets its
// session cookie "op_session" and redirects to the redirect URI with code,
// state and iss.
//
// # Endpoints
//
//	GET      /.well-known/openid-configuration  discovery (RFC 8414 / OIDC Discovery)
//	GET      /jwks                              current and rotated-out public keys
//	GET|POST /authorize                         code flow, PKCE S256 required, prompt=none|login
//	POST     /token                             authorization_code, refresh_token (rotation, reuse detection,
//	                                            scope narrowing, RFC 8707 resource)
//	GET|POST /userinfo                          Bearer access token
//	POST     /revoke                            RFC 7009; a refresh token revokes its whole family
//	GET|POST /end_session                       RP-Initiated Logout; ends the provider session
//
// # Knobs
//
// Config sets the client (confidential or public, auth methods, allowed
// redirect URIs), the user, the algorithm, token lifetimes, extra claims,
// accepted resources, the clock, and turns off rotation, reuse detection,
// ID tokens on refresh, refresh tokens, revocation or logout. At run time:
// FailNextRefreshes, DelayNextRefreshes, DropNextRefreshes and
// OverrideNextRefreshIDTokenClaims inject faults into refresh_token grants,
// SetRefreshOutage makes every one fail until switched off;
// RotateKeys rolls the signing key; SetLoggedIn forces the provider session;
// IssueTokens and SignJWT mint tokens directly; Stats counts what the
// relying party did (grants by type, reuse detections, revocations,
// end-session and userinfo calls). Clock is a hand-moved clock to share
// between the provider (Config.Now) and the application.
package oidcsessiontest
