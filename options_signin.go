package oidcsession

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// reservedAuthParams are the authorization parameters the login handler
// sets itself; WithAuthParams may not override them. prompt comes from the
// login URL's query, WithPrompt and silent sign-in; response_mode, request
// and request_uri would move or replace the response the callback checks.
var reservedAuthParams = []string{
	"client_id", "code_challenge", "code_challenge_method", "nonce", "prompt",
	"redirect_uri", "request", "request_uri", "response_mode", "response_type",
	"scope", "state",
}

// signInConfig holds the settings of sign-in, sign-out and userinfo. The
// zero value is the default.
type signInConfig struct {
	authParams            map[string]string
	resources             []string
	silent                bool
	prompt                string
	userInfoOnRefresh     bool
	postLogoutRedirectURL string
}

// WithAuthParams adds parameters to every authorization request, such as
// "audience" or "acr_values"; it may be given several times. Parameters
// the login handler owns (state, nonce, code_challenge,
// code_challenge_method, redirect_uri, client_id, response_type,
// response_mode, scope, prompt, request, request_uri) are refused by New.
// Default: none.
func WithAuthParams(params map[string]string) Option {
	return func(c *config) {
		if c.signIn.authParams == nil {
			c.signIn.authParams = map[string]string{}
		}
		maps.Copy(c.signIn.authParams, params)
	}
}

// WithResources names the APIs a sign-in asks access to: one RFC 8707
// resource parameter each in the authorization request, so that the grant
// covers them and Token can later ask a token for each. Some providers
// (oidc-provider) refuse a refresh for a resource the sign-in did not
// name, after spending the refresh token. Each is an absolute URI without
// fragment. Default: none (WithAuthParams may still send one "resource").
func WithResources(uris ...string) Option {
	return func(c *config) { c.signIn.resources = append(c.signIn.resources, uris...) }
}

// WithSilentSignIn makes the login handler try prompt=none first whenever
// its URL carries no prompt, so a user who still has a session at the
// provider is signed in without seeing it (Auth0's silent authentication,
// MonoCloud's signInSilent). When the provider answers login_required,
// consent_required, interaction_required or account_selection_required,
// the callback falls back once to an interactive sign-in (with WithPrompt's
// prompt) and the same return_to; the fallback is never silent, so it
// cannot loop. It also renews a session that has no refresh token: once
// its access token expired, a page request (a GET that accepts text/html)
// goes through a prompt=none round trip that replaces it and keeps its
// sign-in time (Auth0's silent renewal), instead of ending it. Default:
// off.
func WithSilentSignIn() Option {
	return func(c *config) { c.signIn.silent = true }
}

// WithPrompt sets the prompt of interactive sign-ins: those started by a
// login URL without a prompt parameter, and the fallback after a silent
// attempt (WithSilentSignIn) that needed interaction. One of login,
// consent, select_account, or several separated by spaces. Providers that
// follow OIDC Core section 11, such as oidc-provider, grant offline_access
// (and so a refresh token) only with "consent"; without it such sessions
// end when their first access token expires (or, with WithSilentSignIn,
// are renewed by a prompt=none round trip). Default: none sent.
func WithPrompt(prompt string) Option {
	return func(c *config) { c.signIn.prompt = prompt }
}

// WithUserInfoOnRefresh fetches the userinfo claims at sign-in and again
// after every refresh, so Session.UserInfo stays current. It is best
// effort: a failed fetch is logged and the previous claims are kept,
// because the refresh token has already been spent. Default: off (call
// Middleware.RefetchUserInfo when needed).
func WithUserInfoOnRefresh() Option {
	return func(c *config) { c.signIn.userInfoOnRefresh = true }
}

// WithPostLogoutRedirectURL sets where the provider sends the browser after
// RP-initiated logout (post_logout_redirect_uri; it must be registered at
// the provider), and where the logout handler redirects itself when the
// provider has no end_session_endpoint. An absolute http(s) URL. Default:
// none, and the logout handler falls back to "/".
func WithPostLogoutRedirectURL(absoluteURL string) Option {
	return func(c *config) { c.signIn.postLogoutRedirectURL = absoluteURL }
}

// validate checks the sign-in settings.
func (c *signInConfig) validate() error {
	var errs []error
	if c.prompt != "" && (allowedPrompt(c.prompt) == "" || c.prompt == "none") {
		errs = append(errs, fmt.Errorf("WithPrompt: %q is not login, consent or select_account (prompt=none is WithSilentSignIn)", c.prompt))
	}
	for _, k := range slices.Sorted(maps.Keys(c.authParams)) {
		switch {
		case k == "" || strings.TrimSpace(k) != k:
			errs = append(errs, fmt.Errorf("WithAuthParams: %q is not a parameter name", k))
		case slices.Contains(reservedAuthParams, strings.ToLower(k)):
			errs = append(errs, fmt.Errorf("WithAuthParams: %q is set by the login handler and cannot be overridden", k))
		}
	}
	for _, r := range c.resources {
		if u, err := url.Parse(r); err != nil || !u.IsAbs() || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("WithResources: %q is not an absolute URI without fragment (RFC 8707)", r))
		}
	}
	if _, ok := c.authParams["resource"]; ok && len(c.resources) > 0 {
		errs = append(errs, errors.New(`WithAuthParams: "resource" together with WithResources; name every resource in WithResources`))
	}
	if u := c.postLogoutRedirectURL; u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.Fragment != "" {
			errs = append(errs, fmt.Errorf("WithPostLogoutRedirectURL: %q is not an absolute http(s) URL without fragment", u))
		}
	}
	return errors.Join(errs...)
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
