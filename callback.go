package oidcsession

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"golang.org/x/oauth2"
)

// AuthorizationError is the provider's error answer to an authorization
// request (RFC 6749 section 4.1.2.1), such as access_denied when the user
// declined. It matches ErrAuthorizationFailed.
type AuthorizationError struct {
	// Code is the provider's error code, e.g. "access_denied"; a value
	// that is not a plain OAuth error code is replaced by "invalid_request".
	Code string
	// Description is the provider's error_description, for logs. Anyone
	// can put text in a callback URL, so it is never shown to the user.
	Description string
}

// Error names the code only; the description is untrusted text.
func (e *AuthorizationError) Error() string {
	return "oidcsession: the provider refused the sign-in: " + e.Code
}

// Is makes every AuthorizationError match ErrAuthorizationFailed.
func (e *AuthorizationError) Is(target error) bool { return target == ErrAuthorizationFailed }

// loginError is a sign-in, sign-out or userinfo failure of one of the
// sentinel kinds, with a reason fit to show a user and, for errors.As, the
// cause, whose text (possibly a provider's response body) stays out of the
// message.
type loginError struct {
	kind   error
	class  string // for the operator's log: refused, unavailable, invalid_id_token; "" for a callback without a flow
	reason string
	cause  error
}

func (e *loginError) Error() string { return e.kind.Error() + ": " + e.reason }

func (e *loginError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// interactionRequired lists the errors after which a prompt=none attempt
// falls back to an interactive sign-in (OIDC Core 3.1.2.6).
func interactionRequired(code string) bool {
	switch code {
	case "login_required", "consent_required", "interaction_required", "account_selection_required":
		return true
	}
	return false
}

// CallbackHandler returns the redirect_uri endpoint (mount it at
// GET /auth/callback). It finds the flow cookie named by state (none:
// 400, so a replayed callback fails because the first use deleted it),
// checks iss (RFC 9207: when present it must be the issuer, and when the
// provider advertises authorization_response_iss_parameter_supported it
// must be present), and then:
//   - on an error parameter after a silent attempt (WithSilentSignIn) that
//     needs interaction, redirects once to an interactive sign-in with the
//     same return_to;
//   - on any other error parameter answers with an *AuthorizationError
//     (access_denied: 403, login_required and similar: 401,
//     temporarily_unavailable: 503, server_error: 502, others 400);
//   - otherwise exchanges the code with the PKCE verifier, verifies the ID
//     token and its nonce, writes the session cookies and answers 303 to
//     return_to.
//
// Failures go to the error handler as ErrInvalidCallback (400),
// ErrAuthorizationFailed or ErrProviderUnavailable (503); the default one
// shows a short page with a link to sign in again, or JSON to non-page
// requests.
func (m *Middleware) CallbackHandler() http.Handler {
	h := m.errorHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{"method_not_allowed", "use GET"})
			return
		}
		if err := m.callback(w, r); err != nil {
			// A failed sign-in leaves the session as it was: the error is
			// about this callback, never about the session cookie.
			m.logSignInFailure(r, err)
			h(w, r, err)
		}
	})
}

// callback does the work of CallbackHandler.
func (m *Middleware) callback(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if len(q["state"]) != 1 {
		return &loginError{kind: ErrInvalidCallback, reason: "the state parameter is missing or repeated"}
	}
	state := q.Get("state")
	// The flow is used once, whatever happens next, and a flow cookie that
	// cannot be used is deleted too, so it cannot linger for its lifetime.
	m.deleteFlow(w, r, state)
	f, err := m.readFlow(r, state)
	if err != nil {
		return err
	}
	if iss, ok := q["iss"]; ok {
		if len(iss) != 1 || iss[0] != m.meta.Issuer {
			return &loginError{kind: ErrInvalidCallback, reason: "the iss parameter does not name this provider (RFC 9207)"}
		}
	} else if m.meta.IssParameterSupport {
		return &loginError{kind: ErrInvalidCallback, reason: "the iss parameter is missing, but the provider always sends it (RFC 9207)"}
	}
	if code := q.Get("error"); code != "" {
		if f.silent && interactionRequired(code) {
			return m.redirectToProvider(w, r, f.returnTo, m.cfg.login.prompt, false, false)
		}
		return &AuthorizationError{Code: oauthErrorCode(code), Description: q.Get("error_description")}
	}
	if len(q["code"]) != 1 || q.Get("code") == "" {
		return &loginError{kind: ErrInvalidCallback, reason: "the code parameter is missing or repeated"}
	}
	ctx, cancel := context.WithTimeout(m.providerContext(r.Context()), m.cfg.refreshTimeout)
	defer cancel()
	tok, err := m.codeExchange(ctx, q.Get("code"), f.verifier)
	if err != nil {
		return exchangeError(err)
	}
	s, err := m.newSession(ctx, tok, f.nonce)
	switch {
	case errors.Is(err, errNonceMismatch):
		return &loginError{kind: ErrInvalidCallback, class: "invalid_id_token", reason: "the ID token's nonce is not this sign-in's", cause: err}
	case errors.Is(err, ErrNoIDToken):
		return err
	case err != nil:
		return &loginError{kind: ErrInvalidCallback, class: "invalid_id_token", reason: "the ID token failed verification", cause: err}
	}
	if f.renew {
		m.carryOver(r, s)
	}
	if m.cfg.login.userInfoOnRefresh {
		m.addUserInfo(ctx, s, "sign-in")
	}
	if s, err = m.fit(ctx, s, "sign-in"); err != nil {
		return err
	}
	if err := m.save(w, r, s, s.lastSeen); err != nil {
		return err
	}
	http.Redirect(w, r, safeReturnTo(f.returnTo), http.StatusSeeOther)
	return nil
}

