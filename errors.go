package oidcsession

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"

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
	// RefreshTerminal failures (a 400, 401 or 403 from the token endpoint,
	// invalid_grant, invalid_client, a refreshed ID token that fails
	// verification, a session too large to store) clear the session.
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
	// Err is the cause. Its own text may carry what a transport echoed of
	// the request; Error never prints it.
	Err error

	spent bool // the provider may have spent the refresh token
}

// Error describes the failure without any token, credential or response
// body: the class, then the token endpoint's status and OAuth error code,
// or the endpoint (without query) and the kind of network failure.
func (e *RefreshError) Error() string {
	prefix := "oidcsession: refresh failed (" + e.Class.String() + "): "
	var re *oauth2.RetrieveError
	var ce *callError
	switch {
	case errors.As(e.Err, &re) && re.Response != nil:
		msg := prefix + "token endpoint answered " + strconv.Itoa(re.Response.StatusCode)
		if re.ErrorCode != "" {
			msg += " " + oauthErrorCode(re.ErrorCode)
		}
		return msg
	case errors.As(e.Err, &ce):
		return prefix + ce.describe()
	case errors.Is(e.Err, context.DeadlineExceeded), errors.Is(e.Err, context.Canceled):
		return prefix + "the wait for the grant ended: " + failureKind(e.Err)
	case e.Err != nil:
		// Our own errors and go-oidc's verification errors carry no secret.
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

// IsTransient reports whether err is a refresh failure that may succeed on a
// later try, so the session was kept.
func IsTransient(err error) bool {
	var re *RefreshError
	return errors.As(err, &re) && re.Class == RefreshTransient
}

// callError is a request to the provider that got no answer. Its message
// names the endpoint without query and the kind of failure, never the
// cause's text: an HTTP client's error may echo the request, and with it
// a token or the client's credentials.
type callError struct {
	endpoint string
	err      error
}

func (e *callError) Error() string { return "oidcsession: " + e.describe() }

func (e *callError) Unwrap() error { return e.err }

// describe is the message without the package prefix.
func (e *callError) describe() string {
	return redactURL(e.endpoint) + " could not be reached: " + failureKind(e.err)
}

// redactURL keeps scheme, host and path.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the provider"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// failureKind names what went wrong on the wire in fixed words.
func failureKind(err error) string {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &op):
		return "network error (" + op.Op + ")"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	}
	return fmt.Sprintf("request failed (%T)", innermost(err))
}

// innermost unwraps err to its first cause.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
