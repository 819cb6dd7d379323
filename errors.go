package oidcsession

import (
	"errors"
	"fmt"

	"golang.org/x/oauth2"
)

// Sentinel errors. Every error the package returns or hands to an error
// handler matches one of these with errors.Is, so callers branch on data and
// never on strings.
var (
	// ErrNoSession means the request carries no session cookie.
	ErrNoSession = errors.New("oidcsession: no session")
	// ErrInvalidSession means a session cookie is present but cannot be
	// trusted: tampered, truncated, sealed with an unknown key or malformed.
	ErrInvalidSession = errors.New("oidcsession: invalid session cookie")
	// ErrSessionExpired means the session has ended: its absolute or idle
	// lifetime passed, its access token expired with no refresh token, or
	// the provider refused the refresh token (a terminal RefreshError).
	ErrSessionExpired = errors.New("oidcsession: session expired")
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
	// ErrInvalidCallback means a request to the callback does not complete
	// a sign-in this browser started: no flow cookie for its state (never
	// started, expired, or already used, i.e. a replay), an iss that is not
	// the provider's (RFC 9207), no code, a code the token endpoint
	// refused, or an ID token that fails verification or carries another
	// flow's nonce.
	ErrInvalidCallback = errors.New("oidcsession: callback does not complete a sign-in in progress")
	// ErrAuthorizationFailed matches every *AuthorizationError: the
	// provider answered the authorization request with an error such as
	// access_denied.
	ErrAuthorizationFailed = errors.New("oidcsession: the provider refused the sign-in")
	// ErrProviderUnavailable means the provider could not be reached, or
	// answered with a server error, while completing a sign-in or fetching
	// userinfo. Trying again later may succeed.
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

// RefreshClass tells whether a failed refresh ended the session or may
// succeed when tried again.
type RefreshClass int

const (
	// RefreshTransient failures (network error, timeout, 5xx, 429,
	// temporarily_unavailable) keep the session; the client retries later.
	RefreshTransient RefreshClass = iota + 1
	// RefreshTerminal failures (any 400 or 401 from the token endpoint,
	// invalid_grant, invalid_client, a refreshed ID token that fails
	// verification) clear the session.
	RefreshTerminal
	// RefreshRejected failures come from RefreshOptions the provider refused
	// (invalid_scope, invalid_target): the refresh token was not spent and
	// the session is kept.
	RefreshRejected
)

// String returns "transient" or "terminal".
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
// response) or a network error.
type RefreshError struct {
	Class RefreshClass
	Err   error
}

// Error describes the failure without the provider's raw response body or
// any token: the class, then the token endpoint's status and OAuth error
// code, or the cause when the endpoint gave no answer.
func (e *RefreshError) Error() string {
	var re *oauth2.RetrieveError
	if errors.As(e.Err, &re) && re.Response != nil {
		msg := fmt.Sprintf("oidcsession: refresh failed (%s): token endpoint answered %d", e.Class, re.Response.StatusCode)
		if re.ErrorCode != "" {
			msg += " " + re.ErrorCode
		}
		return msg
	}
	return fmt.Sprintf("oidcsession: refresh failed (%s): %v", e.Class, e.Err)
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

// IsTransient reports whether err is a refresh failure that may succeed on a
// later try, so the session was kept.
func IsTransient(err error) bool {
	var re *RefreshError
	return errors.As(err, &re) && re.Class == RefreshTransient
}
