// Package provider makes the package's calls to the OpenID provider — the
// token endpoint (code exchange, refresh), revocation (RFC 7009) and
// userinfo — with the client's authentication, and classifies every
// failure one way (Error.Class).
package provider

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Client calls one provider for one client. It is immutable and safe for
// concurrent use.
type Client struct {
	ClientID      string
	Secret        string
	Method        string        // client_secret_basic, client_secret_post, none or private_key_jwt
	Key           crypto.Signer // private_key_jwt only
	KeyID         string
	Alg           string
	TokenURL      string
	RevocationURL string
	UserInfoURL   string
	HTTP          *http.Client
	Now           func() time.Time
}

// The endpoints, as Error names them.
const (
	opToken      = "token endpoint"
	opRevocation = "revocation endpoint"
	opUserInfo   = "userinfo endpoint"
)

// maxAnswer bounds how much of any answer is read.
const maxAnswer = 1 << 20

// post sends form to endpoint with the client's authentication and reads
// the answer. Every request is sent exactly once: there is no retry, with
// another authentication method or otherwise, since a refresh token
// presented twice trips the provider's reuse detection.
func (c *Client) post(ctx context.Context, op, endpoint string, form url.Values) (*http.Response, []byte, error) {
	switch c.Method {
	case "client_secret_post":
		form.Set("client_id", c.ClientID)
		form.Set("client_secret", c.Secret)
	case "none":
		form.Set("client_id", c.ClientID)
	case "private_key_jwt":
		assertion, err := c.assertion()
		if err != nil {
			return nil, nil, &Error{Op: op, Endpoint: endpoint, Err: err}
		}
		form.Set("client_id", c.ClientID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, &Error{Op: op, Endpoint: endpoint, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.Method == "client_secret_basic" {
		// RFC 6749 section 2.3.1: form-encode both parts before Basic.
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.Secret))
	}
	return c.do(op, endpoint, req)
}

// do sends req and reads at most maxAnswer bytes of the answer. A failure
// without an answer records whether the request may have reached the
// provider (Error.Sent).
func (c *Client) do(op, endpoint string, req *http.Request) (*http.Response, []byte, error) {
	if err := req.Context().Err(); err != nil {
		return nil, nil, &Error{Op: op, Endpoint: endpoint, Err: err} // never sent
	}
	var t sendTrace
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), t.hooks()))
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, nil, &Error{Op: op, Endpoint: endpoint, Err: err, Sent: t.maySent()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, nil, &Error{Op: op, Endpoint: endpoint, Err: err, Sent: true}
	}
	if len(body) > maxAnswer {
		return nil, nil, &Error{Op: op, Endpoint: endpoint, Status: resp.StatusCode, unusable: true, Err: fmt.Errorf("answer over %d bytes", maxAnswer)}
	}
	return resp, body, nil
}

// Revoke revokes token at the revocation endpoint (RFC 7009); hint is
// "refresh_token" or "access_token".
func (c *Client) Revoke(ctx context.Context, token, hint string) error {
	resp, body, err := c.post(ctx, opRevocation, c.RevocationURL, url.Values{"token": {token}, "token_type_hint": {hint}})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return answerError(opRevocation, c.RevocationURL, resp, body)
	}
	return nil
}

// sendTrace tells a request that never left (no connection: a dial, TLS
// or proxy failure) from one that may have reached the provider: once the
// transport has a connection, any byte may be on its way (HTTP/2 writes
// from its own goroutine, and a timeout does not wait for it). Without the
// transport's trace events (a RoundTripper not built on http.Transport)
// it cannot tell, and says the request may have been sent.
type sendTrace struct {
	traced atomic.Bool // the transport reported looking for a connection
	conn   atomic.Bool // it got one
}

func (t *sendTrace) hooks() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { t.traced.Store(true) },
		GotConn: func(httptrace.GotConnInfo) { t.conn.Store(true) },
	}
}

func (t *sendTrace) maySent() bool { return !t.traced.Load() || t.conn.Load() }
