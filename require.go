package oidcsession

import (
	"bufio"
	"errors"
	"net"
	"net/http"
)

// RequireOption configures one Require.
type RequireOption func(*requireConfig)

type requireConfig struct {
	tryRefresh   bool
	optional     bool
	errorHandler func(http.ResponseWriter, *http.Request, error)
}

// TryRefresh makes Require answer an expired access token with 401
// {"error":"try_refresh"} instead of refreshing inline: the browser calls
// the refresh handler and retries (the SuperTokens contract). A token
// inside the refresh window but not yet expired still passes, and a
// request that carries the cookie from before another request's refresh,
// inside the grace window, is given the new session. Default: refresh
// inline.
func TryRefresh() RequireOption {
	return func(c *requireConfig) { c.tryRefresh = true }
}

// Optional lets requests without a usable session through, with no
// session in the context, instead of answering them as errors: for public
// pages that show more to a signed-in user. A session that is present is
// still refreshed, and one that has ended or cannot be trusted is still
// deleted. Default: required.
func Optional() RequireOption {
	return func(c *requireConfig) { c.optional = true }
}

// OnError answers this Require's errors with h instead of the Middleware's
// error handler. Default: the Middleware's (WithErrorHandler).
func OnError(h func(http.ResponseWriter, *http.Request, error)) RequireOption {
	return func(c *requireConfig) {
		if h != nil {
			c.errorHandler = h
		}
	}
}

// Require returns middleware that lets a request through only with a valid
// session, which it puts in the request's context (see FromContext). An
// access token that has expired or is inside the refresh window is
// refreshed inline before next runs, or, with TryRefresh, reported as 401
// try_refresh once expired. Set-Cookie is written only when the session
// changed: refreshed, its idle clock advanced (at most every eighth of the
// idle timeout), or sealed with a retired key; such a response always
// leaves with Cache-Control: no-store.
func (m *Middleware) Require(opts ...RequireOption) func(http.Handler) http.Handler {
	rc := requireConfig{errorHandler: m.errorHandler()}
	for _, opt := range opts {
		if opt != nil {
			opt(&rc)
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Vary", "Cookie")
			res, err := m.resolve(w, r, policy{
				tryRefresh:     rc.tryRefresh,
				serveUnexpired: !rc.tryRefresh,
				renew:          !rc.tryRefresh && m.cfg.signIn.silent && isPage(r) && m.oauth.RedirectURL != "",
			})
			switch {
			case errors.Is(err, errRenew):
				if m.redirectToProvider(w, r, safeReturnTo(r.URL.RequestURI()), "none", true, true) == nil {
					return
				}
				err = ErrSessionExpired
			case err != nil && rc.optional:
				next.ServeHTTP(w, r)
				return
			}
			if err != nil {
				w.Header().Set("Cache-Control", "no-store")
				rc.errorHandler(w, r, err)
				return
			}
			r = r.WithContext(NewContext(r.Context(), res.s))
			if !res.wrote {
				next.ServeHTTP(w, r)
				return
			}
			nw := &noStoreWriter{ResponseWriter: w}
			next.ServeHTTP(nw, r)
			nw.enforce()
		})
	}
}

// noStoreWriter keeps "Cache-Control: no-store" on a response that carries
// new session cookies, whatever the handler sets: a shared cache must
// never hand one user's Set-Cookie to another. Only such responses (a
// refresh, an idle-clock or key-rotation write) are wrapped, so the valid
// path stays unwrapped; Unwrap, Flush and Hijack keep
// http.ResponseController and the usual type assertions working.
type noStoreWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *noStoreWriter) WriteHeader(code int) {
	w.enforce()
	w.ResponseWriter.WriteHeader(code)
}

func (w *noStoreWriter) Write(b []byte) (int, error) {
	w.enforce()
	return w.ResponseWriter.Write(b)
}

// enforce sets the header before the first byte goes out; it runs again
// after the handler, for one that never wrote.
func (w *noStoreWriter) enforce() {
	if !w.wrote {
		w.wrote = true
		w.Header().Set("Cache-Control", "no-store")
	}
}

func (w *noStoreWriter) Flush() {
	w.enforce()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *noStoreWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *noStoreWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
