package event

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
)

// Session is a closed session as written to the warehouse.
type Session struct {
	SessionID  string
	UserID     string
	Start, End int64 // µs since epoch
	PageViews  int32
	AddToCarts int32
	Purchases  int32
	Revenue    int64 // cents
	Partition  int32
}

// EventCount is the number of on-time events in the session.
func (s *Session) EventCount() int32 { return s.PageViews + s.AddToCarts + s.Purchases }

// SessionID derives the deterministic id of a user's session from the user
// and the session start: the same input gives the same ids on every run and
// every warehouse.
func SessionID(user string, start int64) string {
	h := fnv.New128a()
	h.Write([]byte(user))
	var b [9]byte
	binary.BigEndian.PutUint64(b[1:], uint64(start))
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil))
}
