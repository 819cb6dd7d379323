package oidcsession

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client returns an HTTP client for calling an API on the user's behalf
// during the request r: every request it sends carries the session's
// access token for req (see Token), and an answer of 401 with
// WWW-Authenticate error="invalid_token" (RFC 6750 section 3.1) to a token
// the session kept gets one more try with a new token, if the request's
// body can be sent again. Use it for the rest of the handler, before
// writing the response body: it may write the session's cookies to w. It
// is safe for concurrent use; the calls share one session.
func (m *Middleware) Client(w http.ResponseWriter, r *http.Request, req TokenRequest) *http.Client {
	return &http.Client{Transport: m.Transport(w, r, req, nil)}
}

// Transport is Client's RoundTripper on top of base (nil:
// http.DefaultTransport), for clients of one's own.
func (m *Middleware) Transport(w http.ResponseWriter, r *http.Request, req TokenRequest, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &bearerTransport{call: apiCall{m: m, w: w, r: withSessionCell(r), req: req}, base: base}
}

// bearerTransport adds the session's token to requests.
type bearerTransport struct {
	call apiCall
	base http.RoundTripper
}

func (t *bearerTransport) RoundTrip(out *http.Request) (*http.Response, error) {
	return t.call.roundTrip(t.base, out)
}

// apiCall is a call to an API on behalf of one browser request's session:
// the one place that presents a session's token to an API and decides
// whether a refused token is replaced.
type apiCall struct {
	m   *Middleware
	w   http.ResponseWriter
	r   *http.Request
	req TokenRequest
	// tryRefresh answers a refused token that cannot be retried (its
	// body is gone) with ErrAccessTokenExpired, once a new one is ready
	// (the proxy: the browser retries); else the API's answer stands.
	tryRefresh bool
}

// tokenError is a failure to obtain the token, before any API was called;
// the proxy answers it as the package answers session errors.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// roundTrip sends out through base with the session's token. A token the
// session kept that the API refuses as invalid_token is renewed once, and
// out is sent once more if its body can be replayed; a token obtained for
// this very call is not renewed again (the API refuses it for a reason a
// new one would not change), so a call costs at most one extra grant and
// never loops.
func (c *apiCall) roundTrip(base http.RoundTripper, out *http.Request) (*http.Response, error) {
	tok, fresh, err := c.m.token(c.w, c.r, c.req, "")
	if err != nil {
		return nil, &tokenError{err}
	}
	resp, err := base.RoundTrip(withBearer(out, tok.Type(), tok.AccessToken))
	if err != nil || fresh || !invalidToken(resp) {
		return resp, err
	}
	next, _, terr := c.m.token(c.w, c.r, c.req, tok.AccessToken)
	switch {
	case terr != nil || next.AccessToken == tok.AccessToken:
		return resp, nil // the API's refusal stands
	case !replayable(out) && !c.tryRefresh:
		return resp, nil // the next call has the new token
	case !replayable(out):
		drain(resp)
		return nil, &tokenError{fmt.Errorf("%w: the API refused it; a new one is ready", ErrAccessTokenExpired)}
	}
	drain(resp)
	if out, err = rewind(out); err != nil {
		return nil, err
	}
	return base.RoundTrip(withBearer(out, next.Type(), next.AccessToken))
}

// withBearer is a copy of out with the token in Authorization, as a
// RoundTripper must not change its request.
func withBearer(out *http.Request, typ, token string) *http.Request {
	o := out.Clone(out.Context())
	o.Header.Set("Authorization", typ+" "+token)
	return o
}

// invalidToken reports whether resp refuses the token itself (RFC 6750
// section 3.1), rather than the request or its scope.
func invalidToken(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if strings.Contains(v, `error="invalid_token"`) {
			return true
		}
	}
	return false
}

func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}

// rewind returns r with a fresh copy of its body.
func rewind(r *http.Request) (*http.Request, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return r, nil
	}
	body, err := r.GetBody()
	if err != nil {
		return nil, fmt.Errorf("oidcsession: replaying the request body: %w", err)
	}
	o := r.Clone(r.Context())
	o.Body = body
	return o, nil
}

// drain reads a little of a discarded response so its connection can be
// reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	_ = resp.Body.Close()
}

// maxReplayBody is the largest request body the proxy keeps in memory so
// that a request can be sent again with a renewed token.
const maxReplayBody = 64 << 10

// bufferBody makes r's body replayable when it is small and its length is
// known; larger or streamed bodies are forwarded as they come.
func bufferBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength <= 0 || r.ContentLength > maxReplayBody {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, r.ContentLength))
	if err != nil {
		return fmt.Errorf("oidcsession: reading the request body: %w", err)
	}
	if int64(len(b)) != r.ContentLength {
		return errors.New("oidcsession: the request body is shorter than its Content-Length")
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return nil
}
