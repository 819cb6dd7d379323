package otel_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	global "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
	"github.com/oidcsession/oidcsession/otel"
)

// TestTransport: the instrumented client names and describes calls it
// makes for anyone, to the provider's endpoints and elsewhere, and
// failures without an answer.
func TestTransport(t *testing.T) {
	a := newApp(t, appConfig{})
	tok, err := a.op.IssueTokens(oidcsessiontest.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.tap.addToken(tok)
	form := func(v url.Values) func() (io.Reader, string) {
		return func() (io.Reader, string) { return strings.NewReader(v.Encode()), "application/x-www-form-urlencoded" }
	}
	refused := closedAddr(t)
	silent := silentAddr(t)
	iss := a.op.Issuer()
	cases := []struct {
		name, method, url string
		body              func() (io.Reader, string)
		noGetBody         bool // the body is a reader net/http cannot copy
		auth              string
		timeout           time.Duration

		span, op, grant, fullURL, errType string
		status                            int
	}{
		{name: "jwks", method: "GET", url: iss + "/jwks",
			span: "oidcsession.jwks", op: "jwks", fullURL: iss + "/jwks", status: 200},
		{name: "other URL, query dropped", method: "GET", url: iss + "/.well-known/openid-configuration?access_token=" + tok.AccessToken,
			span: "GET", op: "other", fullURL: iss + "/.well-known/openid-configuration", status: 200},
		{name: "userinfo with a bearer token", method: "GET", url: iss + "/userinfo", auth: "Bearer " + tok.AccessToken,
			span: "oidcsession.userinfo", op: "userinfo", fullURL: iss + "/userinfo", status: 200},
		{name: "refresh grant", method: "POST", url: iss + "/token", auth: basic(a),
			body: form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}),
			span: "oidcsession.token refresh_token", op: "token", grant: "refresh_token", fullURL: iss + "/token", status: 200},
		{name: "unknown grant type", method: "POST", url: iss + "/token", auth: basic(a),
			body: form(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {"dc-secret-1"}}),
			span: "oidcsession.token other", op: "token", grant: "other", fullURL: iss + "/token", status: 400, errType: "400"},
		{name: "token request without a copy of its body", method: "POST", url: iss + "/token", noGetBody: true,
			body: form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-unknown-2"}}),
			span: "oidcsession.token", op: "token", fullURL: iss + "/token", status: 401, errType: "401"},
		{name: "a grant at another URL", method: "POST", url: iss + "/introspect",
			body: form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-unknown-3"}}),
			span: "oidcsession.token refresh_token", op: "token", grant: "refresh_token", fullURL: iss + "/introspect", status: 401, errType: "401"},
		{name: "revocation", method: "POST", url: iss + "/revoke", auth: basic(a),
			body: form(url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}),
			span: "oidcsession.revocation", op: "revocation", fullURL: iss + "/revoke", status: 200},
		{name: "connection refused", method: "POST", url: "http://" + refused + "/token?x=1",
			body: form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-unknown-4"}}),
			span: "oidcsession.token refresh_token", op: "token", grant: "refresh_token", fullURL: "http://" + refused + "/token", errType: "connect"},
		{name: "timeout", method: "GET", url: "http://user:pw-secret-5@" + silent + "/userinfo", timeout: 50 * time.Millisecond,
			span: "GET", op: "other", fullURL: "http://" + silent + "/userinfo", errType: "timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seen := len(a.tel.spans.Ended()) // kept for the harness's secret check
			ctx := context.Background()
			if c.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.timeout)
				defer cancel()
			}
			var body io.Reader
			var contentType string
			if c.body != nil {
				body, contentType = c.body()
				if c.noGetBody {
					body = io.MultiReader(body)
				}
			}
			req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
			if err != nil {
				t.Fatal(err)
			}
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			resp, err := a.inst.HTTPClient().Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != c.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
				}
			} else if c.status != 0 {
				t.Fatal(err)
			}
			spans := a.tel.spans.Ended()[seen:]
			if len(spans) != 1 {
				t.Fatalf("%d spans", len(spans))
			}
			s := spans[0]
			if s.Name() != c.span || s.SpanKind() != trace.SpanKindClient {
				t.Fatalf("span %q (%v), want %q", s.Name(), s.SpanKind(), c.span)
			}
			got := attrs(s)
			want := map[attribute.Key]attribute.Value{
				"http.request.method":            attribute.StringValue(c.method),
				"url.full":                       attribute.StringValue(c.fullURL),
				"oidcsession.provider.operation": attribute.StringValue(c.op),
			}
			if c.grant != "" {
				want["oidcsession.grant_type"] = attribute.StringValue(c.grant)
			}
			if c.status != 0 {
				want["http.response.status_code"] = attribute.IntValue(c.status)
			}
			if c.errType != "" {
				want["error.type"] = attribute.StringValue(c.errType)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k].String(), v.String())
				}
			}
			for _, k := range []attribute.Key{"oidcsession.grant_type", "http.response.status_code", "error.type"} {
				if _, wanted := want[k]; !wanted && got[k].Type() != attribute.EMPTY {
					t.Errorf("unexpected %s = %q", k, got[k].String())
				}
			}
			if (c.errType != "") != (s.Status().Code == codes.Error) {
				t.Errorf("status %v with error.type %q", s.Status(), c.errType)
			}
			if c.status == 0 && s.Status().Description != c.errType {
				t.Errorf("status description %q, want the fixed word %q", s.Status().Description, c.errType)
			}
			if _, ok := got["server.address"]; !ok {
				t.Error("no server.address")
			}
			if _, ok := got["server.port"]; !ok {
				t.Error("no server.port")
			}
		})
	}
	// The tap only sees calls that left; the secrets of these requests
	// must not be in the telemetry either.
	for _, s := range []string{"dc-secret-1", "rt-unknown-2", "rt-unknown-3", "rt-unknown-4", "pw-secret-5"} {
		a.tap.add("test secret", s)
	}
}

