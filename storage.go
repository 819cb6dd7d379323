package oidcsession

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/oidcsession/oidcsession/internal/cookie"
	"github.com/oidcsession/oidcsession/internal/state"
)

// storage is where sessions live between requests: in sealed cookies
// (cookieStorage, the default) or in a Store with a reference in the
// cookie (serverStorage). The pipeline, the engine and the handlers talk
// only to it; the sign-in flow is bound to the browser and always lives in
// its own cookie (flows.go), whatever the storage.
type storage interface {
	// load returns the request's session. Errors match ErrNoSession,
	// ErrInvalidSession (untrusted: clear it), ErrSessionExpired (revoked
	// or deleted), ErrTokenReuse, or ErrStoreUnavailable (keep it).
	load(r *http.Request) (loaded, error)
	// persist stores s where other requests find it and returns s as
	// stored: a no-op for cookies, a compare-and-set write for a record.
	persist(ctx context.Context, s *Session) (*Session, error)
	// writeCookie writes the cookies that point at s.
	writeCookie(w http.ResponseWriter, r *http.Request, s *Session) error
	// clear deletes the request's session cookies.
	clear(w http.ResponseWriter, r *http.Request)
	// end ends s where it is stored, so no copy of its cookie works again:
	// a no-op for cookies, which cannot be revoked.
	end(ctx context.Context, s *Session) error
	// fits reports, matching ErrSessionTooLarge, a session persist and
	// writeCookie could not store.
	fits(d *state.Session) error
	// grantKey names, for the Coordinator, the spending of s's refresh
	// token.
	grantKey(s *Session) string
	// reload reads s's session again: for cookies, s itself.
	reload(ctx context.Context, s *Session) (*Session, error)
	// cacheStats reports the opened-cookie (or opened-record) cache's hits
	// and misses.
	cacheStats() (hits, misses uint64)
	// record is the Store record that persist writes for s, and s as
	// that record holds it: nil and s for cookies. The engine writes it
	// with the grant's outcome in one step.
	record(s *Session) (*Record, *Session, error)
}

// loaded is a session as load found it.
type loaded struct {
	s      *Session
	cookie bool // the cookie must be written again though s did not change
	dirty  bool // s must be persisted again though it did not change
}

// What an opened-cache entry costs beyond its key: a decoded session and
// the map's share (a cookie's key is its sealed value, a record's only its
// ID, so a record's entry counts its decoded payload too); a verified
// reference and the map's share.
const (
	sessionOverhead = 2048
	recordOverhead  = 4096
	refOverhead     = 128
)

// newStorage picks the storage the options ask for.
func (m *Middleware) newStorage() storage {
	chunks := cookie.NewChunked(m.cfg.cookieName, m.attrs, m.cfg.maxChunks)
	if m.cfg.store != nil {
		return &serverStorage{
			m: m, st: m.cfg.store, chunks: chunks,
			opened: cookie.NewOpened[openedRecord](m.cfg.openedCacheBytes*7/8, recordOverhead),
			refs:   cookie.NewOpened[openedRef](m.cfg.openedCacheBytes/8, refOverhead),
		}
	}
	return &cookieStorage{m: m, chunks: chunks, opened: cookie.NewOpened[openedSession](m.cfg.openedCacheBytes, sessionOverhead)}
}

// newSessionID returns a random session ID: 128 bits, base64url.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// cookieMaxAge is the Max-Age of s's cookies: until its absolute lifetime
// ends.
func (m *Middleware) cookieMaxAge(s *state.Session) int {
	return max(int(s.Created.Add(m.cfg.absoluteLifetime).Sub(m.cfg.now()).Seconds()), 1)
}

// cookieStorage keeps the whole session in sealed cookies: no shared
// state, nothing to run, but nothing to revoke either.
type cookieStorage struct {
	m      *Middleware
	chunks *cookie.Chunked
	opened *cookie.Opened[openedSession]
}

// openedSession is a verified cookie value's session, and whether a
// retired key sealed it.
type openedSession struct {
	s      *Session
	oldKey bool
}

func (c *cookieStorage) load(r *http.Request) (loaded, error) {
	value, err := c.chunks.Read(r.Header)
	switch {
	case errors.Is(err, cookie.ErrAbsent):
		return loaded{}, ErrNoSession
	case err != nil:
		return loaded{}, fmt.Errorf("%w: %w", ErrInvalidSession, err)
	}
	if o, ok := c.opened.Get(value); ok {
		return loaded{s: o.s, cookie: o.oldKey}, nil
	}
	payload, oldKey, err := c.m.sealer.Open(c.chunks.Name(), value)
	if err != nil {
		return loaded{}, fmt.Errorf("%w: %w", ErrInvalidSession, err)
	}
	d, err := state.DecodeSession(payload)
	if err != nil {
		return loaded{}, fmt.Errorf("%w: %w", ErrInvalidSession, err)
	}
	s := &Session{d: d}
	c.opened.Put(value, openedSession{s, oldKey})
	return loaded{s: s, cookie: oldKey}, nil
}

func (c *cookieStorage) persist(_ context.Context, s *Session) (*Session, error) { return s, nil }

func (c *cookieStorage) writeCookie(w http.ResponseWriter, r *http.Request, s *Session) error {
	value, err := c.m.sealer.Seal(c.chunks.Name(), state.EncodeSession(make([]byte, 0, 2048), s.d))
	if err != nil {
		return fmt.Errorf("oidcsession: sealing the session: %w", err)
	}
	if err := c.chunks.Write(w, r.Header, value, c.m.cookieMaxAge(s.d)); err != nil {
		return fmt.Errorf("%w: %d bytes sealed", ErrSessionTooLarge, len(value))
	}
	return nil
}

func (c *cookieStorage) clear(w http.ResponseWriter, r *http.Request) { c.chunks.Clear(w, r.Header) }

func (c *cookieStorage) end(context.Context, *Session) error { return nil }

func (c *cookieStorage) reload(_ context.Context, s *Session) (*Session, error) { return s, nil }

func (c *cookieStorage) cacheStats() (uint64, uint64) { return c.opened.Stats() }

func (c *cookieStorage) record(s *Session) (*Record, *Session, error) { return nil, s, nil }

func (c *cookieStorage) fits(d *state.Session) error {
	value, err := c.m.sealer.Seal(c.chunks.Name(), state.EncodeSession(make([]byte, 0, 2048), d))
	if err != nil {
		return err
	}
	if c.chunks.Fits(value) != nil {
		return fmt.Errorf("%w: %d bytes sealed need more than %d cookies", ErrSessionTooLarge, len(value), c.m.cfg.maxChunks)
	}
	return nil
}

// grantKey for cookies is the refresh token's hash: every cookie that
// holds the token, on any replica, names the same grant.
func (c *cookieStorage) grantKey(s *Session) string {
	sum := sha256.Sum256([]byte(s.d.RefreshToken))
	return "rt:" + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// storeTimeout bounds every call to the Store, so a slow store makes
// requests fail fast with 503 instead of piling up.
const storeTimeout = 2 * time.Second
