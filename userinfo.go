package oidcsession

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/oidcsession/oidcsession/internal/provider"
	"github.com/oidcsession/oidcsession/internal/state"
)

// RefetchUserInfo fetches the user's claims from the provider's userinfo
// endpoint with the session's access token, stores them in the session
// (read them with Session.UserInfo) and writes the new cookies; call it
// before writing the response body. Behind Require it uses the session
// Require put in the context (possibly just refreshed); elsewhere it loads
// the request's session. The answer's sub must be the session's (OIDC Core
// 5.3.2): otherwise the claims are not stored and the error matches
// ErrUserInfoMismatch. Other failures are a *ProviderError matching
// ErrUserInfo, or ErrProviderUnavailable when trying later may help. The
// returned session is the new one; behind Require it replaces the one in
// the request's context.
func (m *Middleware) RefetchUserInfo(w http.ResponseWriter, r *http.Request) (*Session, error) {
	defer lockSession(r.Context())()
	s, ok := FromContext(r.Context())
	if !ok {
		res, err := m.resolve(w, r, policy{})
		if err != nil {
			return nil, err
		}
		s = res.s
	}
	claims, err := m.fetchUserInfo(r.Context(), s.d)
	if err != nil {
		return nil, err
	}
	d := s.d.Clone()
	d.UserInfo = claims
	ns, err := m.save(r.Context(), w, r, s.with(d), true)
	if err == nil {
		updateContext(r.Context(), ns)
	}
	return ns, err
}

// addUserInfo fetches userinfo into d, a session not yet shared, as best
// effort: on failure it logs and leaves d's previous claims. It serves
// WithUserInfoOnRefresh at sign-in and after refreshes, where the tokens
// are already spent and must not be lost over userinfo.
func (m *Middleware) addUserInfo(ctx context.Context, d *state.Session, when string) {
	claims, err := m.fetchUserInfo(ctx, d)
	if err != nil {
		m.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "oidcsession: userinfo fetch failed; keeping the previous claims",
			slog.String("after", when), slog.String("subject", d.Subject), slog.String("error", err.Error()))
		return
	}
	d.UserInfo = claims
}

// fetchUserInfo gets d's userinfo claims and checks their sub.
func (m *Middleware) fetchUserInfo(ctx context.Context, d *state.Session) ([]byte, error) {
	if m.meta.UserInfoEndpoint == "" {
		return nil, &ProviderError{Kind: ErrUserInfo, Reason: "the provider has no userinfo endpoint"}
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.refreshTimeout)
	defer cancel()
	tokenType := d.TokenType
	if tokenType == "" {
		tokenType = "Bearer"
	}
	claims, sub, err := m.client.UserInfo(ctx, d.AccessToken.String(), tokenType)
	if err != nil {
		return nil, providerFailure(err, ErrUserInfo, "the userinfo endpoint")
	}
	if sub != d.Subject {
		return nil, &ProviderError{Kind: ErrUserInfoMismatch, Reason: "the userinfo sub is not the session's (OIDC Core 5.3.2)"}
	}
	return claims, nil
}

// providerFailure is the one mapping from a failed provider call to a
// ProviderError: unavailable (no answer, 5xx, 429) is
// ErrProviderUnavailable; a refusal or an unusable answer is refused, of
// kind.
func providerFailure(err error, refused error, what string) *ProviderError {
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return &ProviderError{Kind: ErrProviderUnavailable, Reason: what + " could not be used", Err: err, class: "unavailable"}
	}
	e := &ProviderError{Code: pe.Code, Status: pe.Status, Description: pe.Description, Err: err}
	switch pe.Class() {
	case provider.Unavailable:
		e.Kind, e.class, e.Reason = ErrProviderUnavailable, "unavailable", what+" is unavailable; try again shortly"
	case provider.Unusable:
		e.Kind, e.class, e.Reason = refused, "unusable", what+" sent an answer that cannot be used"
	default:
		e.Kind, e.class, e.Reason = refused, "refused", what+" refused the request"
		if pe.Code != "" {
			e.Reason += " (" + pe.Code + ")"
		}
	}
	return e
}
