package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/oidcsession/oidcsession"
)

// devices is the "Your sessions" card of /app: where the user is signed
// in, from Middleware.Sessions, which needs a Store (REDIS_URL).
type devices struct {
	Listable bool     // false: sessions live in cookies, and the card says what listing needs
	Problem  string   // why the list is missing just now (the store did not answer)
	List     []device // newest first
	Others   int      // how many are not this device
}

// device is one session as the card shows it.
type device struct {
	ID        string
	UserAgent string // a summary of the browser that signed in: a hint, not a proof
	Created   stamp
	LastSeen  stamp // zero when not recorded
	Current   bool  // the session of this request: "This device"
}

// stamp is a time for a <time> element: RFC 3339 for the page's script,
// which shows it in the browser's time zone, and text for a page without it.
type stamp struct{ ISO, Text string }

func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return stamp{}
	}
	t = t.UTC()
	return stamp{t.Format(time.RFC3339), t.Format("2 Jan 2006, 15:04 UTC")}
}

// devicesOf lists the sessions of s's subject: s's own first, marked,
// then the others newest first.
func (a *app) devicesOf(ctx context.Context, s *oidcsession.Session) devices {
	infos, err := a.m.Sessions(ctx, s.Subject())
	switch {
	case errors.Is(err, oidcsession.ErrNoStore):
		return devices{}
	case err != nil:
		return devices{Listable: true, Problem: "Your sessions could not be listed just now: the session store did not answer. Reload to try again."}
	}
	d := devices{Listable: true}
	for _, in := range infos {
		dv := device{ID: in.ID, UserAgent: in.UserAgent, Created: stampOf(in.Created), Current: in.ID == s.ID()}
		if dv.UserAgent == "" {
			dv.UserAgent = "Unknown browser"
		}
		// The package records activity coarsely (an eighth of the idle
		// timeout): a last-seen time next to the sign-in says nothing more.
		if in.LastSeen.Sub(in.Created) >= time.Minute {
			dv.LastSeen = stampOf(in.LastSeen)
		}
		if !dv.Current {
			d.Others++
		}
		d.List = append(d.List, dv)
	}
	// Stable: the others keep Sessions' order, newest first.
	slices.SortStableFunc(d.List, func(x, y device) int {
		switch {
		case x.Current == y.Current:
			return 0
		case x.Current:
			return -1
		}
		return 1
	})
	return d
}

// sameOrigin refuses a state-changing request that is not from one of the
// app's own pages with the package's own defence (CheckCSRF: Go's
// cross-origin protection and the header X-Session-Refresh: 1), answered
// 403 {"error":"csrf"}.
func (a *app) sameOrigin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.m.CheckCSRF(r); err != nil {
			a.m.WriteError(w, r, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// signOutDevice is POST /api/sessions/sign-out (form field id): it ends one
// of the signed-in user's own sessions with RevokeSessionOf, which revokes
// its refresh token at the provider and deletes it from the store, so the
// device's next request is refused on every replica. An id that is not
// one of this user's sessions (another user's, an ended one, or none)
// answers 404 and ends nothing: RevokeSessionOf checks the owner, never
// the id alone.
func (a *app) signOutDevice(w http.ResponseWriter, r *http.Request) {
	s, ok := oidcsession.FromContext(r.Context())
	if !ok {
		http.Error(w, "no session", http.StatusInternalServerError)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	id := r.PostFormValue("id")
	if id == "" {
		writeJSON(w, http.StatusBadRequest, apiError{"invalid_request", "the form field id names the session to sign out"})
		return
	}
	switch err := a.m.RevokeSessionOf(r.Context(), s.Subject(), id); {
	case errors.Is(err, oidcsession.ErrNotFound):
		writeJSON(w, http.StatusNotFound, apiError{"not_found", "you have no session with that id; it may have ended already"})
		return
	case err != nil:
		a.sessionsFailed(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "signed out one of a user's devices", "subject", s.Subject(), "this_device", id == s.ID())
	writeJSON(w, http.StatusOK, map[string]any{"signed_out": 1})
}

// signOutOthers is POST /api/sessions/sign-out-others: it ends every
// session of the signed-in user but this one, as signOutDevice does for
// one. It answers {"signed_out": n}.
func (a *app) signOutOthers(w http.ResponseWriter, r *http.Request) {
	s, ok := oidcsession.FromContext(r.Context())
	if !ok {
		http.Error(w, "no session", http.StatusInternalServerError)
		return
	}
	own, err := a.m.Sessions(r.Context(), s.Subject())
	if err != nil {
		a.sessionsFailed(w, r, err)
		return
	}
	n := 0
	for _, in := range own {
		if in.ID == s.ID() {
			continue
		}
		if err := a.m.RevokeSession(r.Context(), in.ID); err != nil {
			// Those ended so far stay ended; the list shows what is left.
			a.m.WriteError(w, r, err)
			return
		}
		n++
	}
	a.log.InfoContext(r.Context(), "signed out a user's other devices", "subject", s.Subject(), "count", n)
	writeJSON(w, http.StatusOK, map[string]any{"signed_out": n})
}

// sessionsFailed answers a failed Sessions: 501 without a Store (the
// app keeps sessions in cookies), else as the package answers errors (503
// while the store is unavailable).
func (a *app) sessionsFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, oidcsession.ErrNoStore) {
		writeJSON(w, http.StatusNotImplemented, apiError{"no_store", "sessions are kept in cookies, which cannot be listed or signed out one by one: start the app with REDIS_URL"})
		return
	}
	a.m.WriteError(w, r, err)
}

// apiError is the body of the app's own error answers, shaped like the
// package's.
type apiError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
