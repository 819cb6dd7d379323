package state

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeSession feeds arbitrary bytes to the session decoder: it must
// never panic, and whatever it accepts must encode back to a payload that
// decodes to the same session.
func FuzzDecodeSession(f *testing.F) {
	f.Add(EncodeSession(nil, sample()))
	s := sample()
	s.Resources = []Resource{{Resource: "https://api/", Access: NewToken("x.y.z")}}
	s.SID = "sid"
	f.Add(EncodeSession(nil, s))
	f.Add([]byte{1, 1, 1, 1, 1, 1, 'u', 1, 1, 'x', 0, 0, 0, 0, 0})
	f.Add([]byte{Version, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSession(b)
		if err != nil {
			return
		}
		again, err := DecodeSession(EncodeSession(nil, s))
		if err != nil || !bytes.Equal(EncodeSession(nil, again), EncodeSession(nil, s)) {
			t.Fatalf("accepted payload does not round-trip: %v", err)
		}
	})
}

// FuzzDecodeFlow feeds arbitrary bytes to the flow decoder: it must never
// panic, and whatever it accepts must encode back to the same bytes (one
// flow, one encoding).
func FuzzDecodeFlow(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	f.Add(EncodeFlow(&Flow{State: "STATE", ReturnTo: "/app?x=1", Created: now}))
	f.Add(EncodeFlow(&Flow{State: "STATE", Prompt: "none", Silent: true, Renew: true, Created: now}))
	f.Add([]byte{})
	f.Add([]byte{FlowVersion, 0, 0})
	f.Add([]byte{FlowVersion, 4, 1, 0, 0, 0, 0, 0})
	f.Add([]byte{FlowVersion, 0, 0x80, 0x00, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := DecodeFlow(b)
		if err != nil {
			return
		}
		if got := EncodeFlow(fl); !bytes.Equal(got, b) {
			t.Fatalf("round trip changed the bytes:\n in %x\nout %x", b, got)
		}
	})
}
