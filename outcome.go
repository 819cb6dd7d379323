package oidcsession

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/oidcsession/oidcsession/internal/state"
	"github.com/oidcsession/oidcsession/internal/wire"
)

// What a finished grant publishes under its key, for the grace window.
const (
	outcomeSession   = 1 // the successor session, sealed
	outcomeEnded     = 2 // the session ended; a reason follows
	outcomeTransient = 3 // nothing was spent: try again; the holder's claim follows
)

// outcomeName binds sealed outcomes to being outcomes.
const outcomeName = "oidcsession-outcome"

// transientTTL is how long a transient outcome stays: long enough to wake
// the waiters on other replicas, short enough not to matter after.
const transientTTL = 2 * time.Second

// outcome is a decoded publication.
type outcome struct {
	kind   byte
	at     time.Time // on the Middleware's clock, for the grace window
	s      *Session
	err    error
	holder []byte // transient: the claim of the grant that failed
}

// settle tells every replica what came of the grant for key, and with a
// Store stores the new session in the same step: the successor session,
// the end of the session, or nothing spent. It returns the session as
// stored.
func (e *engine) settle(ctx context.Context, key string, holder []byte, old, s *Session, err error) (*Session, error) {
	var re *RefreshError
	errors.As(err, &re)
	kind, ttl := byte(outcomeTransient), transientTTL
	var rec *Record
	switch {
	case s != nil && s != old && (err == nil || re != nil && re.spent):
		kind, ttl = outcomeSession, e.m.cfg.graceWindow
		var rerr error
		if rec, s, rerr = e.m.storage.record(s); rerr != nil {
			return nil, rerr
		}
	case re != nil && re.Class == RefreshTerminal:
		kind, ttl = outcomeEnded, e.m.cfg.graceWindow
	}
	v, eerr := e.encode(kind, s, err)
	if eerr != nil {
		return nil, eerr
	}
	if kind == outcomeTransient {
		v = wire.AppendBytes(v, holder)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := e.coord.Settle(sctx, key, holder, v, ttl, rec, old.gen); err != nil {
		return nil, err
	}
	return s, nil
}

// end publishes that session id ended (signed out), so a successor of it
// that is still inside the grace window is not handed to an older cookie.
func (e *engine) end(ctx context.Context, id string) {
	if id == "" {
		return
	}
	if v, err := e.encode(outcomeEnded, nil, fmt.Errorf("%w: signed out", ErrSessionExpired)); err == nil {
		_ = e.coord.Publish(ctx, endedKey(id), v, e.m.cfg.graceWindow)
	}
}

// encode frames an outcome: kind, time, then the generation and the sealed
// session, or the reason the session ended.
func (e *engine) encode(kind byte, s *Session, err error) ([]byte, error) {
	b := append([]byte{kind}, wire.AppendUvarint(nil, uint64(e.m.cfg.now().UnixNano()))...)
	switch kind {
	case outcomeSession:
		sealed, serr := e.m.sealer.Seal(outcomeName, state.EncodeRecord(nil, s.replaced, s.d))
		if serr != nil {
			return nil, serr
		}
		b = wire.AppendUvarint(b, s.gen)
		b = wire.AppendString(b, sealed)
	case outcomeEnded:
		b = wire.AppendString(b, err.Error())
	}
	return b, nil
}

// lookup reads the outcome published under fullKey that is still inside
// the grace window on the Middleware's clock; nil when there is none.
func (e *engine) lookup(ctx context.Context, fullKey string) (*outcome, error) {
	v, err := e.coord.Lookup(ctx, fullKey)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.decode(v), nil
}

// decode reads a published outcome; nil for nothing, for what is not ours
// (keys changed), and for a session or an end past the grace window.
func (e *engine) decode(v []byte) *outcome {
	if len(v) == 0 {
		return nil
	}
	r := wire.NewReader(v)
	o := &outcome{kind: r.Byte(), at: time.Unix(0, int64(r.Uvarint()))}
	switch o.kind {
	case outcomeSession:
		gen, sealed := r.Uvarint(), r.String(1<<20)
		payload, _, oerr := e.m.sealer.Open(outcomeName, sealed)
		if oerr != nil {
			return nil
		}
		replaced, d, derr := state.DecodeRecord(payload)
		if derr != nil {
			return nil
		}
		o.s = &Session{d: d, gen: gen, replaced: replaced}
	case outcomeEnded:
		o.err = &RefreshError{Class: RefreshTerminal, Err: errors.New(r.String(4096))}
	case outcomeTransient:
		o.holder = r.Bytes(256)
	default:
		return nil
	}
	if r.Done() != nil {
		return nil
	}
	if o.kind != outcomeTransient && !e.m.cfg.now().Before(o.at.Add(e.m.cfg.graceWindow)) {
		return nil
	}
	return o
}

// claimValue is a claim: a random holder and its deadline.
func claimValue(deadline time.Time) []byte {
	b := make([]byte, 16, 32)
	_, _ = rand.Read(b)
	return deadline.UTC().AppendFormat(b, time.RFC3339Nano)
}

// claimDeadline reads a claim's deadline.
func claimDeadline(v []byte) (time.Time, bool) {
	if len(v) < 16 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(v[16:]))
	return t, err == nil
}

// endedKey names the publication that session id was signed out.
func endedKey(id string) string { return "ended:" + id }
