package otel_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/oidcsession/oidcsession"
)

// attrs returns a span's attributes by key.
func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	out := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value
	}
	return out
}

// TestSpans: each provider call the Middleware makes is one client span,
// named by what it is, child of the span of the request that caused it
// (also for a refresh grant, which runs detached from the request's
// cancellation), with the HTTP client attributes of the semantic
// conventions and the endpoint without query; a failed call is an error
// span with its error.type. The harness checks that no secret is in any
// of them.
func TestSpans(t *testing.T) {
	a := newApp(t, appConfig{})
	a.signIn()
	a.clock.Advance(6 * time.Minute)
	a.get("/app")
	a.clock.Advance(6 * time.Minute)
	a.op.FailNextRefreshes(1, http.StatusServiceUnavailable, "temporarily_unavailable")
	a.get("/app")
	a.signOut()

	iss, _ := url.Parse(a.op.Issuer())
	port, _ := strconv.Atoi(iss.Port())
	// call is one span: the request span it belongs to, and its status.
	type call struct {
		parent string
		status int
	}
	cases := []struct {
		name, method, path, op, grant string
		calls                         []call // in the order they ended
	}{
		{"oidcsession.token authorization_code", "POST", "/token", "token", "authorization_code", []call{{"app /auth/callback", 200}}},
		{"oidcsession.userinfo", "GET", "/userinfo", "userinfo", "", []call{{"app /auth/callback", 200}, {"app /app", 200}}},
		{"oidcsession.token refresh_token", "POST", "/token", "token", "refresh_token", []call{{"app /app", 200}, {"app /app", 503}}},
		{"oidcsession.revocation", "POST", "/revoke", "revocation", "", []call{{"app /auth/logout", 200}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spans := a.spansNamed(c.name)
			if len(spans) != len(c.calls) {
				t.Fatalf("%d spans, want %d", len(spans), len(c.calls))
			}
			for i, s := range spans {
				status := c.calls[i].status
				if s.SpanKind() != trace.SpanKindClient {
					t.Errorf("kind %v", s.SpanKind())
				}
				if !hasParent(s, a.spansNamed(c.calls[i].parent)) {
					t.Errorf("span %d: parent %v is not a %q span", i, s.Parent().SpanID(), c.calls[i].parent)
				}
				got := attrs(s)
				want := map[attribute.Key]attribute.Value{
					"http.request.method":            attribute.StringValue(c.method),
					"url.full":                       attribute.StringValue(a.op.Issuer() + c.path),
					"server.address":                 attribute.StringValue(iss.Hostname()),
					"server.port":                    attribute.IntValue(port),
					"http.response.status_code":      attribute.IntValue(status),
					"oidcsession.provider.operation": attribute.StringValue(c.op),
				}
				if c.grant != "" {
					want["oidcsession.grant_type"] = attribute.StringValue(c.grant)
				}
				if status >= 400 {
					want["error.type"] = attribute.StringValue(strconv.Itoa(status))
				}
				if len(got) != len(want) {
					t.Errorf("span %d: attributes %v, want %v", i, got, want)
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("span %d: %s = %v, want %v", i, k, got[k].String(), v.String())
					}
				}
				wantCode := codes.Unset
				if status >= 400 {
					wantCode = codes.Error
				}
				if s.Status().Code != wantCode {
					t.Errorf("span %d: status %v, want %v", i, s.Status(), wantCode)
				}
			}
		})
	}
}

// hasParent reports whether s is a child of one of parents, in its trace.
func hasParent(s sdktrace.ReadOnlySpan, parents []sdktrace.ReadOnlySpan) bool {
	for _, p := range parents {
		if s.Parent().SpanID() == p.SpanContext().SpanID() && s.SpanContext().TraceID() == p.SpanContext().TraceID() {
			return true
		}
	}
	return false
}

// TestSpansWithoutParent: a provider call outside any traced request (a
// background job's RefreshSession) starts a trace of its own.
func TestSpansWithoutParent(t *testing.T) {
	a := newApp(t, appConfig{})
	if s := a.get("/test/signin"); s != http.StatusNoContent {
		t.Fatalf("sign-in: %d", s)
	}
	a.clock.Advance(6 * time.Minute)
	r := httptest.NewRequest(http.MethodGet, "/", nil) // context.Background: no span
	r.Header.Set("Cookie", a.cookieHeader())
	if _, err := a.m.RefreshSession(httptest.NewRecorder(), r, oidcsession.RefreshOptions{}); err != nil {
		t.Fatal(err)
	}
	spans := a.spansNamed("oidcsession.token refresh_token")
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	if p := spans[0].Parent(); p.IsValid() {
		t.Fatalf("parent %v", p)
	}
}
