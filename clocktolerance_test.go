package oidcsession

import (
	"testing"
	"time"
)

// TestClockTolerance (issue 6.5): ID tokens from a provider whose clock is
// off are accepted within the tolerance (default 60 s), at sign-in and at
// refresh, and refused beyond it.
func TestClockTolerance(t *testing.T) {
	tests := []struct {
		name   string
		offset time.Duration // the provider's clock minus ours; its ID tokens live 5 minutes
		opts   []Option
		ok     bool
	}{
		{"in sync", 0, nil, true},
		{"provider 5m30s behind, default tolerance", -(5*time.Minute + 30*time.Second), nil, true},
		{"provider 6m30s behind, default tolerance", -(6*time.Minute + 30*time.Second), nil, false},
		{"provider 6m behind, tolerance 7m", -6 * time.Minute, []Option{WithClockTolerance(7 * time.Minute)}, true},
		{"provider 6m behind, no tolerance", -6 * time.Minute, []Option{WithClockTolerance(0)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{opClockOffset: tt.offset, opts: tt.opts})
			r := h.get(h.client, "/test/signin", nil)
			if (r.StatusCode == 204) != tt.ok {
				t.Fatalf("sign-in: %d %s", r.StatusCode, r.body)
			}
			if !tt.ok {
				return
			}
			// Refresh once the access token (from expires_in, on our clock) expired.
			h.clock.Advance(6 * time.Minute)
			if r := h.get(h.client, "/app/x", nil); r.StatusCode != 200 {
				t.Fatalf("refresh: %d %s", r.StatusCode, r.body)
			}
		})
	}
}
