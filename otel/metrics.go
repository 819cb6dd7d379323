package otel

import (
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Attribute keys of our own (the others are the semantic conventions').
const (
	// OutcomeKey is "success" or "failure"; error.type then holds the class.
	OutcomeKey = attribute.Key("oidcsession.outcome")
	// CacheResultKey is "hit" or "miss".
	CacheResultKey = attribute.Key("oidcsession.cache.result")
	// OperationKey names a provider call: "token", "userinfo",
	// "revocation", "jwks" or "other".
	OperationKey = attribute.Key("oidcsession.provider.operation")
	// GrantTypeKey is a token request's grant_type: "authorization_code",
	// "refresh_token", "client_credentials" or "other".
	GrantTypeKey = attribute.Key("oidcsession.grant_type")
)

// durationBuckets are the semantic conventions' advice for HTTP durations
// in seconds; grants and code exchanges are HTTP calls plus a little work.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// instruments are the synchronous instruments; the cache's asynchronous
// counter belongs to cacheObserver.
type instruments struct {
	grants, signIns, signOuts, reuses, backChannel metric.Int64Counter
	grantDuration, signInDuration                  metric.Float64Histogram
	providerDuration                               metric.Float64Histogram
}

func newInstruments(m metric.Meter) (instruments, error) {
	var in instruments
	var errs [8]error
	in.grants, errs[0] = m.Int64Counter("oidcsession.refresh.grants", metric.WithUnit("{grant}"),
		metric.WithDescription("Refresh-token grants this process made, by outcome and failure class."))
	in.grantDuration, errs[1] = m.Float64Histogram("oidcsession.refresh.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of refresh-token grants, with their claim and settlement."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	in.signIns, errs[2] = m.Int64Counter("oidcsession.sign_ins", metric.WithUnit("{sign_in}"),
		metric.WithDescription("Callbacks that finished, with a session or not."))
	in.signInDuration, errs[3] = m.Float64Histogram("oidcsession.sign_in.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the callback's work: code exchange, ID token check, storing."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	in.signOuts, errs[4] = m.Int64Counter("oidcsession.sign_outs", metric.WithUnit("{sign_out}"),
		metric.WithDescription("Sessions ended by the logout handler."))
	in.reuses, errs[5] = m.Int64Counter("oidcsession.token_reuse.detections", metric.WithUnit("{detection}"),
		metric.WithDescription("Session cookies replayed after their session moved on; each revoked its session."))
	in.backChannel, errs[6] = m.Int64Counter("oidcsession.backchannel_logouts", metric.WithUnit("{logout}"),
		metric.WithDescription("Logout tokens from the provider, accepted or refused."))
	in.providerDuration, errs[7] = m.Float64Histogram("oidcsession.provider.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of calls to the provider, until the answer's headers."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	return in, errors.Join(errs[:]...)
}
