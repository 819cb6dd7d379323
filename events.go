package oidcsession

import (
	"context"
	"log/slog"
	"time"
)

// EventKind names what an Event reports.
type EventKind uint8

const (
	// EventSignIn: a callback finished, with a session (Err nil) or not.
	EventSignIn EventKind = iota + 1
	// EventSignOut: LogoutHandler ended a session.
	EventSignOut
	// EventRefresh: this process made a refresh-token grant (for the
	// session's own token or a resource's), or failed to.
	EventRefresh
	// EventTokenReuse: a session cookie replayed after its session moved
	// on (with a Store) revoked the session.
	EventTokenReuse
	// EventBackChannelLogout: a logout token from the provider was
	// accepted (Err nil) or refused.
	EventBackChannelLogout
)

func (k EventKind) String() string {
	switch k {
	case EventSignIn:
		return "sign_in"
	case EventSignOut:
		return "sign_out"
	case EventRefresh:
		return "refresh"
	case EventTokenReuse:
		return "token_reuse"
	case EventBackChannelLogout:
		return "backchannel_logout"
	}
	return "unknown"
}

// Event is something the package did, for metrics (WithOnEvent; the otel
// module counts them). It carries no token, code or secret.
type Event struct {
	Kind EventKind
	// Err is the failure, nil on success. Its text never holds a token.
	Err error
	// Class labels a failure in a few fixed words: for EventRefresh the
	// RefreshClass ("transient", "rejected", "terminal"), for EventSignIn
	// the class the log line gives ("invalid_callback", "authorization",
	// "unavailable", "invalid_id_token", …); "" on success.
	Class string
	// Duration: for EventSignIn the callback's work (code exchange, ID
	// token check, storing); for EventRefresh the grant with its claim and
	// settlement.
	Duration time.Duration
}

// WithOnEvent calls fn for every Event, on the goroutine that caused it:
// keep it fast (count, do not block): a refresh's event is reported before
// the requests waiting for that grant are answered, so a blocked fn holds
// them up. A panic in fn is recovered and
// logged. For metrics; Middleware.CacheStats gives the cookie cache's
// figures. Default: none.
func WithOnEvent(fn func(context.Context, Event)) Option {
	return func(c *config) { c.onEvent = fn }
}

// emit hands e to the WithOnEvent hook, if any.
func (m *Middleware) emit(ctx context.Context, e Event) {
	if m.cfg.onEvent == nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			m.cfg.logger.LogAttrs(ctx, slog.LevelError, "oidcsession: event hook panicked", slog.String("event", e.Kind.String()))
		}
	}()
	m.cfg.onEvent(ctx, e)
}

// CacheStats reports how often a request's session was found in the cache
// of opened cookies (or, with a Store, opened records) and how often it
// had to be opened: hits should dominate, since a browser sends the same
// cookie until it changes. Lookups are counted from the first call (which
// returns 0, 0), so a Middleware nobody observes pays nothing for them on
// its valid path. Both stay 0 with WithOpenedCache(0).
func (m *Middleware) CacheStats() (hits, misses uint64) {
	return m.storage.cacheStats()
}
