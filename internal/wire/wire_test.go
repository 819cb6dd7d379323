package wire

import (
	"bytes"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var b []byte
	b = append(b, 7)
	b = AppendUvarint(b, 300)
	b = AppendBytes(b, []byte("abc"))
	b = AppendString(b, "")
	b = AppendTime(b, now)
	b = AppendTime(b, time.Time{})
	r := NewReader(b)
	if r.Byte() != 7 || r.Uvarint() != 300 || !bytes.Equal(r.Bytes(10), []byte("abc")) || r.String(10) != "" ||
		!r.Time().Equal(now) || !r.Time().IsZero() || r.Done() != nil {
		t.Fatal("round trip failed")
	}
}

func TestStrict(t *testing.T) {
	tests := map[string][]byte{
		"overlong varint":  {0x80, 0x00},
		"length past end":  {5, 'a'},
		"over the maximum": append([]byte{11}, bytes.Repeat([]byte{'a'}, 11)...),
		"trailing bytes":   {1, 'a', 0},
		"empty":            {},
		"huge time":        AppendUvarint(nil, 1<<41),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			r := NewReader(b)
			if name == "huge time" {
				r.Time()
			} else {
				r.Bytes(10)
			}
			if r.Done() == nil {
				t.Fatal("accepted")
			}
			if r.Byte() != 0 || r.Uvarint() != 0 || r.Bytes(5) != nil {
				t.Fatal("reads after a failure must return zero values")
			}
		})
	}
}
