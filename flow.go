package oidcsession

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// flow is one sign-in in progress: what the callback needs to check the
// provider's answer and finish. It lives in its own short-lived sealed
// cookie, named after its state, so two tabs signing in at once do not
// overwrite each other's.
type flow struct {
	state    string    // the state parameter; its prefix names the cookie
	verifier string    // PKCE code verifier (RFC 7636)
	nonce    string    // the ID token must carry it back
	returnTo string    // a local path, checked by safeReturnTo
	prompt   string    // the prompt sent, "" for none
	silent   bool      // prompt=none sent by WithSilentSignIn: fall back once on failure
	renew    bool      // a silent renewal of an expired session: keep its sign-in time
	created  time.Time // the flow expires flowLifetime after this
}

// maxFlowPayload is the longest flow encode writes: version and flags,
// the creation time, and five length-prefixed fields (state, verifier and
// nonce of fixed length, return_to up to maxReturnTo, the longest prompt).
const maxFlowPayload = 2 + binary.MaxVarintLen64 + 5*binary.MaxVarintLen16 +
	26 + 43 + 26 + maxReturnTo + len("login consent select_account")

const (
	flowVersion  = 1
	flowIDLen    = 12   // state characters in the cookie name
	maxFlowField = 4096 // longest field decodeFlow accepts
)

// errBadFlow is what decodeFlow returns for anything it cannot read.
var errBadFlow = errors.New("oidcsession: malformed flow cookie")

// newFlow starts a flow with fresh random state, nonce and PKCE verifier.
// rand.Text gives 26 base32 characters (130 bits), safe in a cookie name.
func newFlow(returnTo, prompt string, silent, renew bool, now time.Time) *flow {
	return &flow{
		renew:    renew,
		state:    rand.Text(),
		verifier: oauth2.GenerateVerifier(),
		nonce:    rand.Text(),
		returnTo: returnTo,
		prompt:   prompt,
		silent:   silent,
		created:  now.Truncate(time.Second),
	}
}

