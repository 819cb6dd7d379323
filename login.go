package oidcsession

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/oauth2"
)

// errNoRedirectURL is why the login handler cannot start a flow.
var errNoRedirectURL = errors.New("oidcsession: LoginHandler needs oauth2.Config.RedirectURL (the callback's absolute URL)")

// LoginHandler returns the endpoint that starts a sign-in (mount it at
// GET /auth/login; Require's redirects point there, see WithLoginURL). It
// answers GET and HEAD with a 302 to the provider's authorization endpoint:
// authorization code flow with PKCE (S256), a random state and nonce, all
// kept in a sealed flow cookie that lives 10 minutes, one per flow so
// several tabs can sign in at once (at most 5 are kept, the oldest give
// way).
//
// Query parameters:
//   - return_to: where the callback sends the browser afterwards. Only a
//     local path is accepted (see safeReturnTo); anything else, including
//     an absent value, becomes "/". Refusing silently rather than with 400
//     means a mangled link still signs the user in, just not to an
//     attacker's page.
//   - prompt: passed to the provider when it is none, login, consent or
//     select_account (or a space-separated list of the last three);
//     anything else is ignored.
//
// With WithSilentSignIn and no prompt, the first attempt is prompt=none;
// otherwise the prompt of WithPrompt is sent, if any. Parameters from
// WithAuthParam are added. It needs oauth2.Config.RedirectURL
// and answers 500 without it.
func (m *Middleware) LoginHandler() http.Handler {
	h := m.errorHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{"method_not_allowed", "use GET"})
			return
		}
		if m.oauth.RedirectURL == "" {
			m.cfg.logger.ErrorContext(r.Context(), errNoRedirectURL.Error())
			m.fail(w, r, h, errNoRedirectURL)
			return
		}
		q := r.URL.Query()
		prompt := allowedPrompt(q.Get("prompt"))
		silent := false
		switch {
		case prompt != "":
		case m.cfg.login.silent:
			prompt, silent = "none", true
		default:
			prompt = m.cfg.login.prompt
		}
		if err := m.redirectToProvider(w, r, safeReturnTo(q.Get("return_to")), prompt, silent, false); err != nil {
			m.fail(w, r, h, err)
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
func (m *Middleware) authCodeURL(f *flow) string {
	opts := make([]oauth2.AuthCodeOption, 0, 3+len(m.cfg.login.authParams))
	opts = append(opts, oauth2.S256ChallengeOption(f.verifier), oauth2.SetAuthURLParam("nonce", f.nonce))
	if f.prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", f.prompt))
	}
	for _, k := range slices.Sorted(maps.Keys(m.cfg.login.authParams)) {
		opts = append(opts, oauth2.SetAuthURLParam(k, m.cfg.login.authParams[k]))
	}
	return m.oauth.AuthCodeURL(f.state, opts...)
}

// allowedPrompt returns p if it is a prompt value worth passing on: "none"
// alone, or a list of login, consent and select_account. Otherwise "".
func allowedPrompt(p string) string {
	fields := strings.Fields(p)
	if len(fields) == 0 {
		return ""
	}
	if len(fields) == 1 && fields[0] == "none" {
		return "none"
	}
	for _, f := range fields {
		if f != "login" && f != "consent" && f != "select_account" {
			return ""
		}
	}
	return strings.Join(fields, " ")
}

// safeReturnTo returns p if the browser can only read it as a path on this
// site, else "/". Refused: anything isLocalPath refuses (absolute and
// scheme-relative URLs such as "https://evil", "//evil", "///evil",
// "/\evil", "\\evil", schemes such as "javascript:" or "http:evil",
// leading spaces, control characters such as tab or newline), values over
// 1024 bytes, and paths that decode to "//" or "/\" ("/%2F/evil",
// "/%5Cevil"): no browser resolves those off-site, but a proxy or
// framework that unescapes before redirecting could, so they are not worth
// the risk.
func safeReturnTo(p string) string {
	if len(p) > maxReturnTo || !isLocalPath(p) {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, `/\`) || strings.ContainsAny(u.Path, "\\\x00") {
		return "/"
	}
	return p
}
