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

// FuzzDecodeRecord feeds arbitrary bytes to the stored-record decoder: it
// must never panic, and whatever it accepts must encode back to the same
// bytes.
func FuzzDecodeRecord(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	f.Add(EncodeRecord(nil, nil, sample()))
	f.Add(EncodeRecord(nil, []Replaced{{Gen: 1, At: now}, {Gen: 2, At: now.Add(time.Second)}}, sample()))
	f.Add([]byte{RecordVersion, MaxReplaced + 1})
	f.Add([]byte{RecordVersion, 1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		replaced, s, err := DecodeRecord(b)
		if err != nil {
			return
		}
		again, s2, err := DecodeRecord(EncodeRecord(nil, replaced, s))
		if err != nil || len(again) != len(replaced) || !bytes.Equal(EncodeSession(nil, s2), EncodeSession(nil, s)) {
			t.Fatalf("accepted record does not round-trip: %v", err)
		}
		for i := range again {
			if again[i].Gen != replaced[i].Gen || !again[i].At.Equal(replaced[i].At) {
				t.Fatalf("replaced generation %d changed: %+v → %+v", i, replaced[i], again[i])
			}
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
