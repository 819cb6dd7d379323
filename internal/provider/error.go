package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
)

// Class is the one classification of a failed call to the provider.
type Class int

const (
	// Unavailable: no answer (network, timeout), a 5xx, a 429, or
	// temporarily_unavailable. Trying again later may succeed.
	Unavailable Class = iota + 1
	// Refused: the provider answered the request with an error (any other
	// status, an OAuth error code).
	Refused
	// Unusable: the provider answered with success, but with something
	// that cannot be used. It did act on the request.
	Unusable
)

// Error is a failed call to the provider. Its message names the endpoint
// (without query), the status and the OAuth error code, or the kind of
// network failure, and never the text of the cause: a provider's body is
// untrusted, and an HTTP client's error may echo the request, with a token
// or the client's credentials.
type Error struct {
	Op          string // "token endpoint", "revocation endpoint", "userinfo endpoint"
	Endpoint    string
	Status      int    // the answer's HTTP status; 0 without an answer
	Code        string // the OAuth error code, "" if none or not plain
	Description string // the provider's error_description: untrusted, never shown
	Err         error  // the cause: *oauth2.RetrieveError, a transport error, …
	// Sent: without an answer, whether the request may have reached the
	// provider (it was written, or it cannot be known). Such a request may
	// have been carried out, its answer lost.
	Sent     bool
	unusable bool
}

// Class classifies the failure.
func (e *Error) Class() Class {
	switch {
	case e.unusable:
		return Unusable
	case e.Status == 0, e.Status >= 500, e.Status == 429, e.Code == "temporarily_unavailable":
		return Unavailable
	}
	return Refused
}

// Answered reports whether the provider answered at all.
func (e *Error) Answered() bool { return e.Status != 0 }

// MayHaveActed reports whether the provider may have carried out the
// request although no answer of its own came back: it was sent, and then
// the connection failed or the time ran out; or a gateway in front of the
// provider answered 502 or 504 without an OAuth error, after it may have
// passed the request on.
func (e *Error) MayHaveActed() bool {
	switch {
	case !e.Answered():
		return e.Sent
	case e.Status == 502 || e.Status == 504:
		return e.Code == ""
	}
	return false
}

func (e *Error) Error() string {
	at := e.Op + " " + redact(e.Endpoint)
	switch {
	case e.unusable:
		return fmt.Sprintf("%s sent an unusable answer (%s)", at, e.causeKind())
	case e.Status != 0:
		msg := at + " answered " + strconv.Itoa(e.Status)
		if e.Code != "" {
			msg += " " + e.Code
		}
		return msg
	}
	return at + " could not be reached: " + e.causeKind()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// causeKind names what went wrong in fixed words.
func (e *Error) causeKind() string {
	if e.unusable && e.Err != nil {
		return e.Err.Error() // our own words
	}
	var ne net.Error
	var op *net.OpError
	switch err := e.Err; {
	case err == nil:
		return "unknown"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &op):
		return "network error (" + op.Op + ")"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	}
	return fmt.Sprintf("request failed (%T)", innermost(e.Err))
}

// redact keeps scheme, host and path.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
