package oidcsession

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"

	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/internal/state"
)

// errNoRedirectURL is why the login handler cannot start a flow.
var errNoRedirectURL = errors.New("oidcsession: LoginHandler needs oauth2.Config.RedirectURL (the callback's absolute URL)")

// LoginHandler returns the endpoint that starts a sign-in (mount it at
// GET /auth/login; Require's redirects point there, see WithLoginURL). It
// answers GET and HEAD with a 302 to the provider's authorization endpoint:
// authorization code flow with PKCE (S256), a random state and nonce, all
// kept in a sealed flow cookie that lives 10 minutes, one per flow so
// several tabs can sign in at once (at most 4 and 3 KB of them are kept,
// the oldest give way).
//
// Query parameters:
//   - return_to: where the callback sends the browser afterwards. Only a
//     local path of at most 512 bytes is accepted (see safeReturnTo);
//     anything else, including an absent value, becomes "/". Refusing
//     silently rather than with 400 means a mangled link still signs the
//     user in, just not to an attacker's page.
//   - prompt: passed to the provider when it is none, login, consent or
//     select_account (or a space-separated list of the last three);
//     anything else is ignored.
//
// With WithSilentSignIn and no prompt, the first attempt is prompt=none;
// otherwise the prompt of WithPrompt is sent, if any. Parameters from
// WithAuthParams are added. It needs oauth2.Config.RedirectURL and answers
// 500 without it.
func (m *Middleware) LoginHandler() http.Handler {
	h := m.errorHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			h(w, r, ErrMethodNotAllowed)
			return
		}
		if m.oauth.RedirectURL == "" {
			m.cfg.logger.ErrorContext(r.Context(), errNoRedirectURL.Error())
			h(w, r, errNoRedirectURL)
			return
		}
		q := r.URL.Query()
		prompt := allowedPrompt(q.Get("prompt"))
		silent := false
		switch {
		case prompt != "":
		case m.cfg.signIn.silent:
			prompt, silent = "none", true
		default:
			prompt = m.cfg.signIn.prompt
		}
		if err := m.redirectToProvider(w, r, safeReturnTo(q.Get("return_to")), prompt, silent, false); err != nil {
			h(w, r, err)
		}
	})
}

// redirectToProvider starts a flow: it sets the flow cookie and redirects
// to the authorization endpoint. silent marks a prompt=none attempt that
// falls back once to an interactive sign-in; renew, a silent renewal of
// the request's session, which keeps its sign-in time.
func (m *Middleware) redirectToProvider(w http.ResponseWriter, r *http.Request, returnTo, prompt string, silent, renew bool) error {
	f := newFlow(returnTo, prompt, silent, renew, m.cfg.now())
	if err := m.writeFlow(w, r, f); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, m.authCodeURL(f), http.StatusFound)
	return nil
}

// authCodeURL is the authorization request for f.
func (m *Middleware) authCodeURL(f *state.Flow) string {
	params := m.cfg.signIn.authParams
	opts := make([]oauth2.AuthCodeOption, 0, 3+len(params))
	opts = append(opts, oauth2.S256ChallengeOption(f.Verifier), oauth2.SetAuthURLParam("nonce", f.Nonce))
	if f.Prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", f.Prompt))
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		opts = append(opts, oauth2.SetAuthURLParam(k, params[k]))
	}
	u := m.oauth.AuthCodeURL(f.State, opts...)
	// An AuthCodeOption sets one value per name; RFC 8707 repeats it.
	for _, r := range m.cfg.signIn.resources {
		u += "&resource=" + url.QueryEscape(r)
	}
	return u
}
