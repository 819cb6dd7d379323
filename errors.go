package oidcsession

import (
	"errors"

	"github.com/oidcsession/oidcsession/internal/provider"
)

// Sentinel errors. Every error the package returns or hands to an error
// handler matches one of these with errors.Is, so callers branch on data
// and never on strings; respond.go says which HTTP answer each one gets.
var (
	// ErrNoSession means the request carries no session cookie.
	ErrNoSession = errors.New("oidcsession: no session")
	// ErrInvalidSession means a session cookie is present but cannot be
	// trusted: tampered, truncated, sealed with an unknown key, malformed,
	// or naming a server-side session that does not exist.
	ErrInvalidSession = errors.New("oidcsession: invalid session cookie")
	// ErrSessionExpired means the session has ended: its absolute or idle
	// lifetime passed, its access token expired with no refresh token, it
	// was signed out or revoked, or the provider refused the refresh token
	// (a terminal RefreshError).
	ErrSessionExpired = errors.New("oidcsession: session expired")
	// ErrTokenReuse means a server-side session's cookie is older than the
	// session by more than the grace window: a copy of it is being
	// replayed, so the session was revoked (SuperTokens'
	// TOKEN_THEFT_DETECTED). It also matches ErrSessionExpired.
	ErrTokenReuse = errors.New("oidcsession: session cookie reused after rotation")
	// ErrAccessTokenExpired is what Require(TryRefresh()) reports when the
	// access token has expired: the client should call the refresh handler
	// and retry.
	ErrAccessTokenExpired = errors.New("oidcsession: access token expired")
	// ErrRefreshFailed matches every *RefreshError.
	ErrRefreshFailed = errors.New("oidcsession: refresh failed")
	// ErrIDTokenMismatch means an ID token returned by a refresh does not
	// keep the iss, sub and aud of the session's original one (OIDC Core
	// 12.2).
	ErrIDTokenMismatch = errors.New("oidcsession: refreshed ID token does not match the session")
	// ErrCSRF means a state-changing request failed the cross-origin check
	// or lacks the required request header.
	ErrCSRF = errors.New("oidcsession: cross-site request refused")
	// ErrMethodNotAllowed means a handler was called with the wrong method.
	ErrMethodNotAllowed = errors.New("oidcsession: method not allowed")
	// ErrNoIDToken means a token response that must start a session has no
	// id_token.
	ErrNoIDToken = errors.New("oidcsession: token response has no id_token")
	// ErrSessionTooLarge means a session does not fit in the configured
	// maximum number of cookie chunks.
	ErrSessionTooLarge = errors.New("oidcsession: session too large for its cookies")
	// ErrStoreUnavailable means the session store or coordinator failed:
	// the session is kept and the request may be tried again.
	ErrStoreUnavailable = errors.New("oidcsession: session store unavailable")

	// ErrInvalidCallback means a request to the callback does not complete
	// a sign-in this browser started: no flow cookie for its state (never
	// started, expired, already used, or sealed with a key that is gone),
	// an iss that is not the provider's (RFC 9207), no code, a code the
	// token endpoint refused, or an ID token that fails verification or
	// carries another flow's nonce.
	ErrInvalidCallback = errors.New("oidcsession: callback does not complete a sign-in in progress")
	// ErrAuthorizationFailed means the provider answered the authorization
	// request with an error such as access_denied.
	ErrAuthorizationFailed = errors.New("oidcsession: the provider refused the sign-in")
	// ErrProviderUnavailable means the provider could not be reached,
	// answered with a server error, or sent an unusable answer while
	// completing a sign-in or fetching userinfo. Trying again later may
	// succeed.
	ErrProviderUnavailable = errors.New("oidcsession: identity provider unavailable")
	// ErrUserInfo means the userinfo endpoint could not be used: the
	// provider has none, refused the access token, or sent something that
	// is not a JSON object of claims.
	ErrUserInfo = errors.New("oidcsession: userinfo request failed")
	// ErrUserInfoMismatch means the userinfo endpoint answered for another
	// subject than the session's (OIDC Core 5.3.2); its claims are not
	// stored.
	ErrUserInfoMismatch = errors.New("oidcsession: userinfo sub does not match the session")
)

