package oidcsession

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/oidcsession/oidcsession/internal/state"
)

// CallbackHandler returns the redirect_uri endpoint (mount it at
// GET /auth/callback). It finds the flow cookie named by state (none:
// 400, so a replayed callback fails because the first use deleted it),
// checks iss (RFC 9207: when present it must be the issuer, and when the
// provider advertises authorization_response_iss_parameter_supported it
// must be present), and then:
//   - on an error parameter after a silent attempt (WithSilentSignIn) that
//     needs interaction, redirects once to an interactive sign-in with the
//     same return_to and WithPrompt's prompt;
//   - on any other error parameter fails with ErrAuthorizationFailed
//     (access_denied: 403, login_required and similar: 401,
//     temporarily_unavailable: 503, server_error: 502, others 400);
//   - otherwise exchanges the code with the PKCE verifier, verifies the ID
//     token and its nonce, stores the session, writes its cookies and
//     answers 303 to return_to.
//
// Failures are *ProviderError (ErrInvalidCallback: 400,
// ErrAuthorizationFailed, ErrProviderUnavailable: 503), logged with their
// class and OAuth error code; the default error handler shows a short page
// with a link to sign in again, or JSON to non-page requests. A callback
// never touches the session cookie: whatever goes wrong is about the
// sign-in, not the session.
func (m *Middleware) CallbackHandler() http.Handler {
	h := m.errorHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			h(w, r, ErrMethodNotAllowed)
			return
		}
		start := time.Now()
		if err := m.callback(w, r); err != nil {
			class := m.logSignInFailure(r.Context(), err)
			m.emit(r.Context(), Event{Kind: EventSignIn, Err: err, Class: class, Duration: time.Since(start)})
			h(w, r, err)
		}
	})
}

// callback does the work of CallbackHandler.
func (m *Middleware) callback(w http.ResponseWriter, r *http.Request) error {
	refuse := func(reason string, cause error) *ProviderError {
		return &ProviderError{Kind: ErrInvalidCallback, Code: "invalid_request", Reason: reason, Err: cause, class: "invalid_callback"}
	}
	q := r.URL.Query()
	if len(q["state"]) != 1 {
		return refuse("the state parameter is missing or repeated", nil)
	}
	st := q.Get("state")
	// The flow is used once, whatever happens next, and a flow cookie that
	// cannot be used is deleted too, so it cannot linger for its lifetime.
	m.deleteFlow(w, r, st)
	f, err := m.readFlow(r, st)
	if err != nil {
		return err
	}
	if iss, ok := q["iss"]; ok {
		if len(iss) != 1 || iss[0] != m.meta.Issuer {
			return refuse("the iss parameter does not name this provider (RFC 9207)", nil)
		}
	} else if m.meta.IssParameterSupport {
		return refuse("the iss parameter is missing, but the provider always sends it (RFC 9207)", nil)
	}
	if code := q.Get("error"); code != "" {
		if f.Silent && interactionRequired(code) {
			return m.redirectToProvider(w, r, f.ReturnTo, m.cfg.signIn.prompt, false, false)
		}
		return authorizationFailure(code, q.Get("error_description"))
	}
	if len(q["code"]) != 1 || q.Get("code") == "" {
		return refuse("the code parameter is missing or repeated", nil)
	}
	return m.finishSignIn(w, r, f, q.Get("code"))
}

// finishSignIn redeems the code, verifies the ID token and its nonce,
// starts the session (keeping the sign-in time of the session a silent
// renewal replaces) and sends the browser to return_to.
func (m *Middleware) finishSignIn(w http.ResponseWriter, r *http.Request, f *state.Flow, code string) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(r.Context(), m.cfg.refreshTimeout)
	defer cancel()
	tok, err := m.client.Token(ctx, codeForm(code, m.oauth.RedirectURL, f.Verifier))
	if err != nil {
		return providerFailure(err, ErrInvalidCallback, "the token endpoint")
	}
	d, err := m.newSession(ctx, tok, f.Nonce)
	switch {
	case errors.Is(err, ErrNoIDToken):
		return err
	case err != nil:
		reason := "the ID token failed verification"
		if errors.Is(err, errNonceMismatch) {
			reason = "the ID token's nonce is not this sign-in's"
		}
		return &ProviderError{Kind: ErrInvalidCallback, Code: "invalid_request", Reason: reason, Err: err, class: "invalid_id_token"}
	}
	if f.Renew {
		if old, err := m.storage.load(r); err == nil && old.s.d.Subject == d.Subject {
			d.Created = old.s.d.Created // renewing never extends the absolute lifetime
		}
	}
	if m.cfg.signIn.userInfoOnRefresh {
		m.addUserInfo(ctx, d, "sign-in")
	}
	if _, err := m.begin(w, r, d, "sign-in"); err != nil {
		return err
	}
	m.emit(r.Context(), Event{Kind: EventSignIn, Duration: time.Since(start)})
	http.Redirect(w, r, safeReturnTo(f.ReturnTo), http.StatusSeeOther)
	return nil
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

// authorizationFailure is the provider's error answer to an authorization
// request (RFC 6749 section 4.1.2.1).
func authorizationFailure(code, description string) *ProviderError {
	c := oauthCode(code)
	return &ProviderError{Kind: ErrAuthorizationFailed, Code: c, Description: description,
		Reason: "the identity provider refused the sign-in (" + c + ")", class: "authorization"}
}

// logSignInFailure tells the operator why a sign-in failed: its class and
// the provider's OAuth error code and status, never a code, token or
// secret. Callbacks that match no sign-in in progress (replays, stale
// tabs, probes) are common and logged at info; the others at warn. It
// returns the class.
func (m *Middleware) logSignInFailure(ctx context.Context, err error) string {
	class, level := "invalid_id_token", slog.LevelWarn
	attrs := []slog.Attr{}
	var pe *ProviderError
	switch {
	case errors.Is(err, ErrSessionTooLarge):
		class, level = "session_too_large", slog.LevelError
	case errors.Is(err, ErrStoreUnavailable):
		class, level = "store_unavailable", slog.LevelError
	case errors.As(err, &pe):
		class = pe.class
		if class == "invalid_callback" {
			level = slog.LevelInfo
		}
		attrs = append(attrs, slog.String("reason", pe.Reason))
		if pe.Status != 0 {
			attrs = append(attrs, slog.Int("status", pe.Status))
		}
	}
	code := ""
	if pe != nil && pe.class != "invalid_callback" {
		code = pe.Code
	}
	attrs = append(attrs, slog.String("class", class), slog.String("error_code", code))
	m.cfg.logger.LogAttrs(ctx, level, "oidcsession: sign-in failed", attrs...)
	return class
}
