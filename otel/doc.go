// Package otel reports what an oidcsession.Middleware does as OpenTelemetry
// metrics and traces. It is its own module, so the core module does not
// depend on OpenTelemetry.
//
// It uses only the hooks the core offers: oidcsession.WithOnEvent for
// sign-ins, sign-outs, refresh grants, token reuse and back-channel
// logouts; oidcsession.WithHTTPClient with an instrumented
// http.RoundTripper for every call to the provider (code exchange, refresh
// grant, userinfo, revocation); and Middleware.CacheStats for the cache of
// opened cookies. Nothing runs on a request whose session is valid.
//
//	inst, err := otel.New(provider) // the global MeterProvider and TracerProvider
//	if err != nil { ... }
//	m, err := oidcsession.New(provider, oc, append(inst.Options(), oidcsession.WithKeys(hashKey, blockKey))...)
//	if err != nil { ... }
//	stop, err := inst.ObserveCache(m)
//	if err != nil { ... }
//	defer stop()
//
// A file that also imports go.opentelemetry.io/otel names one of the two,
// for example oidcotel "github.com/oidcsession/oidcsession/otel".
//
// No token, authorization code, client secret, client assertion,
// Authorization header or request or response body ever reaches an
// attribute, a span name, a span event or a span status: spans carry the
// endpoint without its query, the method, the status code and a fixed
// error word, never the text of a transport error (which may echo the
// request).
//
// Instruments (meter "github.com/oidcsession/oidcsession/otel"):
//
//	oidcsession.refresh.grants       counter   {grant}    oidcsession.outcome, error.type
//	oidcsession.refresh.duration     histogram s          oidcsession.outcome, error.type
//	oidcsession.sign_ins             counter   {sign_in}  oidcsession.outcome, error.type
//	oidcsession.sign_in.duration     histogram s          oidcsession.outcome, error.type
//	oidcsession.sign_outs            counter   {sign_out}
//	oidcsession.token_reuse.detections counter {detection}
//	oidcsession.backchannel_logouts  counter   {logout}   oidcsession.outcome, error.type
//	oidcsession.cache.lookups        counter   {lookup}   oidcsession.cache.result (hit, miss); asynchronous
//	oidcsession.provider.duration    histogram s          oidcsession.provider.operation, oidcsession.grant_type, http.response.status_code, error.type
//
// Spans (tracer of the same name, kind client, one per provider call):
// "oidcsession.token authorization_code", "oidcsession.token
// refresh_token", "oidcsession.userinfo", "oidcsession.revocation",
// "oidcsession.jwks", and the method ("GET") for any other URL; with the
// HTTP client attributes of the semantic conventions (http.request.method,
// url.full, server.address, server.port, http.response.status_code,
// error.type).
package otel
