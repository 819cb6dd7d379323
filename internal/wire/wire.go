// Package wire is the one binary framing of everything the package seals
// into cookies or stores: unsigned varints, length-prefixed bytes and Unix
// times, read strictly.
package wire

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"time"
)

// ErrMalformed is what a Reader reports for any frame it cannot read.
var ErrMalformed = errors.New("malformed frame")

// AppendUvarint appends v as an unsigned varint.
func AppendUvarint(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }

// AppendBytes appends b with its length first.
func AppendBytes(dst, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

// AppendString appends s with its length first.
func AppendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// AppendTime appends t as Unix seconds; the zero time (and anything not
// after the epoch) is 0.
func AppendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() || t.Unix() <= 0 {
		return binary.AppendUvarint(dst, 0)
	}
	return binary.AppendUvarint(dst, uint64(t.Unix()))
}

// maxTime bounds decoded times (year 36812), so no time overflows.
const maxTime = 1 << 40

// Reader reads a frame. The input is treated as untrusted: every length is
// checked against what is left, varints must be minimal (one value, one
// encoding), and after the first failure every read returns a zero value,
// so callers check Err once at the end.
type Reader struct {
	b   []byte
	bad bool
}

// NewReader reads b. Slices returned by Bytes share b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.bad || len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// Uvarint reads a minimal unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n != (bits.Len64(v|1)+6)/7 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Bytes reads a length-prefixed field of at most max bytes.
func (r *Reader) Bytes(max int) []byte {
	n := r.Uvarint()
	if r.bad || n > uint64(max) || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// String reads a length-prefixed field of at most max bytes.
func (r *Reader) String(max int) string { return string(r.Bytes(max)) }

// Time reads Unix seconds; 0 is the zero time.
func (r *Reader) Time() time.Time {
	v := r.Uvarint()
	if v == 0 {
		return time.Time{}
	}
	if v > maxTime {
		r.fail()
		return time.Time{}
	}
	return time.Unix(int64(v), 0)
}

// Rest reads everything left: a frame nested last in this one.
func (r *Reader) Rest() []byte {
	if r.bad {
		return nil
	}
	v := r.b
	r.b = nil
	return v
}

// Done reports ErrMalformed if any read failed or bytes are left over.
func (r *Reader) Done() error {
	if r.bad || len(r.b) != 0 {
		return ErrMalformed
	}
	return nil
}

// Fail marks the frame malformed, for a check the caller makes itself.
func (r *Reader) Fail() { r.fail() }

func (r *Reader) fail() {
	r.bad = true
	r.b = nil
}
