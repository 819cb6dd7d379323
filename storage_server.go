package oidcsession

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/oidcsession/oidcsession/internal/cookie"
	"github.com/oidcsession/oidcsession/internal/state"
	"github.com/oidcsession/oidcsession/internal/wire"
)

// serverStorage keeps sessions in a Store. The cookie is a reference, the
// session's ID and the record's generation under a MAC, so it cannot be
// forged or moved, is about 45 bytes (63 with its name), and tells a replayed copy from the
// current one: every write of the record bumps its generation, a browser
// always sends its newest cookie, and a copy that fell behind by more than
// the grace window is refresh-token theft (SuperTokens' model).
type serverStorage struct {
	m      *Middleware
	st     Store
	chunks *cookie.Chunked
	opened *cookie.Opened[openedRecord] // keyed by session ID
	refs   *cookie.Opened[openedRef]    // keyed by a cookie's value
}

// openedRef is a verified reference: its HMAC costs more than the rest of
// a request with a warm store cache, and a browser sends the same one
// until it changes.
type openedRef struct {
	id     string
	gen    uint64
	oldKey bool
}

// openedRecord is a record's payload as opened. A generation of a
// record never changes (Put is a compare-and-set on it, and IDs are never
// reused), so the ID and generation name its payload: a cache hit needs
// neither the 3 KB sealed bytes compared nor their MAC checked again.
type openedRecord struct {
	gen      uint64
	d        *state.Session
	replaced []state.Replaced
}

// recordName binds sealed records to being records.
const recordName = "oidcsession-record"

// maxRef bounds a reference's payload: a 16-byte ID and a generation.
const maxRef = 16 + 10

func (v *serverStorage) load(r *http.Request) (loaded, error) {
	value, err := v.chunks.Read(r.Header)
	switch {
	case errors.Is(err, cookie.ErrAbsent):
		return loaded{}, ErrNoSession
	case err != nil:
		return loaded{}, fmt.Errorf("%w: %w", ErrInvalidSession, err)
	}
	ref, err := v.openRef(value)
	if err != nil {
		return loaded{}, err
	}
	id, gen, oldKey := ref.id, ref.gen, ref.oldKey
	// No deadline of ours on the hot path: a Store bounds its own calls
	// (see Store), and a timer per request costs more than a cached Get.
	ctx := r.Context()
	rec, err := v.st.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return loaded{}, fmt.Errorf("%w: the session was signed out, revoked or has expired", ErrSessionExpired)
	case err != nil:
		return loaded{}, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	s, recOldKey, err := v.open(rec)
	if err != nil {
		return loaded{}, err
	}
	switch {
	case gen == rec.Generation:
		return loaded{s: s, cookie: oldKey, dirty: recOldKey}, nil
	case gen < rec.Generation && v.inGrace(s, gen):
		// The cookie of an earlier write, replaced inside the grace
		// window: a request that crossed the write (or several, from a
		// page's concurrent calls). Give it the current session and
		// cookie.
		return loaded{s: s, cookie: true, dirty: recOldKey}, nil
	case gen < rec.Generation:
		return loaded{}, v.m.reuseDetected(ctx, s, gen, rec.Generation)
	}
	return loaded{}, fmt.Errorf("%w: the reference is newer than its session", ErrInvalidSession)
}

// openRef verifies a reference cookie, through the cache of verified ones.
func (v *serverStorage) openRef(value string) (openedRef, error) {
	if ref, ok := v.refs.Get(value); ok {
		return ref, nil
	}
	payload, oldKey, err := v.m.sealer.OpenRef(v.chunks.Name(), value, maxRef)
	if err != nil || len(payload) < 17 {
		return openedRef{}, fmt.Errorf("%w: not a session reference", ErrInvalidSession)
	}
	rd := wire.NewReader(payload[16:])
	ref := openedRef{id: base64.RawURLEncoding.EncodeToString(payload[:16]), gen: rd.Uvarint(), oldKey: oldKey}
	if rd.Done() != nil {
		return openedRef{}, fmt.Errorf("%w: not a session reference", ErrInvalidSession)
	}
	v.refs.Put(value, ref)
	return ref, nil
}

// inGrace reports whether a cookie of generation gen is inside its grace
// window: s's record says that generation was replaced less than the
// grace window ago.
func (v *serverStorage) inGrace(s *Session, gen uint64) bool {
	now := v.m.cfg.now()
	for _, r := range s.replaced {
		if r.Gen == gen {
			return now.Before(r.At.Add(v.m.cfg.graceWindow))
		}
	}
	return false
}

// open unseals a record, through the cache of opened records.
func (v *serverStorage) open(rec *Record) (*Session, bool, error) {
	if o, ok := v.opened.Get(rec.ID); ok && o.gen == rec.Generation {
		return &Session{d: o.d, gen: rec.Generation, replaced: o.replaced}, false, nil
	}
	payload, oldKey, err := v.m.sealer.Open(recordName, string(rec.Sealed))
	if err != nil {
		return nil, false, fmt.Errorf("%w: the stored session does not open with these keys", ErrInvalidSession)
	}
	replaced, d, err := state.DecodeRecord(payload)
	if err != nil || d.ID != rec.ID {
		return nil, false, fmt.Errorf("%w: the stored session is malformed", ErrInvalidSession)
	}
	if !oldKey {
		v.opened.Put(rec.ID, openedRecord{rec.Generation, d, replaced})
	}
	return &Session{d: d, gen: rec.Generation, replaced: replaced}, oldKey, nil
}

