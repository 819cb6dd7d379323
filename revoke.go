package oidcsession

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/oidcsession/oidcsession/internal/wire"
)

// ErrNoStore means an operation needs sessions kept on the server
// (WithStore): listing a user's sessions.
var ErrNoStore = errors.New("oidcsession: sessions are kept in cookies; this needs a Store (WithStore)")

// SessionInfo describes one of a user's sessions, for a "your devices"
// page. It holds no token.
type SessionInfo struct {
	ID        string
	Created   time.Time
	LastSeen  time.Time
	UserAgent string // a short summary, such as "Firefox on Linux": a hint, not a proof
}

// Sessions lists subject's sessions, newest first. It needs a Store; with
// cookies it returns ErrNoStore.
func (m *Middleware) Sessions(ctx context.Context, subject string) ([]SessionInfo, error) {
	st, ok := m.storage.(*serverStorage)
	if !ok {
		return nil, ErrNoStore
	}
	recs, err := m.cfg.store.List(ctx, "sub:"+subject)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	var out []SessionInfo
	for _, rec := range recs {
		if s, _, err := st.open(rec); err == nil && s.d.Subject == subject {
			out = append(out, SessionInfo{ID: s.d.ID, Created: s.d.Created, LastSeen: s.d.LastSeen, UserAgent: s.d.UserAgent})
		}
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// RevokeSessionOf ends session id only if it is one of subject's: what a
// "sign out this device" endpoint needs, so that a user who sends another
// user's session ID ends nothing. It returns ErrNotFound for an ID that is
// not subject's (or has ended already), and needs a Store (ErrNoStore
// with cookies, whose owners cannot be looked up).
func (m *Middleware) RevokeSessionOf(ctx context.Context, subject, id string) error {
	st, ok := m.storage.(*serverStorage)
	if !ok {
		return ErrNoStore
	}
	rec, err := m.cfg.store.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrNotFound
	case err != nil:
		return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	s, _, err := st.open(rec)
	if err != nil || s.d.Subject != subject {
		return ErrNotFound
	}
	m.signOut(ctx, s)
	return nil
}

// RevokeSession ends session id: its refresh token is revoked at the
// provider and, with a Store, its record deleted, so every replica refuses
// it at once (within the Store's one-second bound). With cookies, which
// cannot be revoked, it ends at its next refresh on any replica sharing the
// Coordinator, at most one access-token lifetime later.
func (m *Middleware) RevokeSession(ctx context.Context, id string) error {
	if _, ok := m.storage.(*serverStorage); !ok {
		return m.revokeCookies(ctx, "id:"+id)
	}
	rec, err := m.cfg.store.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	if s, _, err := m.storage.(*serverStorage).open(rec); err == nil {
		m.signOut(ctx, s)
		return nil
	}
	if err := m.cfg.store.Delete(ctx, id); err != nil {
		return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	return nil
}

// RevokeSubject ends every session of subject ("sign me out everywhere"),
// as RevokeSession does for one. It returns how many sessions it ended
// (with cookies, which it cannot count, 0).
func (m *Middleware) RevokeSubject(ctx context.Context, subject string) (int, error) {
	if _, ok := m.storage.(*serverStorage); !ok {
		return 0, m.revokeCookies(ctx, "sub:"+subject)
	}
	return m.endIndexed(ctx, "sub:"+subject, nil)
}

// endIndexed ends (endSession) the sessions a Store lists under index
// that match (nil: all), and reports how many; it stops at the first
// store failure.
func (m *Middleware) endIndexed(ctx context.Context, index string, match func(*Session) bool) (int, error) {
	recs, err := m.cfg.store.List(ctx, index)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	n := 0
	for _, rec := range recs {
		s, _, err := m.storage.(*serverStorage).open(rec)
		if err != nil {
			// Not one of ours (another deployment sharing the store, or
			// keys retired since): never delete what these keys cannot
			// read; it expires with its own lifetime.
			m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "oidcsession: a stored session under this index does not open with these keys; left alone",
				slog.String("index", strings.SplitN(index, ":", 2)[0]))
			continue
		}
		if match != nil && !match(s) {
			continue
		}
		if err := m.endSession(ctx, s); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// revokeCookies records, for every replica sharing the Coordinator, that
// the cookie sessions matching key ("id:…", "sid:…" or "sub:…") created
// until now have ended; storage.revoked checks it before a refresh. It
// lasts as long as such a session could.
func (m *Middleware) revokeCookies(ctx context.Context, key string) error {
	v := wire.AppendUvarint(nil, uint64(m.cfg.now().Unix()))
	if err := m.engine.coord.Publish(ctx, "revoked:"+key, v, m.cfg.absoluteLifetime); err != nil {
		return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	return nil
}

// cookieRevoked reports, as an error matching ErrSessionExpired, a cookie
// session revoked by revokeCookies: by its ID, its provider session, or
// its subject (if it was created before).
func (m *Middleware) cookieRevoked(ctx context.Context, s *Session) error {
	for _, key := range []string{"id:" + s.d.ID, "sid:" + s.d.SID, "sub:" + s.d.Subject} {
		if key == "id:" || key == "sid:" {
			continue
		}
		v, err := m.engine.coord.Lookup(ctx, "revoked:"+key)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return &RefreshError{Class: RefreshTransient, Err: fmt.Errorf("%w: %w", ErrStoreUnavailable, err)}
		}
		at := wire.NewReader(v).Uvarint()
		if !s.d.Created.After(time.Unix(int64(at), 0)) {
			return fmt.Errorf("%w: signed out everywhere (revoked)", ErrSessionExpired)
		}
	}
	return nil
}
