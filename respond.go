package oidcsession

import (
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/oidcsession/oidcsession/internal/provider"
)

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// answer is how one error is answered.
type answer struct {
	status int
	code   string
	desc   string
	page   pageAnswer // what a page request (a browser navigation) gets instead of JSON
}

type pageAnswer int

const (
	pageJSON     pageAnswer = iota // JSON like everyone
	pageLogin                      // a redirect to the login URL with return_to
	pageTryAgain                   // a short page with a link back to where it was
	pageSignIn                     // a short page with a link to sign in again
)

// answerFor is the one table from error to HTTP answer; the README's
// contract and error table say the same.
func (m *Middleware) answerFor(err error) answer {
	var pe *ProviderError
	switch {
	case errors.Is(err, ErrCSRF):
		return answer{http.StatusForbidden, "csrf", "cross-site request refused: send it from the same origin (the refresh and sign-out endpoints also need X-Session-Refresh: 1)", pageJSON}
	case errors.Is(err, ErrMethodNotAllowed):
		return answer{http.StatusMethodNotAllowed, "method_not_allowed", "this endpoint does not take that method", pageJSON}
	case errors.Is(err, ErrStoreUnavailable), IsTransient(err):
		return answer{http.StatusServiceUnavailable, "temporarily_unavailable", "the session could not be renewed just now; it is kept: try again shortly", pageTryAgain}
	case isRejected(err):
		return answer{http.StatusBadRequest, "invalid_request", "the provider refused the requested scope or resource", pageJSON}
	case errors.Is(err, ErrRefreshFailed) && !errors.Is(err, ErrSessionExpired):
		return answer{http.StatusBadRequest, "invalid_request", "the session cannot be refreshed: it has no refresh token", pageJSON}
	case errors.Is(err, ErrAccessTokenExpired):
		return answer{http.StatusUnauthorized, "try_refresh", "the access token expired; call the refresh endpoint and retry", pageJSON}
	case errors.Is(err, ErrTokenReuse):
		return answer{http.StatusUnauthorized, "token_reuse_detected", "this session's cookie was used after it had been replaced; the session is revoked: sign in again", pageLogin}
	case errors.Is(err, ErrSessionExpired):
		return answer{http.StatusUnauthorized, "session_expired", "the session has ended; sign in again", pageLogin}
	case errors.Is(err, ErrNoSession), errors.Is(err, ErrInvalidSession):
		return answer{http.StatusUnauthorized, "unauthenticated", "sign in first", pageLogin}
	case errors.As(err, &pe):
		return providerAnswer(pe)
	case errors.Is(err, ErrNoIDToken):
		return answer{http.StatusBadGateway, "invalid_token_response", "the identity provider sent no ID token", pageSignIn}
	case errors.Is(err, ErrSessionTooLarge):
		return answer{http.StatusInternalServerError, "session_too_large", "the session is too large to store", pageSignIn}
	}
	return answer{http.StatusInternalServerError, "server_error", "the session could not be processed", pageJSON}
}

// providerAnswer answers a ProviderError by its kind and code.
func providerAnswer(pe *ProviderError) answer {
	a := answer{http.StatusBadRequest, "invalid_request", pe.Reason, pageSignIn}
	switch {
	case errors.Is(pe.Kind, ErrProviderUnavailable):
		a.status, a.code = http.StatusServiceUnavailable, "temporarily_unavailable"
	case errors.Is(pe.Kind, ErrUserInfo), errors.Is(pe.Kind, ErrUserInfoMismatch):
		a.status, a.code = http.StatusBadGateway, "userinfo_failed"
	case errors.Is(pe.Kind, ErrAuthorizationFailed):
		a.code = pe.Code
		switch pe.Code {
		case "access_denied":
			a.status = http.StatusForbidden
		case "login_required", "consent_required", "interaction_required", "account_selection_required":
			a.status = http.StatusUnauthorized
		case "temporarily_unavailable":
			a.status = http.StatusServiceUnavailable
		case "server_error":
			a.status = http.StatusBadGateway
		}
	}
	return a
}

// WriteError is the default error handler: it answers err as the HTTP
// contract in the README says (see answerFor, the one table). Custom
// handlers (WithErrorHandler, OnError) may call it for the errors they do
// not handle themselves. A page is a GET or HEAD that accepts text/html:
// it gets a redirect to the login URL, or a short HTML page, instead of
// JSON; 503 answers carry Retry-After; try_refresh carries
// WWW-Authenticate.
func (m *Middleware) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	a := m.answerFor(err)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	switch a.status {
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", strconv.Itoa(int(m.cfg.retryAfter.Seconds())))
	case http.StatusMethodNotAllowed:
		if h.Get("Allow") == "" {
			h.Set("Allow", http.MethodPost)
		}
	}
	if a.code == "try_refresh" {
		h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+a.desc+`"`)
	}
	if isPage(r) {
		switch a.page {
		case pageLogin:
			m.redirectToLogin(w, r)
			return
		case pageTryAgain:
			writePage(w, a.status, "Temporarily unavailable", "The sign-in service could not renew your session just now. Your session is kept.", "Try again", safeReturnTo(r.URL.RequestURI()))
			return
		case pageSignIn:
			writePage(w, a.status, "Sign-in failed", upperFirst(a.desc)+".", "Sign in again", m.cfg.loginURL)
			return
		}
	}
	writeJSON(w, a.status, errorBody{a.code, a.desc})
}

func isRejected(err error) bool {
	var re *RefreshError
	return errors.As(err, &re) && re.Class == RefreshRejected
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
	http.Redirect(w, r, m.cfg.loginURL+sep+"return_to="+url.QueryEscape(safeReturnTo(r.URL.RequestURI())), http.StatusFound)
}

// oauthCode returns code if it is a plain OAuth error code, else
// "invalid_request", so answers and pages never carry attacker-chosen text.
func oauthCode(code string) string {
	if c := provider.Code(code); c != "" {
		return c
	}
	return "invalid_request"
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

func upperFirst(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