// basic is the client's Authorization header (client_secret_basic).
func basic(a *app) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(url.QueryEscape(a.op.ClientID()), url.QueryEscape(a.op.ClientSecret()))
	return r.Header.Get("Authorization")
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentAddr accepts connections and never answers.
func silentAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return l.Addr().String()
}

// TestPropagation: with WithPropagators the provider receives the call's
// trace context; by default it receives none. The caller's request is
// never changed.
func TestPropagation(t *testing.T) {
	for _, propagate := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "WithPropagators"}[propagate], func(t *testing.T) {
			var opts []otel.Option
			if propagate {
				opts = append(opts, otel.WithPropagators(propagation.TraceContext{}))
			}
			a := newApp(t, appConfig{inst: opts})
			req, _ := http.NewRequest(http.MethodGet, a.op.Issuer()+"/jwks", nil)
			resp, err := a.inst.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if len(req.Header) != 0 {
				t.Fatalf("the caller's request was changed: %v", req.Header)
			}
			seen := a.tap.seenHeaders()
			span := a.spansNamed("oidcsession.jwks")
			if len(seen) != 1 || len(span) != 1 {
				t.Fatalf("%d calls, %d spans", len(seen), len(span))
			}
			tp := seen[0].Get("Traceparent")
			if propagate != (tp != "") || propagate && !strings.Contains(tp, span[0].SpanContext().SpanID().String()) {
				t.Fatalf("traceparent %q; span %v", tp, span[0].SpanContext())
			}
		})
	}
}

// TestGlobalProviders: without WithMeterProvider and WithTracerProvider
// the global ones are used.
func TestGlobalProviders(t *testing.T) {
	a := newApp(t, appConfig{})
	tel := newTelemetry(t)
	oldMP, oldTP := global.GetMeterProvider(), global.GetTracerProvider()
	global.SetMeterProvider(tel.mp)
	global.SetTracerProvider(tel.tp)
	t.Cleanup(func() { global.SetMeterProvider(oldMP); global.SetTracerProvider(oldTP) })

	inst, err := otel.New(discover(t, a.op))
	if err != nil {
		t.Fatal(err)
	}
	inst.OnEvent(context.Background(), oidcsession.Event{Kind: oidcsession.EventSignOut})
	resp, err := inst.HTTPClient().Get(a.op.Issuer() + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if values, _ := flatten(tel.collect(t)); values[signOuts] != 1 {
		t.Fatalf("global MeterProvider got %v", values)
	}
	if n := len(tel.spans.Ended()); n != 1 {
		t.Fatalf("global TracerProvider got %d spans", n)
	}
}

// TestNew: bad input is an error at setup.
func TestNew(t *testing.T) {
	a := newApp(t, appConfig{})
	if _, err := otel.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := otel.New(discover(t, a.op), otel.WithHTTPClient(nil)); err == nil {
		t.Error("WithHTTPClient(nil) accepted")
	}
	// The given client's settings are kept; its transport is wrapped.
	base := &http.Client{Timeout: 7 * time.Second}
	inst, err := otel.New(discover(t, a.op), otel.WithHTTPClient(base))
	if err != nil {
		t.Fatal(err)
	}
	if hc := inst.HTTPClient(); hc == base || hc.Timeout != base.Timeout || hc.Transport == nil || base.Transport != nil {
		t.Errorf("client %+v from %+v", hc, base)
	}
}

// TestEventClass: a failure class that is not a fixed word is reported as
// _OTHER, so no free text reaches an attribute.
func TestEventClass(t *testing.T) {
	a := newApp(t, appConfig{})
	for _, class := range []string{"", "Bearer eyJhbGciOi", strings.Repeat("a", 33)} {
		a.inst.OnEvent(context.Background(), oidcsession.Event{Kind: oidcsession.EventRefresh, Err: errors.New("x"), Class: class})
	}
	a.inst.OnEvent(context.Background(), oidcsession.Event{Kind: oidcsession.EventRefresh, Err: errors.New("x"), Class: "terminal_2"})
	got := a.metrics()
	if got[failed("oidcsession.refresh.grants", "_OTHER")] != 3 || got[failed("oidcsession.refresh.grants", "terminal_2")] != 1 {
		t.Fatalf("%s", describe(got))
	}
}

// TestLeaks: the harness's secret check finds a secret wherever it is.
func TestLeaks(t *testing.T) {
	tel := newTelemetry(t)
	secret := "at-0123456789"
	_, span := tel.tp.Tracer("t").Start(context.Background(), "name")
	span.SetAttributes(attribute.String("url.full", "https://op/x?access_token="+secret))
	span.AddEvent("e", trace.WithAttributes(attribute.String("k", secret)))
	span.SetStatus(codes.Error, "failed with "+secret)
	span.End()
	_, named := tel.tp.Tracer("t").Start(context.Background(), "refresh "+secret)
	named.End()
	counter, _ := tel.mp.Meter("t").Int64Counter("c")
	counter.Add(context.Background(), 1, metric.WithAttributes(semconv.ErrorTypeKey.String(secret)))
	got := leaks(map[string]string{secret: "access_token"}, tel.spans.Ended(), tel.collect(t))
	if len(got) != 5 {
		t.Fatalf("found %d leaks, want 5: %q", len(got), got)
	}
	if got := leaks(map[string]string{"unused-secret": "x"}, tel.spans.Ended(), metricdata.ResourceMetrics{}); len(got) != 0 {
		t.Fatalf("false leaks %q", got)
	}
}
