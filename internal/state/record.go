package state

import (
	"time"

	"github.com/oidcsession/oidcsession/internal/wire"
)

// Replaced says when a stored session's generation was replaced by the
// next: a cookie of that generation is a request that crossed the write
// until the grace window after At, and a replayed copy after.
type Replaced struct {
	Gen uint64
	At  time.Time
}

// RecordVersion is the version byte of a stored record's payload.
const RecordVersion = 1

// MaxReplaced bounds the generations one record remembers.
const MaxReplaced = 16

// EncodeRecord appends the payload of a stored record to dst: the version
// byte, a count and, for each replaced generation, its number and when it
// was replaced; then the session's frame (EncodeSession).
func EncodeRecord(dst []byte, replaced []Replaced, s *Session) []byte {
	dst = append(dst, RecordVersion)
	dst = wire.AppendUvarint(dst, uint64(len(replaced)))
	for _, r := range replaced {
		dst = wire.AppendUvarint(dst, r.Gen)
		dst = wire.AppendTime(dst, r.At)
	}
	return EncodeSession(dst, s)
}

// DecodeRecord parses a record's payload. Slices in the result share b.
func DecodeRecord(b []byte) ([]Replaced, *Session, error) {
	r := wire.NewReader(b)
	if r.Byte() != RecordVersion {
		return nil, nil, ErrMalformed
	}
	n := r.Uvarint()
	if n > MaxReplaced {
		return nil, nil, ErrMalformed
	}
	var replaced []Replaced
	for range n {
		replaced = append(replaced, Replaced{Gen: r.Uvarint(), At: r.Time()})
	}
	rest := r.Rest()
	if r.Done() != nil {
		return nil, nil, ErrMalformed
	}
	s, err := DecodeSession(rest)
	if err != nil {
		return nil, nil, err
	}
	return replaced, s, nil
}
