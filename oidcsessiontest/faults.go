package oidcsessiontest

import (
	"maps"
	"net/http"
	"time"
)

// faultKind says what an injected fault does to one refresh_token grant.
type faultKind int

const (
	faultFail  faultKind = iota // answer with an error status
	faultDelay                  // wait, then handle normally
	faultDrop                   // close the connection without a response
)

// fault is one queued failure; faults apply in the order they were queued,
// one per refresh_token grant.
type fault struct {
	kind   faultKind
	status int
	code   string
	delay  time.Duration
}

// FailNextRefreshes makes the next n refresh_token grants answer status
// without touching any token. The body is {"error":errorCode,...} JSON when
// errorCode is set (e.g. 400 "invalid_grant", 503 "temporarily_unavailable"),
// else a plain-text body, as a broken proxy would send.
func (p *Provider) FailNextRefreshes(n int, status int, errorCode string) {
	p.queue(n, fault{kind: faultFail, status: status, code: errorCode})
}

// DelayNextRefreshes makes the next n refresh_token grants wait d (real
// time) before being handled normally. If the client gives up first (its
// request context is done) the grant stops without rotating anything, like a
// network cut before the server acted; with Config.CompleteAbandonedRefreshes
// it is carried out anyway, for nobody.
func (p *Provider) DelayNextRefreshes(n int, d time.Duration) {
	p.queue(n, fault{kind: faultDelay, delay: d})
}

// DropNextRefreshes makes the next n refresh_token grants close the
// connection with no response, which clients see as a network error.
func (p *Provider) DropNextRefreshes(n int) {
	p.queue(n, fault{kind: faultDrop})
}

// OverrideNextRefreshIDTokenClaims merges claims over the normal ones in the
// next successful refresh's ID token, e.g. a different "sub" to test the
// OIDC Core 12.2 checks of a relying party.
func (p *Provider) OverrideNextRefreshIDTokenClaims(claims map[string]any) {
	p.mu.Lock()
	p.overrideClaims = maps.Clone(claims)
	p.mu.Unlock()
}

// queue appends n copies of f to the fault queue.
func (p *Provider) queue(n int, f fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.faults = append(p.faults, f)
	}
}

// applyRefreshFault applies the next queued fault, if any, and reports
// whether the request has been dealt with.
func (p *Provider) applyRefreshFault(w http.ResponseWriter, r *http.Request) bool {
	if p.answerOutage(w) {
		return true
	}
	p.mu.Lock()
	if len(p.faults) == 0 {
		p.mu.Unlock()
		return false
	}
	f := p.faults[0]
	p.faults = p.faults[1:]
	p.mu.Unlock()

	switch f.kind {
	case faultFail:
		if f.code != "" {
			writeOAuthError(w, f.status, f.code, "injected failure")
			return true
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(http.StatusText(f.status) + "\n"))
		return true
	case faultDelay:
		t := time.NewTimer(f.delay)
		defer t.Stop()
		select {
		case <-t.C:
			return false
		case <-r.Context().Done():
			if !p.cfg.CompleteAbandonedRefreshes {
				return true // the client is gone; act as if nothing arrived
			}
			select { // finish the grant for nobody: the token is spent
			case <-t.C:
				return false
			case <-p.closed:
				return true
			}
		case <-p.closed:
			return true
		}
	case faultDrop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// HTTP/2 cannot be hijacked; the nearest thing is a gateway error.
			writeOAuthError(w, http.StatusBadGateway, "server_error", "connection drop not possible")
			return true
		}
		_ = conn.Close()
		return true
	}
	return false
}
