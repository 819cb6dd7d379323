package oidcsession

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
)

// ProxyOption configures one Proxy.
type ProxyOption func(*proxyConfig)

type proxyConfig struct {
	transport http.RoundTripper
}

// ProxyTransport sends the proxy's requests through rt (mutual TLS to
// the API, say). Default: http.DefaultTransport.
func ProxyTransport(rt http.RoundTripper) ProxyOption {
	return func(c *proxyConfig) {
		if rt != nil {
			c.transport = rt
		}
	}
}

// Proxy returns a handler that forwards the browser's requests to an API
// with the session's access token for req: the backend-for-frontend
// pattern, where tokens never reach the browser. Mount it behind
// Require (usually with TryRefresh) and http.StripPrefix; the request's
// path is appended to upstream's.
//
// What goes up: the request with its method, path, query and body, and
// X-Forwarded-For, -Host and -Proto; without the browser's Cookie,
// Authorization and X-Session-Refresh headers; with Authorization set to
// the token. A request that is not GET, HEAD or OPTIONS must pass the
// refresh endpoint's CSRF defence (CheckCSRF: same origin by
// Sec-Fetch-Site or Origin, and X-Session-Refresh: 1), else it is refused
// 403 csrf before anything is sent. What comes down: the API's answer,
// streamed as it comes, without Set-Cookie (an API must not set cookies on
// the application's origin).
//
// A token the API refuses with 401 and WWW-Authenticate
// error="invalid_token" is renewed once; a request whose body is at most
// 64 KiB is then sent again, a larger or streamed one is answered 401
// try_refresh, so the browser helper retries it with the new token. A
// token that cannot be had is answered like a session error (see
// WriteError); an API that cannot be reached is 502 bad_gateway.
func (m *Middleware) Proxy(upstream *url.URL, req TokenRequest, opts ...ProxyOption) http.Handler {
	c := proxyConfig{transport: http.DefaultTransport}
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	p := &proxy{m: m, req: req}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
			h := pr.Out.Header
			h.Del("Cookie")
			h.Del("Authorization")
			h.Del(CSRFHeader)
		},
		Transport: proxyTransport{c.transport},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Del("Set-Cookie")
			return nil
		},
		ErrorHandler: p.failed,
	}
	return p
}

type proxy struct {
	m   *Middleware
	req TokenRequest
	rp  *httputil.ReverseProxy
}

// proxyCallKey carries the apiCall of one proxied request to the
// transport, which needs the browser's request and response writer.
type proxyCallKey struct{}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !safeMethod(r.Method) {
		if err := p.m.checkCSRF(r); err != nil {
			p.m.WriteError(w, r, err)
			return
		}
	}
	if err := bufferBody(r); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{"invalid_request", "the request body could not be read"})
		return
	}
	r = withSessionCell(r)
	call := &apiCall{m: p.m, w: w, r: r, req: p.req, tryRefresh: true}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), proxyCallKey{}, call)))
}

// safeMethod reports the methods that must not change anything (RFC 9110
// section 9.2.1), which need no CSRF defence.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// failed answers what kept the request from the API: the session's
// errors as the package answers them, anything else as 502.
func (p *proxy) failed(w http.ResponseWriter, r *http.Request, err error) {
	var te *tokenError
	if errors.As(err, &te) {
		p.m.WriteError(w, r, te.err)
		return
	}
	if r.Context().Err() == nil {
		p.m.cfg.logger.LogAttrs(r.Context(), slog.LevelWarn, "oidcsession: proxy: the API could not be reached",
			slog.String("error", err.Error()))
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusBadGateway, errorBody{"bad_gateway", "the API could not be reached"})
}

// proxyTransport sends each proxied request as its apiCall.
type proxyTransport struct{ base http.RoundTripper }

func (t proxyTransport) RoundTrip(out *http.Request) (*http.Response, error) {
	call, ok := out.Context().Value(proxyCallKey{}).(*apiCall)
	if !ok {
		return nil, errors.New("oidcsession: proxy: a request without its session")
	}
	return call.roundTrip(t.base, out)
}
