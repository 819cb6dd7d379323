// Package oidcsession keeps a user's OpenID Connect session alive in a
// net/http server: the backend-for-frontend half of Auth0's token renewal,
// Ionic Auth Connect, MonoCloud's refreshSession and SuperTokens' session
// recipe.
//
// Tokens live in sealed cookies (AES + HMAC through gorilla/securecookie,
// with key rotation), or with WithStore in a Store (the redisstore module
// for several replicas) with only a signed reference in the cookie, which
// makes sessions revocable, replayed cookies detectable and back-channel
// logout possible. Require checks each request cheaply, puts the Session
// in the request's context, and renews an expired access token with the
// refresh-token grant, either inline or through the try-refresh contract
// that a browser client follows (401 {"error":"try_refresh"}, then POST to
// the refresh handler, then retry). Concurrent refreshes of one session
// share one grant, and a request that still carries a just-rotated cookie
// is given the new session instead of presenting the spent refresh token
// again; a Coordinator extends both across replicas.
//
// Calling APIs on the user's behalf: Token returns an access token per
// resource (RFC 8707) and scope set, kept beside the session's own; Client
// sends requests with it and renews a refused one once; Proxy forwards the
// browser's requests to an API with it (backend-for-frontend), so tokens
// never reach the browser.
//
// Quick start:
//
//	provider, err := oidc.NewProvider(ctx, issuer)
//	if err != nil { ... }
//	m, err := oidcsession.New(provider, oauth2.Config{
//		ClientID:     clientID,
//		ClientSecret: clientSecret,
//		RedirectURL:  "https://app.example.com/auth/callback",
//		Scopes:       []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
//	}, oidcsession.WithKeys(hashKey, blockKey))
//	if err != nil { ... }
//	mux.Handle("GET /auth/login", m.LoginHandler())
//	mux.Handle("GET /auth/callback", m.CallbackHandler())
//	mux.Handle("POST /auth/refresh", m.RefreshHandler())
//	mux.Handle("POST /auth/logout", m.LogoutHandler())
//	mux.Handle("/app/", m.Require()(pages))                       // refresh inline
//	mux.Handle("/api/", m.Require(oidcsession.TryRefresh())(api)) // 401 try_refresh
//	orders, _ := url.Parse("https://orders.internal/")
//	mux.Handle("/api/orders/", m.Require(oidcsession.TryRefresh())(http.StripPrefix("/api/orders",
//		m.Proxy(orders, oidcsession.TokenRequest{Resource: "https://orders.example.com/"}))))
//
// In a handler:
//
//	s, ok := oidcsession.FromContext(r.Context())
//	// s.Subject(), s.Claims(&v), s.AccessToken(), s.Expiry() ...
//
// Errors are sentinels and typed errors (ErrNoSession, ErrSessionExpired,
// *RefreshError with its RefreshClass, …) that callers inspect with
// errors.Is and errors.As; a refresh the provider refused (401) is never
// confused with a provider that is down (503). The package logs nothing
// unless given WithLogger, and no token or secret ever reaches a log line,
// an error string or the %v of a Session.
//
// Package oidcsessiontest is a real in-process OpenID provider for tests.
package oidcsession
