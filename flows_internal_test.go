package oidcsession

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// TestOversizedFlowCostsNothing (issue 6.15): a flow cookie longer than any
// the package writes is refused before any decoding or MAC work.
func TestOversizedFlowCostsNothing(t *testing.T) {
	op := oidcsessiontest.New(t, oidcsessiontest.Config{})
	p, err := oidc.NewProvider(t.Context(), op.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	keys := [][]byte{[]byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")}
	m, err := New(p, oauth2.Config{ClientID: "client"}, WithKeys(keys[0], keys[1], keys[0], keys[1], keys[0], keys[1]))
	if err != nil {
		t.Fatal(err)
	}
	if m.maxFlowValue < 600 || m.maxFlowValue > 1500 {
		t.Fatalf("the longest flow cookie is %d bytes?", m.maxFlowValue)
	}
	state := strings.Repeat("A", 26)
	name, _ := m.flowCookieName(state)
	req := httptest.NewRequest("GET", "/auth/callback", nil)
	req.Header.Set("Cookie", name+"="+strings.Repeat("A", 20<<10))
	if _, err := m.readFlow(req, state); !errors.Is(err, ErrInvalidCallback) {
		t.Fatalf("readFlow: %v", err)
	}
	if n := testing.AllocsPerRun(20, func() { _, _ = m.readFlow(req, state) }); n > 3 {
		t.Fatalf("refusing it took %.0f allocations: the value was decoded", n)
	}
}
