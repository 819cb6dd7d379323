package otel_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
	"github.com/oidcsession/oidcsession/otel"
)

var (
	hashKey  = []byte("0123456789abcdef0123456789abcdef")
	blockKey = []byte("fedcba9876543210fedcba9876543210")
)

// clientSecret is distinctive, so that finding it anywhere means a leak.
const clientSecret = "cs-7f3a9c1e5b2d4068a1b3c5d7e9f10234"

// telemetry is the OpenTelemetry SDK with in-memory readers.
type telemetry struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	mp     *sdkmetric.MeterProvider
	tp     *sdktrace.TracerProvider
}

func newTelemetry(t testing.TB) *telemetry {
	tm := &telemetry{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	tm.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tm.reader))
	tm.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tm.spans))
	t.Cleanup(func() {
		_ = tm.mp.Shutdown(context.Background())
		_ = tm.tp.Shutdown(context.Background())
	})
	return tm
}

func (tm *telemetry) options() []otel.Option {
	return []otel.Option{otel.WithMeterProvider(tm.mp), otel.WithTracerProvider(tm.tp)}
}

func (tm *telemetry) collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tm.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	return rm
}

// series names one time series: the instrument and its attributes, as
// flatten keys them.
func series(name string, kvs ...attribute.KeyValue) string {
	set := attribute.NewSet(kvs...)
	return name + "{" + set.Encoded(attribute.DefaultEncoder()) + "}"
}

// flatten gives every series of our scope its value: a counter's sum, a
// histogram's count; sums holds the histograms' sums.
func flatten(rm metricdata.ResourceMetrics) (values, sums map[string]float64) {
	values, sums = map[string]float64{}, map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otel.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					values[m.Name+"{"+p.Attributes.Encoded(attribute.DefaultEncoder())+"}"] = float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					k := m.Name + "{" + p.Attributes.Encoded(attribute.DefaultEncoder()) + "}"
					values[k], sums[k] = float64(p.Count), p.Sum
				}
			}
		}
	}
	return values, sums
}

// app is an application using the package as the README shows, over TLS,
// against a real OpenID provider (oidcsessiontest) that shares its clock,
// with the instrumentation's options and its own server spans. Its
// provider calls pass through a tap under the instrumented transport,
// which remembers every secret that crossed the wire; when the test ends,
// none may appear in any span or metric.
//
//	GET /auth/login, GET /auth/callback, POST /auth/logout,
//	POST /auth/backchannel-logout, /app (Require: inline refresh),
//	GET /test/signin (StartSession with tokens from the provider)
type app struct {
	t      *testing.T
	clock  *oidcsessiontest.Clock
	op     *oidcsessiontest.Provider
	tel    *telemetry
	tap    *tap
	inst   *otel.Instrumentation
	m      *oidcsession.Middleware
	srv    *httptest.Server
	client *http.Client // a browser: cookie jar, follows redirects
}

// appConfig varies an app.
type appConfig struct {
	inst []otel.Option
	opts []oidcsession.Option
}

func newApp(t *testing.T, ac appConfig) *app {
	t.Helper()
	a := &app{t: t, clock: oidcsessiontest.NewClock(time.Time{}), tel: newTelemetry(t), tap: newTap()}
	mux := http.NewServeMux()
	a.srv = httptest.NewUnstartedServer(serverSpans(a.tel.tp, mux))
	a.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	a.op = oidcsessiontest.New(t, oidcsessiontest.Config{
		Now: a.clock.Now, ClientSecret: clientSecret,
		BackChannelLogoutURI: a.srv.URL + "/auth/backchannel-logout", BackChannelLogoutClient: a.srv.Client(),
	})
	a.tap.add("client_secret", clientSecret)
	provider := discover(t, a.op)
	var err error
	a.inst, err = otel.New(provider, append(a.tel.options(), append([]otel.Option{otel.WithHTTPClient(&http.Client{Transport: a.tap})}, ac.inst...)...)...)
	if err != nil {
		t.Fatalf("otel.New: %v", err)
	}
	opts := append(a.inst.Options(), oidcsession.WithKeys(hashKey, blockKey), oidcsession.WithClock(a.clock.Now), oidcsession.WithUserInfoOnRefresh())
	a.m, err = oidcsession.New(provider, oauth2.Config{
		ClientID: a.op.ClientID(), ClientSecret: a.op.ClientSecret(), RedirectURL: a.srv.URL + "/auth/callback",
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}, append(opts, ac.opts...)...)
	if err != nil {
		t.Fatalf("oidcsession.New: %v", err)
	}
	stop, err := a.inst.ObserveCache(a.m)
	if err != nil {
		t.Fatalf("ObserveCache: %v", err)
	}
	t.Cleanup(stop)
	a.routes(mux)
	jar, _ := cookiejar.New(nil)
	a.client = &http.Client{Transport: a.srv.Client().Transport, Jar: jar}
	t.Cleanup(a.checkNoSecrets)
	return a
}

