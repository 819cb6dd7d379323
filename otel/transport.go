package otel

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// The operations of provider calls (OperationKey).
const (
	opToken      = "token"
	opUserInfo   = "userinfo"
	opRevocation = "revocation"
	opJWKS       = "jwks"
	opOther      = "other"
)

// endpoints maps an endpoint's scheme, host and path (endpointKey) to its
// operation.
type endpoints map[string]string

// endpointsOf reads the provider's endpoints from its discovery document.
func endpointsOf(p *oidc.Provider) (endpoints, error) {
	var meta struct {
		UserInfo   string `json:"userinfo_endpoint"`
		Revocation string `json:"revocation_endpoint"`
		JWKS       string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("reading provider metadata: %w", err)
	}
	eps := endpoints{}
	for op, raw := range map[string]string{opToken: p.Endpoint().TokenURL, opUserInfo: meta.UserInfo, opRevocation: meta.Revocation, opJWKS: meta.JWKS} {
		// An endpoint that does not parse is never called successfully
		// either; its calls are simply named "other".
		if u, err := url.Parse(raw); raw != "" && err == nil {
			eps[endpointKey(u)] = op
		}
	}
	return eps, nil
}

func endpointKey(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + u.EscapedPath()
}

// transport is the RoundTripper of Instrumentation.HTTPClient: one client
// span and one oidcsession.provider.duration measurement per call. It
// never reads the answer's body, and of the request only the URL, the
// method and a token request's grant_type.
type transport struct {
	base      http.RoundTripper
	tracer    trace.Tracer
	propagate propagation.TextMapPropagator // nil: inject nothing
	endpoints endpoints
	duration  metric.Float64Histogram
}

// RoundTrip sends req through the base transport inside a span whose
// parent is the span in req's context (the request's, or for a detached
// grant the request that started it).
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	op, grant := t.classify(req)
	measured := []attribute.KeyValue{OperationKey.String(op)} // the histogram's; the span has more
	if grant != "" {
		measured = append(measured, GrantTypeKey.String(grant))
	}
	attrs := append(slices.Clone(measured), methodAttr(req.Method), semconv.URLFull(redactURL(req.URL)),
		semconv.ServerAddress(req.URL.Hostname()))
	if port := portOf(req.URL); port > 0 {
		attrs = append(attrs, semconv.ServerPort(port))
	}
	ctx, span := t.tracer.Start(req.Context(), spanName(op, grant, req.Method),
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	defer span.End()

	out := req.WithContext(ctx)
	if t.propagate != nil {
		out = req.Clone(ctx) // a RoundTripper must not change the caller's headers
		t.propagate.Inject(ctx, propagation.HeaderCarrier(out.Header))
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(out)
	took := time.Since(start).Seconds()

	errType := ""
	if err != nil {
		errType = errorWord(err)
		span.SetStatus(codes.Error, errType) // never err's text: it may echo the request
	} else {
		status := semconv.HTTPResponseStatusCode(resp.StatusCode)
		span.SetAttributes(status)
		measured = append(measured, status)
		if resp.StatusCode >= 400 {
			errType = strconv.Itoa(resp.StatusCode)
			span.SetStatus(codes.Error, "")
		}
	}
	if errType != "" {
		kv := semconv.ErrorTypeKey.String(errType)
		span.SetAttributes(kv)
		measured = append(measured, kv)
	}
	t.duration.Record(ctx, took, metric.WithAttributes(measured...))
	return resp, err
}

// classify names the call by its endpoint; a form POST to another URL
// that has a grant_type is a token request too (a TokenURL set by hand).
func (t *transport) classify(req *http.Request) (op, grant string) {
	op = t.endpoints[endpointKey(req.URL)]
	switch {
	case op == opToken:
		grant = grantType(req)
	case op == "" && req.Method == http.MethodPost:
		if grant = grantType(req); grant != "" {
			op = opToken
		}
	}
	if op == "" {
		op = opOther
	}
	return op, grant
}

// maxForm bounds how much of a token request's form is read for its
// grant_type; real ones, client assertions included, are a few KB.
const maxForm = 64 << 10

// grantType reads grant_type from a copy of a form body (req.GetBody),
// never from the body itself, and returns it if it is one of a few fixed
// words ("other" if not, "" without one). Nothing else of the form is
// kept.
func grantType(req *http.Request) string {
	if req.GetBody == nil {
		return ""
	}
	if ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		return ""
	}
	body, err := req.GetBody()
	if err != nil || body == nil {
		return ""
	}
	defer body.Close()
	form, err := io.ReadAll(io.LimitReader(body, maxForm))
	if err != nil {
		return ""
	}
	for len(form) > 0 {
		var pair []byte
		pair, form, _ = bytes.Cut(form, []byte("&"))
		k, v, _ := bytes.Cut(pair, []byte("="))
		if string(k) != "grant_type" {
			continue
		}
		switch g, _ := url.QueryUnescape(string(v)); g {
		case "authorization_code", "refresh_token", "client_credentials":
			return g
		}
		return "other"
	}
	return ""
}

// spanName names a provider call by what it is; calls to other URLs get
// the method alone, as the semantic conventions name HTTP client spans
// without a low-cardinality target.
func spanName(op, grant, method string) string {
	switch op {
	case opToken:
		if grant != "" {
			return "oidcsession.token " + grant
		}
		return "oidcsession.token"
	case opOther:
		if knownMethod(method) {
			return method
		}
		return "HTTP"
	}
	return "oidcsession." + op
}

func knownMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}

func methodAttr(m string) attribute.KeyValue {
	if m == "" {
		m = http.MethodGet
	}
	if !knownMethod(m) {
		m = "_OTHER"
	}
	return semconv.HTTPRequestMethodKey.String(m)
}

// redactURL keeps scheme, host and path: no user information, query or
// fragment.
func redactURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

// portOf is the URL's port, or the scheme's default.
func portOf(u *url.URL) int {
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return p
	}
	switch u.Scheme {
	case "https":
		return 443
	case "http":
		return 80
	}
	return 0
}

// errorWord names a transport failure in a fixed word (error.type).
func errorWord(err error) string {
	var ne net.Error
	var op *net.OpError
	var cert *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &cert):
		return "tls"
	case errors.As(err, &op) && op.Op == "dial":
		return "connect"
	case errors.As(err, &op):
		return "network"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_closed"
	}
	return semconv.ErrorTypeOther.Value.AsString()
}
