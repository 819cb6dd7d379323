package state

import (
	"time"

	"github.com/oidcsession/oidcsession/internal/wire"
)

// Flow is one sign-in in progress: what the callback needs to check the
// provider's answer and finish. It lives in its own short-lived sealed
// cookie, named after its state, so two tabs signing in at once do not
// overwrite each other's.
type Flow struct {
	State    string    // the state parameter; its prefix names the cookie
	Verifier string    // PKCE code verifier (RFC 7636)
	Nonce    string    // the ID token must carry it back
	ReturnTo string    // a local path
	Prompt   string    // the prompt sent, "" for none
	Silent   bool      // a prompt=none attempt: fall back once to an interactive sign-in
	Renew    bool      // a silent renewal of an expired session: keep its sign-in time
	Created  time.Time // the flow expires a fixed lifetime after this
}

// FlowVersion is the flow format. Flows live minutes, so a change simply
// bumps it: a flow of another version is refused and the user signs in
// again.
const FlowVersion = 2

const (
	flagSilent = 1 << iota
	flagRenew
)

// maxFlowField bounds one decoded flow field.
const maxFlowField = 4096

// EncodeFlow frames f: version, flags, created, then state, verifier,
// nonce, return_to and prompt.
func EncodeFlow(f *Flow) []byte {
	b := make([]byte, 0, 16+len(f.State)+len(f.Verifier)+len(f.Nonce)+len(f.ReturnTo)+len(f.Prompt)+5*2)
	var flags byte
	if f.Silent {
		flags |= flagSilent
	}
	if f.Renew {
		flags |= flagRenew
	}
	b = append(b, FlowVersion, flags)
	b = wire.AppendTime(b, f.Created)
	for _, s := range [...]string{f.State, f.Verifier, f.Nonce, f.ReturnTo, f.Prompt} {
		b = wire.AppendString(b, s)
	}
	return b
}

// MaxFlow is the longest EncodeFlow writes for a return_to of at most
// maxReturnTo bytes: version, flags, time, and five fields (state,
// verifier and nonce of 26, 43 and 26 bytes, return_to, the longest
// prompt), each with a length of at most two bytes.
func MaxFlow(maxReturnTo int) int {
	return 2 + 10 + 5*2 + 26 + 43 + 26 + maxReturnTo + len("login consent select_account")
}

// DecodeFlow reads what EncodeFlow wrote, strictly.
func DecodeFlow(b []byte) (*Flow, error) {
	r := wire.NewReader(b)
	if r.Byte() != FlowVersion {
		return nil, ErrMalformed
	}
	flags := r.Byte()
	f := &Flow{Silent: flags&flagSilent != 0, Renew: flags&flagRenew != 0, Created: r.Time()}
	for _, dst := range [...]*string{&f.State, &f.Verifier, &f.Nonce, &f.ReturnTo, &f.Prompt} {
		*dst = r.String(maxFlowField)
	}
	if flags&^(flagSilent|flagRenew) != 0 || r.Done() != nil || f.Created.IsZero() {
		return nil, ErrMalformed
	}
	return f, nil
}