func discover(t testing.TB, op *oidcsessiontest.Provider) *oidc.Provider {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), op.Issuer())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return p
}

func (a *app) routes(mux *http.ServeMux) {
	mux.Handle("GET /auth/login", a.m.LoginHandler())
	mux.Handle("GET /auth/callback", a.m.CallbackHandler())
	mux.Handle("/auth/logout", a.m.LogoutHandler())
	mux.Handle("/auth/backchannel-logout", a.m.BackChannelLogoutHandler())
	mux.Handle("/app", a.m.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := oidcsession.FromContext(r.Context())
		fmt.Fprint(w, s.Subject())
	})))
	mux.HandleFunc("GET /test/signin", func(w http.ResponseWriter, r *http.Request) {
		tok, err := a.op.IssueTokens(oidcsessiontest.IssueOptions{})
		if err == nil {
			a.tap.addToken(tok)
			_, err = a.m.StartSession(w, r, tok)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// serverSpans gives every request to the app a server span named
// "app <path>", as a traced server (otelhttp, say) would, so provider
// calls have a parent.
func serverSpans(tp trace.TracerProvider, h http.Handler) http.Handler {
	tr := tp.Tracer("app")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tr.Start(r.Context(), "app "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// do makes one request to the app; follow says whether redirects are
// followed (a navigation) or the first answer is returned.
func (a *app) do(method, path string, hdr http.Header, body io.Reader, follow bool) (int, string) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	c := *a.client
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	resp, err := c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// signIn signs in through the login handler, the provider and the
// callback.
func (a *app) signIn() {
	a.t.Helper()
	if status, body := a.do(http.MethodGet, "/auth/login?return_to=/app", http.Header{"Accept": {"text/html"}}, nil, true); status != 200 || body != "user-1" {
		a.t.Fatalf("sign-in ended with %d %q", status, body)
	}
}

// get GETs path without following redirects.
func (a *app) get(path string) int {
	a.t.Helper()
	status, _ := a.do(http.MethodGet, path, nil, nil, false)
	return status
}

// signOut posts to the logout handler as the browser helper does.
func (a *app) signOut() {
	a.t.Helper()
	if status, _ := a.do(http.MethodPost, "/auth/logout", http.Header{oidcsession.CSRFHeader: {"1"}, "Accept": {"application/json"}}, nil, false); status != 200 {
		a.t.Fatalf("sign-out: %d", status)
	}
}

// postLogoutToken posts a logout token to the back-channel handler.
func (a *app) postLogoutToken(token string) int {
	a.t.Helper()
	status, _ := a.do(http.MethodPost, "/auth/backchannel-logout",
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, strings.NewReader(url.Values{"logout_token": {token}}.Encode()), false)
	return status
}

// cookieHeader is the Cookie header the browser sends to the app.
func (a *app) cookieHeader() string {
	u, _ := url.Parse(a.srv.URL)
	var parts []string
	for _, c := range a.client.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// metrics collects the app's metrics.
func (a *app) metrics() map[string]float64 {
	a.t.Helper()
	v, _ := flatten(a.tel.collect(a.t))
	return v
}

// spansNamed returns the ended spans named name, in the order they ended.
func (a *app) spansNamed(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range a.tel.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// checkNoSecrets fails the test if any secret that crossed the wire is in
// the recorded telemetry.
func (a *app) checkNoSecrets() {
	for _, l := range leaks(a.tap.secrets(), a.tel.spans.Ended(), a.tel.collect(a.t)) {
		a.t.Errorf("secret in telemetry: %s", l)
	}
}

// leaks lists every place where one of secrets (value → what it is)
// appears in spans or metrics: a span's name, attributes, events, links or
// status, a data point's attributes, exemplars included.
func leaks(secrets map[string]string, spans []sdktrace.ReadOnlySpan, rm metricdata.ResourceMetrics) []string {
	var out []string
	check := func(where, text string) {
		for s, what := range secrets {
			if s != "" && strings.Contains(text, s) {
				out = append(out, fmt.Sprintf("%s holds the %s", where, what))
			}
		}
	}
	checkAttrs := func(where string, kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			check(where+" attribute "+string(kv.Key), string(kv.Key)+"="+kv.Value.String())
		}
	}
	for _, s := range spans {
		where := "span " + s.Name()
		check(where+" name", s.Name())
		checkAttrs(where, s.Attributes())
		check(where+" status", s.Status().Description)
		for _, e := range s.Events() {
			check(where+" event", e.Name)
			checkAttrs(where+" event "+e.Name, e.Attributes)
		}
		for _, l := range s.Links() {
			checkAttrs(where+" link", l.Attributes)
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			where := "metric " + m.Name
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					checkAttrs(where, p.Attributes.ToSlice())
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					checkAttrs(where, p.Attributes.ToSlice())
					for _, e := range p.Exemplars {
						checkAttrs(where+" exemplar", e.FilteredAttributes)
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// tap passes every provider call on to the real provider and remembers
// every secret in it: the token request's credentials and grants, the
// Authorization header, and the tokens in answers. It also keeps the
// request headers it saw.
type tap struct {
	mu      sync.Mutex
	values  map[string]string // secret → what it is
	headers []http.Header
}

func newTap() *tap { return &tap{values: map[string]string{}} }

func (tp *tap) add(what, secret string) {
	if secret == "" {
		return
	}
	tp.mu.Lock()
	if _, seen := tp.values[secret]; !seen { // what it was first seen as
		tp.values[secret] = what
	}
	tp.mu.Unlock()
}

func (tp *tap) addToken(tok *oauth2.Token) {
	tp.add("access_token", tok.AccessToken)
	tp.add("refresh_token", tok.RefreshToken)
	if id, ok := tok.Extra("id_token").(string); ok {
		tp.add("id_token", id)
	}
}

// secrets returns a copy of what the tap saw.
func (tp *tap) secrets() map[string]string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	out := make(map[string]string, len(tp.values))
	for k, v := range tp.values {
		out[k] = v
	}
	return out
}

// kinds lists what kinds of secret the tap saw.
func (tp *tap) kinds() map[string]bool {
	out := map[string]bool{}
	for _, what := range tp.secrets() {
		out[what] = true
	}
	return out
}

func (tp *tap) seenHeaders() []http.Header {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]http.Header(nil), tp.headers...)
}

func (tp *tap) RoundTrip(req *http.Request) (*http.Response, error) {
	tp.mu.Lock()
	tp.headers = append(tp.headers, req.Header.Clone())
	tp.mu.Unlock()
	if auth := req.Header.Get("Authorization"); auth != "" {
		tp.add("authorization header", auth)
		scheme, cred, _ := strings.Cut(auth, " ")
		tp.add("authorization credential", cred)
		if strings.EqualFold(scheme, "Basic") {
			if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
				_, pass, _ := strings.Cut(string(raw), ":")
				p, _ := url.QueryUnescape(pass)
				tp.add("client_secret", p)
			}
		}
	}
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			raw, _ := io.ReadAll(body)
			body.Close()
			form, _ := url.ParseQuery(string(raw))
			for _, k := range []string{"code", "code_verifier", "refresh_token", "client_secret", "client_assertion", "token", "logout_token"} {
				tp.add(k, form.Get(k))
			}
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var answer map[string]any
	if json.Unmarshal(body, &answer) == nil {
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			s, _ := answer[k].(string)
			tp.add(k, s)
		}
	}
	return resp, nil
}

// eventually polls cond until it holds or two seconds pass: a grant's
// event is reported just after the requests that waited for it were
// released.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
