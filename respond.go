package oidcsession

import (
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// WriteError is the default error handler: it answers err as the HTTP
// contract in the README says. Custom handlers (WithErrorHandler, OnError)
// may call it for the errors they do not handle themselves.
//
//   - ErrCSRF: 403 {"error":"csrf"}
//   - ErrMethodNotAllowed: 405 with Allow: POST
//   - a transient *RefreshError: 503 {"error":"temporarily_unavailable"} with
//     Retry-After (pages: a short HTML page with a link to try again)
//   - a rejected *RefreshError (RefreshOptions refused): 400 {"error":"invalid_request"}
//   - ErrAccessTokenExpired: 401 {"error":"try_refresh"} with WWW-Authenticate
//   - ErrSessionExpired (terminal refresh failures too): pages are redirected
//     to the login URL with return_to, others get 401 {"error":"session_expired"}
//   - ErrNoSession, ErrInvalidSession: pages are redirected to the login URL
//     with return_to, others get 401 {"error":"unauthenticated"}
//   - ErrInvalidCallback: 400 {"error":"invalid_request"}; an
//     *AuthorizationError: its code, 403 for access_denied, 401 for
//     login_required and the like; ErrProviderUnavailable: 503;
//     ErrUserInfo, ErrUserInfoMismatch: 502. Pages get a short HTML page
//     with a link to sign in again instead of JSON.
//   - anything else: 500 {"error":"server_error"}
//
// A page is a GET or HEAD that accepts text/html.
func (m *Middleware) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrCSRF):
		writeJSON(w, http.StatusForbidden, errorBody{"csrf", "cross-site request refused: send X-Session-Refresh: 1 from the same origin"})
	case errors.Is(err, ErrMethodNotAllowed):
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{"method_not_allowed", "use POST"})
	case IsTransient(err):
		w.Header().Set("Retry-After", strconv.Itoa(int(m.cfg.retryAfter.Seconds())))
		if isPage(r) {
			writePage(w, http.StatusServiceUnavailable, "Temporarily unavailable",
				"The sign-in service could not renew your session just now. Your session is kept.", "Try again", safeReturnTo(r.URL.RequestURI()))
			return
		}
		writeJSON(w, http.StatusServiceUnavailable, errorBody{"temporarily_unavailable", "the identity provider could not refresh the session; try again shortly"})
	case isRejected(err):
		writeJSON(w, http.StatusBadRequest, errorBody{"invalid_request", "the provider refused the requested scope or resource"})
	case errors.Is(err, ErrAccessTokenExpired):
		const desc = "the access token expired; call the refresh endpoint and retry"
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+desc+`"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{"try_refresh", desc})
	case errors.Is(err, ErrSessionExpired):
		if isPage(r) {
			m.redirectToLogin(w, r)
			return
		}
		writeJSON(w, http.StatusUnauthorized, errorBody{"session_expired", "the session has ended; sign in again"})
	case errors.Is(err, ErrNoSession), errors.Is(err, ErrInvalidSession):
		if isPage(r) {
			m.redirectToLogin(w, r)
			return
		}
		writeJSON(w, http.StatusUnauthorized, errorBody{"unauthenticated", "sign in first"})
	case isLoginError(err):
		m.writeLoginError(w, r, err)
	default:
		writeJSON(w, http.StatusInternalServerError, errorBody{"server_error", "the session could not be processed"})
	}
}

// isPage reports whether r is a browser navigation that can follow a
// redirect to the login page.
func isPage(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// redirectToLogin sends a page request to the login URL, asking to come
// back to where it was.
func (m *Middleware) redirectToLogin(w http.ResponseWriter, r *http.Request) {
	sep := "?"
	if strings.Contains(m.cfg.loginURL, "?") {
		sep = "&"
	}
	target := m.cfg.loginURL + sep + "return_to=" + url.QueryEscape(r.URL.RequestURI())
	http.Redirect(w, r, target, http.StatusFound)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func isRejected(err error) bool {
	var re *RefreshError
	return errors.As(err, &re) && re.Class == RefreshRejected
}

// writePage answers a browser navigation with a minimal HTML page: a title,
// a message and one link. Everything is escaped; the CSP forbids scripts.
func writePage(w http.ResponseWriter, status int, title, message, linkText, href string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
		`<title>` + html.EscapeString(title) + `</title><body style="font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem">` +
		`<h1>` + html.EscapeString(title) + `</h1><p>` + html.EscapeString(message) + `</p>` +
		`<p><a href="` + html.EscapeString(href) + `">` + html.EscapeString(linkText) + `</a></p></body></html>` + "\n"))
}
