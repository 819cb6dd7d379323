package oidcsession

import (
	"fmt"
	"net/http"
	"time"
)

// sessionStore is where sessions live between requests. Require, the
// refresh engine and the handlers only talk to this seam, so a server-side
// store (tokens in Redis, the cookie holding an id and generation) can
// replace the cookie store without reshaping them.
type sessionStore interface {
	// load returns the request's session, ErrNoSession when there is none,
	// or an error matching ErrInvalidSession when it cannot be trusted.
	load(r *http.Request) (*Session, error)
	// save persists s and writes whatever cookies point at it.
	save(w http.ResponseWriter, r *http.Request, s *Session) error
	// clear forgets the request's session and deletes its cookies.
	clear(w http.ResponseWriter, r *http.Request)
	// fits reports, with an error matching ErrSessionTooLarge, a session
	// that save could not store.
	fits(s *Session) error
}

// cookieStore keeps the whole session in sealed cookies: no shared state,
// nothing to run.
type cookieStore struct {
	sealer   *sealer
	name     string
	absolute time.Duration
	now      func() time.Time
	opened   *openedCache // nil when WithOpenedCache(0)
}

func (st *cookieStore) load(r *http.Request) (*Session, error) {
	value, err := st.sealer.readSealed(r, st.name)
	if err != nil {
		return nil, err
	}
	if s := st.opened.get(value); s != nil {
		return s, nil
	}
	payload, oldKey, err := st.sealer.open(st.name, value)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSession, err)
	}
	s, err := decodePayload(payload)
	if err != nil {
		return nil, ErrInvalidSession
	}
	s.sealedWithOldKey = oldKey
	st.opened.put(value, s)
	return s, nil
}

func (st *cookieStore) save(w http.ResponseWriter, r *http.Request, s *Session) error {
	value, err := st.sealer.seal(st.name, encodePayload(make([]byte, 0, 2048), s))
	if err != nil {
		return err
	}
	maxAge := int(s.created.Add(st.absolute).Sub(st.now()).Seconds())
	if maxAge < 1 {
		maxAge = 1
	}
	return st.sealer.writeSealed(w, r, st.name, value, maxAge)
}

func (st *cookieStore) fits(s *Session) error {
	value, err := st.sealer.seal(st.name, encodePayload(make([]byte, 0, 2048), s))
	if err != nil {
		return err
	}
	return st.sealer.fits(st.name, value)
}

func (st *cookieStore) clear(w http.ResponseWriter, r *http.Request) {
	st.sealer.clear(w, r, st.name)
}
