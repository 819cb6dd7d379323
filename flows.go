package oidcsession

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/internal/cookie"
	"github.com/oidcsession/oidcsession/internal/state"
)

// Sign-in flow limits. They are not options: nothing gains from tuning them.
const (
	// flowLifetime is how long a started sign-in may take before its flow
	// cookie expires: long enough to type a password and do MFA.
	flowLifetime = 10 * time.Minute
	// maxFlows bounds the flow cookies one browser holds, so tabs that
	// start sign-ins and never finish cannot fill the cookie jar; the
	// oldest flow gives way.
	maxFlows = 4
	// maxFlowBytes bounds the bytes (name=value) of all of one browser's
	// flow cookies, so that with a session cookie of up to 4 KB the Cookie
	// header stays under the 8 KB that common proxies allow per header.
	maxFlowBytes = 3072
	// flowIDLen is how many characters of the state name the flow cookie.
	flowIDLen = 12
)

// The sign-in flow is bound to the browser that started it, so it lives
// in its own short-lived sealed cookie whatever the session storage: one
// per flow, named after its state, so two tabs signing in at once do not
// overwrite each other's. Flow cookies are SameSite=Lax even when sessions
// use Strict: the provider's redirect back is a cross-site top-level
// navigation that must carry them.

// newFlow starts a flow with fresh random state, nonce and PKCE verifier.
// rand.Text gives 26 base32 characters (130 bits), safe in a cookie name.
func newFlow(returnTo, prompt string, silent, renew bool, now time.Time) *state.Flow {
	return &state.Flow{
		State: rand.Text(), Verifier: oauth2.GenerateVerifier(), Nonce: rand.Text(),
		ReturnTo: returnTo, Prompt: prompt, Silent: silent, Renew: renew,
		Created: now.Truncate(time.Second),
	}
}

// flowPrefix is the common start of every flow cookie's name: the session
// cookie's name plus "-flow.", so it keeps the "__Host-" prefix of secure
// defaults.
func (m *Middleware) flowPrefix() string { return m.cfg.cookieName + "-flow." }

// flowAttrs are the flow cookies' attributes.
func (m *Middleware) flowAttrs() cookie.Attrs {
	a := m.attrs
	if a.SameSite != "None" {
		a.SameSite = "Lax"
	}
	return a
}

// flowCookieName names the cookie of the flow with this state, or reports
// false when state cannot be one of ours.
func (m *Middleware) flowCookieName(state string) (string, bool) {
	if len(state) < flowIDLen || len(state) > 256 {
		return "", false
	}
	id := state[:flowIDLen]
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return "", false
		}
	}
	return m.flowPrefix() + id, true
}

// writeFlow sets f's cookie, first pruning older flows so that the
// browser's flow cookies stay within maxFlows and maxFlowBytes.
func (m *Middleware) writeFlow(w http.ResponseWriter, r *http.Request, f *state.Flow) error {
	name, ok := m.flowCookieName(f.State)
	if !ok {
		return fmt.Errorf("oidcsession: generated state %q is unusable", f.State)
	}
	value, err := m.sealer.Seal(name, state.EncodeFlow(f))
	if err != nil {
		return fmt.Errorf("oidcsession: sealing the sign-in flow: %w", err)
	}
	m.pruneFlows(w, r, name, len(name)+1+len(value))
	cookie.Set(w, name, value, m.flowAttrs(), int(flowLifetime/time.Second))
	return nil
}

// pruneFlows deletes the request's flow cookies that cannot be read, then
// the oldest ones (by creation, then name, so the choice is deterministic)
// until, with the one being added (adding bytes of name=value), at most
// maxFlows remain within maxFlowBytes.
func (m *Middleware) pruneFlows(w http.ResponseWriter, r *http.Request, adding string, addingBytes int) {
	type aged struct {
		name    string
		created int64
		bytes   int
	}
	var live []aged
	total := addingBytes
	for _, c := range m.flowCookies(r) {
		if c.name == adding {
			continue
		}
		f, err := m.openFlow(c.name, c.value)
		if err != nil {
			cookie.Delete(w, c.name, m.flowAttrs())
			continue
		}
		n := len(c.name) + 1 + len(c.value)
		live = append(live, aged{c.name, f.Created.Unix(), n})
		total += n
	}
	slices.SortFunc(live, func(a, b aged) int {
		return cmp.Or(cmp.Compare(a.created, b.created), cmp.Compare(a.name, b.name))
	})
	for len(live) > 0 && (len(live) > maxFlows-1 || total > maxFlowBytes) {
		cookie.Delete(w, live[0].name, m.flowAttrs())
		total -= live[0].bytes
		live = live[1:]
	}
}

