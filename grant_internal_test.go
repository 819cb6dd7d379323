package oidcsession

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/oidcsession/oidcsession/internal/provider"
	"github.com/oidcsession/oidcsession/internal/state"
)

// TestRefreshFailure is the table of refreshFailure: every provider answer
// to a refresh, and its class.
func TestRefreshFailure(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		narrowed  bool
		want      RefreshClass
		wantSpent bool
	}{
		{"network", &provider.Error{Err: errors.New("dial")}, false, RefreshTransient, false},
		{"not a provider error", errors.New("context deadline exceeded"), false, RefreshTransient, false},
		{"invalid_grant", &provider.Error{Status: 400, Code: "invalid_grant"}, false, RefreshTerminal, false},
		{"invalid_client 401", &provider.Error{Status: 401, Code: "invalid_client"}, false, RefreshTerminal, false},
		{"bare 400", &provider.Error{Status: 400}, false, RefreshTerminal, false},
		{"403", &provider.Error{Status: 403}, false, RefreshTerminal, false},
		{"404", &provider.Error{Status: 404}, false, RefreshTerminal, false},
		{"500", &provider.Error{Status: 500}, false, RefreshTransient, false},
		{"503", &provider.Error{Status: 503}, false, RefreshTransient, false},
		{"429", &provider.Error{Status: 429}, false, RefreshTransient, false},
		{"temporarily_unavailable 400", &provider.Error{Status: 400, Code: "temporarily_unavailable"}, false, RefreshTransient, false},
		{"invalid_scope plain", &provider.Error{Status: 400, Code: "invalid_scope"}, false, RefreshTerminal, false},
		{"invalid_scope narrowed", &provider.Error{Status: 400, Code: "invalid_scope"}, true, RefreshRejected, false},
		{"invalid_target narrowed", &provider.Error{Status: 400, Code: "invalid_target"}, true, RefreshRejected, true},
		{"invalid_grant narrowed", &provider.Error{Status: 400, Code: "invalid_grant"}, true, RefreshTerminal, false},
		{"invalid_request narrowed (Dex)", &provider.Error{Status: 400, Code: "invalid_request"}, true, RefreshRejected, true},
		{"invalid_request plain", &provider.Error{Status: 400, Code: "invalid_request"}, false, RefreshTerminal, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := refreshFailure(tt.err, tt.narrowed)
			if got.Class != tt.want || got.spent != tt.wantSpent || !errors.Is(got, ErrRefreshFailed) || errors.Is(got, ErrSessionExpired) != (tt.want == RefreshTerminal) {
				t.Fatalf("class %s spent %t, want %s %t", got.Class, got.spent, tt.want, tt.wantSpent)
			}
		})
	}
}

func TestSameIdentityChecksAudienceSet(t *testing.T) {
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://op","sub":"u","aud":["a","b"]}`))
	old := &state.Session{Subject: "u", IDToken: state.NewToken("eyJhbGciOiJub25lIn0." + claims + ".c2ln")}
	tests := []struct {
		name string
		idt  oidc.IDToken
		ok   bool
	}{
		{"same, reordered", oidc.IDToken{Issuer: "https://op", Subject: "u", Audience: []string{"b", "a"}}, true},
		{"audience dropped", oidc.IDToken{Issuer: "https://op", Subject: "u", Audience: []string{"a"}}, false},
		{"issuer changed", oidc.IDToken{Issuer: "https://other", Subject: "u", Audience: []string{"a", "b"}}, false},
		{"subject changed", oidc.IDToken{Issuer: "https://op", Subject: "v", Audience: []string{"a", "b"}}, false},
	}
	for _, tt := range tests {
		if err := sameIdentity(old, &tt.idt); (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrIDTokenMismatch) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// TestRefreshAtMatchesRefreshDue pins refreshAt to the window refreshDue
// applies, including sub-second token times.
func TestRefreshAtMatchesRefreshDue(t *testing.T) {
	m := &Middleware{cfg: defaultConfig()}
	now := time.Date(2025, 1, 1, 12, 0, 0, 300_000_000, time.UTC)
	for _, life := range []time.Duration{3 * time.Second, 10 * time.Second, time.Minute, time.Hour} {
		d := &state.Session{TokenAt: now, Expiry: now.Add(life)}
		start := m.refreshAt(d)
		if due, _ := m.refreshDue(d, start.Add(-time.Nanosecond)); due {
			t.Errorf("life %v: due before refreshAt %v", life, start)
		}
		if due, _ := m.refreshDue(d, start); !due {
			t.Errorf("life %v: not due at refreshAt %v", life, start)
		}
	}
}