// encode frames the flow as: version byte, flags byte, created (varint Unix
// seconds), then five length-prefixed strings. Smaller than JSON or gob and
// trivial to decode strictly.
func (f *flow) encode() []byte {
	b := make([]byte, 0, 16+len(f.state)+len(f.verifier)+len(f.nonce)+len(f.returnTo)+len(f.prompt)+5*2)
	b = append(b, flowVersion)
	var flags byte
	if f.silent {
		flags |= 1
	}
	if f.renew {
		flags |= 2
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, f.created.Unix())
	for _, s := range [...]string{f.state, f.verifier, f.nonce, f.returnTo, f.prompt} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// parseFlow reads what encode wrote. The input has passed the MAC, but the
// decoder still treats it as untrusted: every length is checked and
// trailing bytes are refused.
func parseFlow(b []byte) (*flow, error) {
	if len(b) < 2 || b[0] != flowVersion || b[1]&^3 != 0 {
		return nil, errBadFlow
	}
	f := &flow{silent: b[1]&1 != 0, renew: b[1]&2 != 0}
	b = b[2:]
	created, n := binary.Varint(b)
	if n <= 0 {
		return nil, errBadFlow
	}
	f.created = time.Unix(created, 0)
	b = b[n:]
	for _, dst := range [...]*string{&f.state, &f.verifier, &f.nonce, &f.returnTo, &f.prompt} {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > maxFlowField || l > uint64(len(b)-n) {
			return nil, errBadFlow
		}
		*dst = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	if len(b) != 0 || len(f.state) < flowIDLen {
		return nil, errBadFlow
	}
	return f, nil
}

// decodeFlow is parseFlow that also refuses non-canonical input (overlong
// varints), so one flow has exactly one encoding.
func decodeFlow(b []byte) (*flow, error) {
	f, err := parseFlow(b)
	if err != nil {
		return nil, err
	}
	if string(f.encode()) != string(b) {
		return nil, errBadFlow
	}
	return f, nil
}

// flowCookiePrefix is the common start of every flow cookie's name: the
// session cookie's name plus "-flow.", so it keeps the "__Host-" prefix of
// secure defaults.
func (m *Middleware) flowCookiePrefix() string { return m.cfg.cookieName + "-flow." }

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
	return m.flowCookiePrefix() + id, true
}

// flowSealer returns the sealer flow cookies use: the Middleware's, so
// key rotation covers them too, whatever the session store.
func (m *Middleware) flowSealer() *sealer { return m.sealer }

// flowAttributes are the session cookie's attributes except SameSite, which
// is Lax even when the session uses Strict: the provider's redirect back is
// a cross-site top-level navigation that must carry the flow cookie.
func flowAttributes(s *sealer, maxAge int) string {
	var b strings.Builder
	b.WriteString("; Path=/; Max-Age=")
	b.WriteString(strconv.Itoa(max(maxAge, 0)))
	b.WriteString("; HttpOnly")
	if s.secure {
		b.WriteString("; Secure")
	}
	if s.sameSite == "None" {
		b.WriteString("; SameSite=None")
	} else {
		b.WriteString("; SameSite=Lax")
	}
	return b.String()
}

// writeFlow sets f's cookie, first pruning older flows so that the
// browser's flow cookies stay within maxFlows and maxFlowBytes.
func (m *Middleware) writeFlow(w http.ResponseWriter, r *http.Request, f *flow) error {
	name, ok := m.flowCookieName(f.state)
	if !ok {
		return errors.New("oidcsession: generated state is unusable")
	}
	s := m.flowSealer()
	value, err := s.seal(name, f.encode())
	if err != nil {
		return err
	}
	m.pruneFlows(w, r, s, name, len(name)+1+len(value))
	addSetCookie(w, name+"="+value+flowAttributes(s, int(flowLifetime/time.Second)))
	return nil
}

// pruneFlows deletes the request's flow cookies that cannot be read, then
// the oldest ones (by creation, then name, so the choice is deterministic)
// until, with the one being added (adding bytes of name=value), at most
// maxFlows remain within maxFlowBytes.
func (m *Middleware) pruneFlows(w http.ResponseWriter, r *http.Request, s *sealer, adding string, addingBytes int) {
	type aged struct {
		name    string
		created int64
		bytes   int
	}
	var live []aged
	total := addingBytes
	for _, c := range flowCookies(r.Header, m.flowCookiePrefix()) {
		if c.name == adding {
			continue
		}
		f, err := m.openFlow(c.name, c.value)
		if err != nil {
			addSetCookie(w, c.name+"="+flowAttributes(s, 0))
			continue
		}
		n := len(c.name) + 1 + len(c.value)
		live = append(live, aged{c.name, f.created.Unix(), n})
		total += n
	}
	slices.SortFunc(live, func(a, b aged) int {
		return cmp.Or(cmp.Compare(a.created, b.created), cmp.Compare(a.name, b.name))
	})
	for len(live) > 0 && (len(live) > maxFlows-1 || total > maxFlowBytes) {
		addSetCookie(w, live[0].name+"="+flowAttributes(s, 0))
		total -= live[0].bytes
		live = live[1:]
	}
}

// openFlow checks and decodes the value of the flow cookie name. A value
// longer than any flow cookie the package writes is refused before any
// decoding or MAC work.
func (m *Middleware) openFlow(name, value string) (*flow, error) {
	if len(value) > m.sealer.maxFlowValue {
		return nil, errBadFlow
	}
	payload, _, err := m.flowSealer().open(name, value)
	if err != nil {
		return nil, err
	}
	return decodeFlow(payload)
}

// readFlow returns the flow whose state the callback received. Whatever
// the reason it is missing — never started here, expired, already used,
// tampered with — the answer is ErrInvalidCallback.
func (m *Middleware) readFlow(r *http.Request, state string) (*flow, error) {
	name, ok := m.flowCookieName(state)
	if !ok {
		return nil, &loginError{kind: ErrInvalidCallback, reason: "the state parameter is missing or malformed"}
	}
	value, ok := findCookie(r.Header, name)
	if !ok {
		return nil, &loginError{kind: ErrInvalidCallback, reason: "no sign-in is in progress for this state: it expired, was already completed, or began in another browser"}
	}
	f, err := m.openFlow(name, value)
	if err != nil {
		return nil, &loginError{kind: ErrInvalidCallback, reason: "the sign-in cookie could not be read (keys changed since the sign-in began?); sign in again", cause: err}
	}
	if subtle.ConstantTimeCompare([]byte(f.state), []byte(state)) != 1 {
		return nil, &loginError{kind: ErrInvalidCallback, reason: "the state parameter does not match the sign-in in progress"}
	}
	now := m.cfg.now()
	if !now.Before(f.created.Add(flowLifetime)) || f.created.After(now.Add(time.Minute)) {
		return nil, &loginError{kind: ErrInvalidCallback, reason: fmt.Sprintf("the sign-in took longer than %s", flowLifetime)}
	}
	return f, nil
}

// deleteFlow deletes the cookie of the flow with this state, if the
// request carries one: a flow is used once, so a replayed callback finds
// nothing, and one that cannot be used must not linger.
func (m *Middleware) deleteFlow(w http.ResponseWriter, r *http.Request, state string) {
	if name, ok := m.flowCookieName(state); ok {
		if _, present := findCookie(r.Header, name); present {
			addSetCookie(w, name+"="+flowAttributes(m.flowSealer(), 0))
		}
	}
}

// clearFlows deletes every flow cookie the request carries.
func (m *Middleware) clearFlows(w http.ResponseWriter, r *http.Request) {
	s := m.flowSealer()
	for _, c := range flowCookies(r.Header, m.flowCookiePrefix()) {
		addSetCookie(w, c.name+"="+flowAttributes(s, 0))
	}
}

type namedCookie struct{ name, value string }

// flowCookies lists the request's cookies whose name starts with prefix,
// at most a few dozen so a stuffed Cookie header costs little.
func flowCookies(h http.Header, prefix string) []namedCookie {
	var out []namedCookie
	for _, line := range h["Cookie"] {
		for line != "" && len(out) < 4*maxFlows {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || !strings.HasPrefix(k, prefix) || slices.ContainsFunc(out, func(c namedCookie) bool { return c.name == k }) {
				continue
			}
			out = append(out, namedCookie{k, strings.Trim(v, `"`)})
		}
	}
	return out
}