// openFlow checks and decodes the value of the flow cookie name. A value
// longer than any flow cookie the package writes is refused before any
// decoding or MAC work.
func (m *Middleware) openFlow(name, value string) (*state.Flow, error) {
	if len(value) > m.maxFlowValue {
		return nil, state.ErrMalformed
	}
	payload, _, err := m.sealer.Open(name, value)
	if err != nil {
		return nil, err
	}
	return state.DecodeFlow(payload)
}

// readFlow returns the flow whose state the callback received. Whatever
// the reason it is missing — never started here, expired, already used,
// tampered with, sealed with a key that is gone — the answer is
// ErrInvalidCallback, never an error about the session.
func (m *Middleware) readFlow(r *http.Request, st string) (*state.Flow, error) {
	refuse := func(reason string, cause error) error {
		return &ProviderError{Kind: ErrInvalidCallback, Code: "invalid_request", Reason: reason, Err: cause, class: "invalid_callback"}
	}
	name, ok := m.flowCookieName(st)
	if !ok {
		return nil, refuse("the state parameter is missing or malformed", nil)
	}
	value, ok := cookie.Find(r.Header, name)
	if !ok {
		return nil, refuse("no sign-in is in progress for this state: it expired, was already completed, or began in another browser", nil)
	}
	f, err := m.openFlow(name, value)
	if err != nil {
		return nil, refuse("the sign-in cookie could not be read (keys changed since the sign-in began?); sign in again", err)
	}
	if subtle.ConstantTimeCompare([]byte(f.State), []byte(st)) != 1 {
		return nil, refuse("the state parameter does not match the sign-in in progress", nil)
	}
	now := m.cfg.now()
	if !now.Before(f.Created.Add(flowLifetime)) || f.Created.After(now.Add(time.Minute)) {
		return nil, refuse(fmt.Sprintf("the sign-in took longer than %s", flowLifetime), nil)
	}
	return f, nil
}

// deleteFlow deletes the cookie of the flow with this state, if the
// request carries one: a flow is used once, so a replayed callback finds
// nothing, and one that cannot be used must not linger.
func (m *Middleware) deleteFlow(w http.ResponseWriter, r *http.Request, state string) {
	if name, ok := m.flowCookieName(state); ok {
		if _, present := cookie.Find(r.Header, name); present {
			cookie.Delete(w, name, m.flowAttrs())
		}
	}
}

// clearFlows deletes every flow cookie the request carries.
func (m *Middleware) clearFlows(w http.ResponseWriter, r *http.Request) {
	for _, c := range m.flowCookies(r) {
		cookie.Delete(w, c.name, m.flowAttrs())
	}
}

type namedCookie struct{ name, value string }

// flowCookies lists the request's flow cookies, at most a few dozen so a
// stuffed Cookie header costs little.
func (m *Middleware) flowCookies(r *http.Request) []namedCookie {
	var out []namedCookie
	prefix := m.flowPrefix()
	cookie.Scan(r.Header, func(name, value string) bool {
		if strings.HasPrefix(name, prefix) && !slices.ContainsFunc(out, func(c namedCookie) bool { return c.name == name }) {
			out = append(out, namedCookie{name, value})
		}
		return len(out) < 4*maxFlows
	})
	return out
}

// codeForm is the token request that redeems an authorization code with
// its PKCE verifier (RFC 6749 section 4.1.3, RFC 7636 section 4.5).
func codeForm(code, redirectURI, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
}
