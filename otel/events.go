package otel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/oidcsession/oidcsession"
)

var successOption = metric.WithAttributeSet(attribute.NewSet(OutcomeKey.String("success")))

// OnEvent records e in the instruments. It is the hook Options installs
// with oidcsession.WithOnEvent, exported so that a hook of your own can
// call it too. The core calls it on sign-in, sign-out, refresh, token
// reuse and back-channel logout only, never on a request whose session is
// valid. ctx goes with each measurement (exemplars link it to the span in
// ctx).
//
// It adds no span event: a refresh is reported after the requests that
// waited for it were released, when their spans may have ended; the
// provider call's own span is in the trace instead.
func (i *Instrumentation) OnEvent(ctx context.Context, e oidcsession.Event) {
	opt := successOption
	if e.Err != nil {
		opt = metric.WithAttributeSet(attribute.NewSet(OutcomeKey.String("failure"), semconv.ErrorTypeKey.String(word(e.Class))))
	}
	switch e.Kind {
	case oidcsession.EventRefresh:
		i.inst.grants.Add(ctx, 1, opt)
		i.inst.grantDuration.Record(ctx, e.Duration.Seconds(), opt)
	case oidcsession.EventSignIn:
		i.inst.signIns.Add(ctx, 1, opt)
		i.inst.signInDuration.Record(ctx, e.Duration.Seconds(), opt)
	case oidcsession.EventBackChannelLogout:
		i.inst.backChannel.Add(ctx, 1, opt)
	case oidcsession.EventSignOut:
		i.inst.signOuts.Add(ctx, 1)
	case oidcsession.EventTokenReuse:
		i.inst.reuses.Add(ctx, 1)
	}
}

// word returns class if it is a fixed word (lowercase letters, digits and
// _, as the core's classes are), else "_OTHER" (the semantic conventions'
// fallback), so no attribute ever carries free text and the metrics'
// cardinality stays bounded.
func word(class string) string {
	if class == "" || len(class) > 32 {
		return semconv.ErrorTypeOther.Value.AsString()
	}
	for i := 0; i < len(class); i++ {
		if c := class[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return semconv.ErrorTypeOther.Value.AsString()
		}
	}
	return class
}
