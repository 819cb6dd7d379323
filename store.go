package oidcsession

import (
	"context"
	"errors"
	"time"
)

// Errors a Store or Coordinator returns. Any other error means the backend
// is unavailable: requests get 503 with the session kept, never a lost
// session or a refresh token spent twice.
var (
	// ErrNotFound: no record, or nothing published, under the key.
	ErrNotFound = errors.New("oidcsession: not found in the store")
	// ErrConflict: Put found another generation than the one it was
	// given, because another request or replica wrote first.
	ErrConflict = errors.New("oidcsession: record changed meanwhile")
)

// Coordinator lets the replicas of a deployment agree on which one spends
// a refresh token and share what came of it, so that a rotating refresh
// token is presented once however many replicas see it expire. The
// Middleware runs the protocol (claim, grant, settle; the others wait on a
// watch); a Coordinator provides these primitives, each one atomic step
// (one round trip to a remote store). A grant costs two: Claim and Settle.
//
// Contract: every method is safe for concurrent use by many goroutines and
// processes; values are opaque to it (sealed by the Middleware, so a dump
// reveals no token), and so are keys, but for one promise: a key about one
// server-side session is "s:<ID>:<generation>" or "ended:<ID>", ID being
// its Record's, so a sharded backend (Redis Cluster) can keep a Settle's
// record and outcome on one shard; ttl bounds how long anything it
// keeps lives; an error other than ErrNotFound and ErrConflict means it is
// unavailable. The default is in-process; NewMemoryStore gives the same
// for one process, and the redisstore module for several.
type Coordinator interface {
	// Claim takes the claim on key for ttl with value, unless a claim on
	// key is live, and returns what it found: whether it took the claim,
	// the live claim's value, and the outcome published under key, if
	// any.
	Claim(ctx context.Context, key string, value []byte, ttl time.Duration) (Claimed, error)
	// Release deletes the claim on key if it still holds value: a claim
	// taken and not needed, because the outcome it found answered.
	Release(ctx context.Context, key string, value []byte) error
	// Settle ends a claimed grant. With rec (a Store's session record;
	// nil for a Coordinator alone) it first writes rec if the stored
	// generation is prev, and otherwise returns ErrConflict and does
	// nothing else. Then it publishes outcome under key for ttl, waking
	// every Watch of key on every replica, and releases the claim on key
	// if it still holds claim.
	Settle(ctx context.Context, key string, claim, outcome []byte, ttl time.Duration, rec *Record, prev uint64) error
	// Publish stores value under key for ttl and wakes every Watch of key.
	Publish(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Lookup returns the value last published under key that has not
	// expired, or ErrNotFound.
	Lookup(ctx context.Context, key string) ([]byte, error)
	// Watch returns a channel that receives after every Publish or Settle
	// of key made after Watch returned, until ctx is done. Wake-ups may be
	// spurious or coalesced: callers look again after each.
	Watch(ctx context.Context, key string) (<-chan struct{}, error)
}

// Claimed is what Claim found.
type Claimed struct {
	Taken     bool   // this call took the claim
	Held      []byte // the live claim's value: the caller's own when Taken
	Published []byte // the outcome published under the key, nil if none
}

// Store keeps sessions on the server (WithStore). The session cookie then
// holds only a reference: the session's ID and the record's generation,
// under a MAC (about 45 bytes). Revoking a session deletes its record, and
// every replica refuses it from then on. The sign-in flow (state, nonce,
// PKCE verifier) stays in its own short-lived sealed cookie whatever the
// Store: it belongs to the browser that started the sign-in, before there
// is a session to store.
//
// Contract, beyond Coordinator's: Put is atomic (compare-and-set on the
// generation); Get may be served from a cache local to the replica, but a
// Put or Delete on any replica must reach every replica's Get within one
// second; List finds records by the index keys of their latest Put; every
// method is safe for concurrent use and bounds its own time (redisstore's
// WithTimeout): the Middleware puts no deadline of its own on the Get of
// every request, whose timer would cost more than a cached Get; an error
// other than ErrNotFound and ErrConflict means the store is unavailable.
type Store interface {
	Coordinator
	// Get returns the record of session id, or ErrNotFound.
	Get(ctx context.Context, id string) (*Record, error)
	// Put writes rec if the stored record's generation is prev (0: no
	// record may exist yet), else returns ErrConflict.
	Put(ctx context.Context, rec *Record, prev uint64) error
	// Delete removes the record of session id and its index entries; a
	// missing record is not an error.
	Delete(ctx context.Context, id string) error
	// List returns the records whose latest Put carried index.
	List(ctx context.Context, index string) ([]*Record, error)
}

// Record is one server-side session as a Store keeps it.
type Record struct {
	// ID is the session's ID (Session.ID).
	ID string
	// Generation counts the record's writes: 1 when created, prev+1 on
	// every Put. A cookie carries the generation it was written with.
	Generation uint64
	// Written is when this generation was written (Sessions lists by
	// it). When each earlier generation was replaced, which decides
	// whether its cookie is inside the grace window or a replayed copy,
	// is sealed in the record itself.
	Written time.Time
	// Expires is when the session's absolute lifetime ends; the store may
	// drop the record from then on.
	Expires time.Time
	// Index holds the keys List finds the record by: "sub:" + subject and,
	// when the ID token had one, "sid:" + the provider's session id.
	Index []string
	// Sealed is the session, sealed with the Middleware's keys.
	Sealed []byte
}