// ProviderError is a failed step of sign-in, sign-out or userinfo: the
// provider refused or was unreachable, or the browser brought back a
// callback that completes no sign-in. It matches its Kind with errors.Is
// and unwraps to its cause (an *oauth2.RetrieveError for a refused code
// exchange, a network error, …).
type ProviderError struct {
	// Kind is ErrInvalidCallback, ErrAuthorizationFailed,
	// ErrProviderUnavailable, ErrUserInfo or ErrUserInfoMismatch.
	Kind error
	// Code is the OAuth error code: the provider's (only a plain one:
	// letters, digits, "_", "-", "."), or this package's for its own
	// checks ("invalid_request"); "" when there is none.
	Code string
	// Status is the HTTP status of the provider's answer; 0 when it did
	// not answer or was not asked.
	Status int
	// Reason says what went wrong in words safe to show a user and to log.
	Reason string
	// Description is the provider's error_description. Anyone can put
	// text in a callback URL, so it is never shown or logged by the
	// package.
	Description string
	// Err is the cause.
	Err error

	class string // for the operator's log: refused, unavailable, authorization, invalid_id_token, invalid_callback
}

// Error names the kind and the reason, never the description or cause.
func (e *ProviderError) Error() string { return e.Kind.Error() + ": " + e.Reason }

// Is matches the error's Kind.
func (e *ProviderError) Is(target error) bool { return target == e.Kind }

// Unwrap returns the cause.
func (e *ProviderError) Unwrap() error { return e.Err }

// RefreshClass tells whether a failed refresh ended the session or may
// succeed when tried again.
type RefreshClass int

const (
	// RefreshTransient failures (network error, timeout, 5xx, 429,
	// temporarily_unavailable, a store that is down) keep the session;
	// the client retries later.
	RefreshTransient RefreshClass = iota + 1
	// RefreshTerminal failures (a 400, 401 or 403 from the token endpoint,
	// invalid_grant, invalid_client, an unusable success answer, a
	// refreshed ID token that fails verification, a session too large to
	// store) clear the session.
	RefreshTerminal
	// RefreshRejected failures come from RefreshOptions the provider
	// refused (invalid_scope, invalid_target): the session is kept. After
	// invalid_target the provider may already have spent the refresh token
	// (oidc-provider does), so the kept session has none and lasts until
	// its access token expires.
	RefreshRejected
)

// String returns "transient", "terminal" or "rejected".
func (c RefreshClass) String() string {
	switch c {
	case RefreshTransient:
		return "transient"
	case RefreshTerminal:
		return "terminal"
	case RefreshRejected:
		return "rejected"
	}
	return "unknown"
}

// RefreshError is a failed refresh-token grant. It unwraps to the cause, so
// errors.As reaches *oauth2.RetrieveError (with its ErrorCode and HTTP
// response), a net.Error, or *oidc.TokenExpiredError.
type RefreshError struct {
	// Class says what became of the session.
	Class RefreshClass
	// Err is the cause. Its own text is never printed by Error: a
	// transport's error may echo the request.
	Err error

	spent bool // the provider may have spent the refresh token
}

// Error describes the failure without any token, credential or response
// body: the class, then the token endpoint's status and OAuth error code,
// or the endpoint (without query) and the kind of network failure.
func (e *RefreshError) Error() string {
	prefix := "oidcsession: refresh failed (" + e.Class.String() + "): "
	var pe *provider.Error
	switch {
	case errors.As(e.Err, &pe):
		return prefix + pe.Error()
	case e.Err != nil:
		// The package's own errors and go-oidc's verification errors
		// carry no secret.
		return prefix + e.Err.Error()
	}
	return prefix + "unknown cause"
}

// Unwrap returns the cause.
func (e *RefreshError) Unwrap() error { return e.Err }

// Is makes every RefreshError match ErrRefreshFailed, and terminal ones
// match ErrSessionExpired too.
func (e *RefreshError) Is(target error) bool {
	switch target {
	case ErrRefreshFailed:
		return true
	case ErrSessionExpired:
		return e.Class == RefreshTerminal
	}
	return false
}

// IsTransient reports whether err is a refresh failure that may succeed on
// a later try, so the session was kept.
func IsTransient(err error) bool {
	var re *RefreshError
	return errors.As(err, &re) && re.Class == RefreshTransient
}

// reuseError is ErrTokenReuse, which also ends the session.
type reuseError struct{ subject, sessionID string }

func (e *reuseError) Error() string { return ErrTokenReuse.Error() }

func (e *reuseError) Is(target error) bool {
	return target == ErrTokenReuse || target == ErrSessionExpired
}
