package oidcsessiontest

import (
	"net/http"
	"strconv"
)

// outageRetryAfter is the Retry-After, in seconds, of refresh grants
// answered during an outage.
const outageRetryAfter = 5

// SetRefreshOutage switches a provider outage on or off: while it is on,
// every refresh_token grant answers 503 temporarily_unavailable with
// Retry-After and touches no token, as an identity provider that is down
// would. Unlike FailNextRefreshes it lasts until switched off, for demos
// and for tests of how a client behaves over a long outage. Grants counts
// these requests; SuccessfulGrants does not.
func (p *Provider) SetRefreshOutage(on bool) {
	p.mu.Lock()
	p.outage = on
	p.mu.Unlock()
}

// RefreshOutage reports whether SetRefreshOutage switched the outage on.
func (p *Provider) RefreshOutage() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outage
}

// answerOutage answers a refresh_token grant during an outage and reports
// whether it did.
func (p *Provider) answerOutage(w http.ResponseWriter) bool {
	if !p.RefreshOutage() {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(outageRetryAfter))
	writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the provider is down (SetRefreshOutage)")
	return true
}
