package oidcsession

import (
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeFlow feeds arbitrary bytes to the flow-cookie decoder: it must
// never panic, and whatever it accepts must encode back to the same bytes.
func FuzzDecodeFlow(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	f.Add(newFlow("/app?x=1", "", false, false, now).encode())
	f.Add(newFlow("/", "none", true, false, now).encode())
	f.Add(newFlow("/"+string(make([]byte, 200)), "login consent", false, true, time.Unix(-1, 0)).encode())
	f.Add([]byte{})
	f.Add([]byte{flowVersion})
	f.Add([]byte{flowVersion, 0, 0})
	f.Add([]byte{flowVersion, 2, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{flowVersion, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := decodeFlow(b)
		if err != nil {
			return
		}
		if got := fl.encode(); string(got) != string(b) {
			t.Fatalf("round trip changed the bytes:\n in %x\nout %x", b, got)
		}
	})
}

func TestFlowRoundTrip(t *testing.T) {
	for _, f := range []*flow{
		newFlow("/", "", false, false, time.Unix(1_700_000_000, 0)),
		newFlow("/a?b=c#d", "none", true, false, time.Unix(1_700_000_000, 0)),
	} {
		got, err := decodeFlow(f.encode())
		if err != nil {
			t.Fatal(err)
		}
		f.created = f.created.Local()
		got.created = got.created.Local()
		if !reflect.DeepEqual(got, f) {
			t.Fatalf("got %+v, want %+v", got, f)
		}
	}
	if _, err := decodeFlow(append(newFlow("/", "", false, false, time.Now()).encode(), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}