// persist writes s's record as the generation after the one s was read
// from, if no other request or replica wrote first (ErrConflict). A write
// whose answer was lost (an error, or a conflict from a store that retried
// it) is looked up: if the store holds exactly this record, it succeeded,
// and the browser must get its cookie, or its next request would look
// like a replay once the grace window is over.
func (v *serverStorage) persist(ctx context.Context, s *Session) (*Session, error) {
	rec, ns, err := v.record(s)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	err = v.st.Put(ctx, rec, s.gen)
	if err == nil || v.stored(ctx, rec) {
		return ns, nil
	}
	if errors.Is(err, ErrConflict) {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
}

// stored reports whether the store holds exactly rec.
func (v *serverStorage) stored(ctx context.Context, rec *Record) bool {
	cur, err := v.st.Get(ctx, rec.ID)
	return err == nil && cur.Generation == rec.Generation && bytes.Equal(cur.Sealed, rec.Sealed)
}

// record is s's record as the generation after the one s was read from,
// sealed with the Middleware's keys, found by its subject and provider
// session, and remembering when the generations still inside the grace
// window were replaced (s's own, now).
func (v *serverStorage) record(s *Session) (*Record, *Session, error) {
	now := v.m.cfg.now()
	replaced := make([]state.Replaced, 0, min(len(s.replaced)+1, state.MaxReplaced))
	for _, r := range s.replaced[max(len(s.replaced)+1-state.MaxReplaced, 0):] {
		if now.Before(r.At.Add(v.m.cfg.graceWindow)) {
			replaced = append(replaced, r)
		}
	}
	if s.gen > 0 {
		replaced = append(replaced, state.Replaced{Gen: s.gen, At: now})
	}
	sealed, err := v.m.sealer.Seal(recordName, state.EncodeRecord(make([]byte, 0, 2048), replaced, s.d))
	if err != nil {
		return nil, nil, fmt.Errorf("oidcsession: sealing the session: %w", err)
	}
	rec := &Record{
		ID: s.d.ID, Generation: s.gen + 1, Written: now,
		Expires: v.m.expires(s.d), Index: []string{"sub:" + s.d.Subject}, Sealed: []byte(sealed),
	}
	if s.d.SID != "" {
		rec.Index = append(rec.Index, "sid:"+s.d.SID)
	}
	return rec, &Session{d: s.d, gen: rec.Generation, replaced: replaced}, nil
}

func (v *serverStorage) writeCookie(w http.ResponseWriter, r *http.Request, s *Session) error {
	id, err := base64.RawURLEncoding.DecodeString(s.d.ID)
	if err != nil || len(id) != 16 {
		return fmt.Errorf("oidcsession: session ID %q is not one of ours", s.d.ID)
	}
	ref := v.m.sealer.SignRef(v.chunks.Name(), wire.AppendUvarint(id, s.gen))
	return v.chunks.Write(w, r.Header, ref, v.m.cookieMaxAge(s.d))
}

func (v *serverStorage) clear(w http.ResponseWriter, r *http.Request) { v.chunks.Clear(w, r.Header) }

func (v *serverStorage) end(ctx context.Context, s *Session) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := v.st.Delete(ctx, s.d.ID); err != nil {
		return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	return nil
}

func (v *serverStorage) reload(ctx context.Context, s *Session) (*Session, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	rec, err := v.st.Get(ctx, s.d.ID)
	if err != nil {
		return nil, err
	}
	cur, _, err := v.open(rec)
	return cur, err
}

func (v *serverStorage) cacheStats() (uint64, uint64) { return v.opened.Stats() }

// historyRoom is what a record's replacement history (state.MaxReplaced
// generations and times) may add once sealed.
const historyRoom = state.MaxReplaced * 40

// fits: a record must open again, and sealed values open only up to the
// length of WithMaxChunks cookies; a session is kept within it, with room
// for its replacement history.
func (v *serverStorage) fits(d *state.Session) error {
	sealed, err := v.m.sealer.Seal(recordName, state.EncodeRecord(make([]byte, 0, 2048), nil, d))
	if err != nil {
		return err
	}
	if limit := v.m.cfg.maxChunks*cookie.MaxSetCookie - historyRoom; len(sealed) > limit {
		return fmt.Errorf("%w: %d bytes sealed, over the %d a stored session may take (WithMaxChunks)", ErrSessionTooLarge, len(sealed), limit)
	}
	return nil
}

// grantKey for records is the session and the generation whose refresh
// token is spent.
func (v *serverStorage) grantKey(s *Session) string {
	return "s:" + s.d.ID + ":" + strconv.FormatUint(s.gen, 10)
}

// TokenReuse describes a replayed server-side session cookie, for
// WithOnTokenReuse.
type TokenReuse struct {
	Subject   string
	SessionID string
}

// reuseDetected handles a cookie that fell behind its session by more
// than the grace window: someone holds a copy. The session is revoked
// everywhere (its record deleted), its refresh token revoked at the
// provider, the hook called, and the request answered
// 401 token_reuse_detected.
func (m *Middleware) reuseDetected(ctx context.Context, s *Session, cookieGen, storeGen uint64) error {
	m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "oidcsession: session cookie replayed after rotation; the session is revoked",
		slog.String("subject", s.d.Subject), slog.String("session", s.d.ID),
		slog.Uint64("cookie_generation", cookieGen), slog.Uint64("generation", storeGen))
	_ = m.storage.end(ctx, s)
	m.revokeAtProvider(ctx, s.d, "token reuse")
	m.emit(ctx, Event{Kind: EventTokenReuse})
	if m.cfg.onTokenReuse != nil {
		func() {
			defer func() { _ = recover() }()
			m.cfg.onTokenReuse(ctx, TokenReuse{Subject: s.d.Subject, SessionID: s.d.ID})
		}()
	}
	return &reuseError{subject: s.d.Subject, sessionID: s.d.ID}
}
