package otel

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/coreos/go-oidc/v3/oidc"
	global "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/oidcsession/oidcsession"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/oidcsession/oidcsession/otel"

// Instrumentation turns one Middleware's events, provider calls and cache
// figures into metrics and spans. Create it with New before the
// Middleware, give its Options to oidcsession.New, then call ObserveCache
// with the Middleware. It is safe for concurrent use.
type Instrumentation struct {
	client *http.Client // the instrumented client for provider calls
	inst   instruments
	cache  cacheObserver
}

// Option configures New.
type Option func(*config)

type config struct {
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
	propagator     propagation.TextMapPropagator
	httpClient     *http.Client
}

// WithMeterProvider sets where metrics go. Default: the global
// MeterProvider (otel.GetMeterProvider), which follows a later
// otel.SetMeterProvider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.meterProvider = mp }
}

// WithTracerProvider sets where spans go. Default: the global
// TracerProvider (otel.GetTracerProvider), which follows a later
// otel.SetTracerProvider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracerProvider = tp }
}

// WithPropagators injects the trace context into the headers of provider
// calls with p (propagation.TraceContext{}, say), so a provider that is
// traced too joins the trace. Default: nothing is injected, since the
// provider is usually a third party, and a global propagator may carry
// baggage it should not see.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.propagator = p }
}

// WithHTTPClient sets the client whose transport is instrumented for calls
// to the provider: its Timeout, Jar and CheckRedirect are kept, and its
// Transport (http.DefaultTransport when nil) is wrapped. Pass here what you
// would have passed to oidcsession.WithHTTPClient. Default
// http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) { c.httpClient = hc }
}

// New returns the instrumentation for a Middleware of provider, whose
// discovered endpoints name the spans of provider calls. Every instrument
// is created here; an error from the MeterProvider is returned.
func New(provider *oidc.Provider, opts ...Option) (*Instrumentation, error) {
	if provider == nil {
		return nil, errors.New("oidcsession/otel: New: provider is nil")
	}
	cfg := config{httpClient: http.DefaultClient}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	if cfg.meterProvider == nil {
		cfg.meterProvider = global.GetMeterProvider()
	}
	if cfg.tracerProvider == nil {
		cfg.tracerProvider = global.GetTracerProvider()
	}
	if cfg.httpClient == nil {
		return nil, errors.New("oidcsession/otel: WithHTTPClient: client is nil")
	}
	eps, err := endpointsOf(provider)
	if err != nil {
		return nil, fmt.Errorf("oidcsession/otel: New: %w", err)
	}
	meter := cfg.meterProvider.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	i := &Instrumentation{}
	if i.inst, err = newInstruments(meter); err != nil {
		return nil, fmt.Errorf("oidcsession/otel: New: %w", err)
	}
	if err := i.cache.register(meter); err != nil {
		return nil, fmt.Errorf("oidcsession/otel: New: %w", err)
	}
	base := cfg.httpClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc := *cfg.httpClient
	hc.Transport = &transport{
		base:      base,
		tracer:    cfg.tracerProvider.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		propagate: cfg.propagator,
		endpoints: eps,
		duration:  i.inst.providerDuration,
	}
	i.client = &hc
	return i, nil
}

// Options returns the Middleware options that feed the instrumentation:
// oidcsession.WithOnEvent(i.OnEvent) and
// oidcsession.WithHTTPClient(i.HTTPClient()). Put them before options of
// your own; an oidcsession.WithOnEvent or WithHTTPClient given after them
// replaces theirs (call i.OnEvent from your own hook instead).
func (i *Instrumentation) Options() []oidcsession.Option {
	return []oidcsession.Option{oidcsession.WithOnEvent(i.OnEvent), oidcsession.WithHTTPClient(i.client)}
}

// HTTPClient returns the client for calls to the provider, with a
// transport that makes one span and one oidcsession.provider.duration
// measurement per call.
func (i *Instrumentation) HTTPClient() *http.Client { return i.client }