// carryOver keeps the sign-in time of the session a silent renewal
// replaces, when it is the same user's, so renewing never extends the
// absolute lifetime.
func (m *Middleware) carryOver(r *http.Request, s *Session) {
	old, err := m.loadSession(r, m.cfg.now())
	if err == nil && old.subject == s.subject {
		s.created = old.created
	}
}

// logSignInFailure tells the operator why a sign-in failed: its class and
// the provider's OAuth error code and status, never a code, token or
// secret. Callbacks that match no sign-in in progress (replays, stale
// tabs, probes) are common and logged at info; the others at warn.
func (m *Middleware) logSignInFailure(r *http.Request, err error) {
	class, level := "invalid_callback", slog.LevelInfo
	code, status := "", 0
	var ae *AuthorizationError
	var re *oauth2.RetrieveError
	var le *loginError
	switch {
	case errors.As(err, &ae):
		class, level, code = "authorization", slog.LevelWarn, ae.Code
	case errors.Is(err, ErrSessionTooLarge):
		class, level = "session_too_large", slog.LevelError
	case errors.Is(err, ErrNoIDToken):
		class, level = "invalid_id_token", slog.LevelWarn
	case errors.As(err, &le) && le.class != "":
		class, level = le.class, slog.LevelWarn
	}
	if errors.As(err, &re) {
		code = oauthErrorCode(re.ErrorCode)
		if re.ErrorCode == "" {
			code = ""
		}
		if re.Response != nil {
			status = re.Response.StatusCode
		}
	}
	reason := err.Error()
	if le != nil {
		reason = le.reason
	}
	attrs := []slog.Attr{slog.String("class", class), slog.String("error_code", code), slog.String("reason", reason)}
	if status != 0 {
		attrs = append(attrs, slog.Int("status", status))
	}
	m.cfg.logger.LogAttrs(r.Context(), level, "oidcsession: sign-in failed", attrs...)
}

// exchangeError classifies a failed code exchange: a 4xx answer means the
// code or verifier was refused (replayed, expired, not ours), anything else
// that the provider is unavailable.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		reason := "the provider refused the authorization code"
		if re.ErrorCode != "" {
			reason += " (" + oauthErrorCode(re.ErrorCode) + ")"
		}
		return &loginError{kind: ErrInvalidCallback, class: "refused", reason: reason, cause: err}
	}
	return &loginError{kind: ErrProviderUnavailable, class: "unavailable", reason: "the token endpoint could not be reached", cause: err}
}

// oauthErrorCode returns code if it looks like an OAuth error code (RFC
// 6749 allows %x20-21 / %x23-5B / %x5D-7E; we accept the usual letters,
// digits and underscores), else "invalid_request", so error strings and
// pages never carry attacker-chosen text.
func oauthErrorCode(code string) string {
	if code == "" || len(code) > 64 {
		return "invalid_request"
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' && c != '.' {
			return "invalid_request"
		}
	}
	return code
}

// isLoginError reports whether WriteError should answer err with
// writeLoginError.
func isLoginError(err error) bool {
	return errors.Is(err, ErrInvalidCallback) || errors.Is(err, ErrAuthorizationFailed) ||
		errors.Is(err, ErrProviderUnavailable) || errors.Is(err, ErrUserInfo) || errors.Is(err, ErrUserInfoMismatch)
}

// writeLoginError answers the errors of sign-in and userinfo: a short HTML
// page with a link to sign in again for page requests, JSON otherwise.
func (m *Middleware) writeLoginError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, desc := http.StatusBadRequest, "invalid_request", "the sign-in could not be completed"
	var ae *AuthorizationError
	var le *loginError
	switch {
	case errors.As(err, &ae):
		code, desc = ae.Code, "the identity provider refused the sign-in ("+ae.Code+")"
		switch ae.Code {
		case "access_denied":
			status = http.StatusForbidden
		case "login_required", "consent_required", "interaction_required", "account_selection_required":
			status = http.StatusUnauthorized
		case "temporarily_unavailable":
			status = http.StatusServiceUnavailable
		case "server_error":
			status = http.StatusBadGateway
		}
	case errors.Is(err, ErrProviderUnavailable):
		status, code, desc = http.StatusServiceUnavailable, "temporarily_unavailable", "the identity provider is unavailable; try again shortly"
		w.Header().Set("Retry-After", strconv.Itoa(int(m.cfg.retryAfter.Seconds())))
	case errors.Is(err, ErrUserInfo), errors.Is(err, ErrUserInfoMismatch):
		status, code, desc = http.StatusBadGateway, "userinfo_failed", "the identity provider's userinfo could not be used"
	}
	if errors.As(err, &le) {
		desc = le.reason
	}
	if !isPage(r) {
		writeJSON(w, status, errorBody{code, desc})
		return
	}
	writePage(w, status, "Sign-in failed", upperFirst(desc)+".", "Sign in again", m.cfg.loginURL)
}

func upperFirst(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
