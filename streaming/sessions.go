package streaming

import (
	"encoding/binary"
	"hash/maphash"
	"math"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// openSession is the in-memory state of an open session: 44 bytes. Every
// field is 32 bits wide, so the struct needs no padding (with int64 fields
// and the user as a string it took 56): the times and the revenue are kept
// in halves, and the user is an offset into the store's arena of user ids.
// The event count is not stored: every event is one of the three types.
type openSession struct {
	user                    uint32 // arena offset of the user id; 0 marks a free slot
	next                    int32  // the user's next open session by start, or -1
	start, end, revenue     split64
	views, carts, purchases uint32
}

// split64 is an int64 as two 32-bit halves.
type split64 [2]uint32

func mk64(v int64) split64   { return split64{uint32(v), uint32(uint64(v) >> 32)} }
func (v split64) get() int64 { return int64(uint64(v[0]) | uint64(v[1])<<32) }

const pageBits = 12 // 4096 sessions a page: the slab grows without copying

// The arena keeps each user id once, length-prefixed, in chunks of 64 KiB
// (an id never spans two), so that it grows without copying or spare
// capacity; an offset is chunk<<16 | position. Offset 0 is never an id's.
const (
	chunkBits = 16
	chunkSize = 1 << chunkBits
)

// sessionStore holds the open sessions of one partition: a paged slab of
// sessions, per user a list of open sessions ordered by start, and an index
// from user to the first of them — open addressing over int32 slots (the
// session's index plus one; 0 is empty) with linear probing, keyed by a
// hash of the user id and compared against the arena.
type sessionStore struct {
	gap       int64
	hash      func(string) uint64
	hashBytes func([]byte) uint64 // equal to hash for the same bytes
	index     []int32
	users     int // entries in index
	chunks    [][]byte
	live      int // arena bytes of users with open sessions
	garbage   int // arena bytes of users gone since the last compaction
	pages     [][]openSession
	free      []int32
	open      int
	// compactPending asks the next scan to compact the arena.
	compactPending bool
	compactions    int
	// Lower bounds, over the open sessions, of end+gap and of start: exact
	// after a full scan, lowered as sessions are created or extended.
	closeBound int64
	startBound int64
}

func newSessionStore(gap int64) *sessionStore {
	seed := maphash.MakeSeed()
	return &sessionStore{
		gap:        gap,
		hash:       func(s string) uint64 { return maphash.String(seed, s) },
		hashBytes:  func(b []byte) uint64 { return maphash.Bytes(seed, b) },
		index:      make([]int32, 1024),
		chunks:     [][]byte{make([]byte, 1, chunkSize)},
		closeBound: math.MaxInt64,
		startBound: math.MaxInt64,
	}
}

func (st *sessionStore) at(i int32) *openSession {
	return &st.pages[i>>pageBits][i&(1<<pageBits-1)]
}

func (st *sessionStore) alloc() int32 {
	if n := len(st.free); n > 0 {
		i := st.free[n-1]
		st.free = st.free[:n-1]
		return i
	}
	i := int32(len(st.pages)) << pageBits
	st.pages = append(st.pages, make([]openSession, 1<<pageBits))
	for j := int32(1<<pageBits) - 1; j > 0; j-- {
		st.free = append(st.free, i+j)
	}
	return i
}

func (st *sessionStore) release(i int32) {
	*st.at(i) = openSession{}
	st.free = append(st.free, i)
	st.open--
}

// userAt returns the user id at arena offset off (aliasing the arena).
func (st *sessionStore) userAt(off uint32) []byte { return userIn(st.chunks, off) }

func userIn(chunks [][]byte, off uint32) []byte {
	c := chunks[off>>chunkBits][off&(chunkSize-1):]
	n, k := binary.Uvarint(c)
	return c[k : k+int(n)]
}

// intern copies user into the arena.
func (st *sessionStore) intern(user string) uint32 {
	need := binary.MaxVarintLen64 + len(user)
	last := len(st.chunks) - 1
	c := st.chunks[last]
	if len(c)+need > cap(c) || len(c) >= chunkSize {
		// A new chunk; an id longer than a chunk gets one of its own.
		c = make([]byte, 0, max(chunkSize, need))
		st.chunks = append(st.chunks, c)
		last++
	}
	if last >= 1<<(32-chunkBits) {
		panic("streaming: more than 4 GiB of open sessions' user ids")
	}
	off := uint32(last<<chunkBits | len(c))
	c = binary.AppendUvarint(c, uint64(len(user)))
	c = append(c, user...)
	st.live += len(c) - int(off&(chunkSize-1))
	st.chunks[last] = c
	return off
}

// find returns the index slot of user: the slot holding its first session,
// or the empty slot where it would go, and that session or -1.
func (st *sessionStore) find(user string, h uint64) (int, int32) {
	mask := len(st.index) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		v := st.index[i]
		if v == 0 {
			return i, -1
		}
		if string(st.userAt(st.at(v-1).user)) == user {
			return i, v - 1
		}
	}
}

// head returns the first open session of user, or -1.
func (st *sessionStore) head(user string, h uint64) int32 {
	_, i := st.find(user, h)
	return i
}

// setHead makes i the first session of user; -1 removes the user.
func (st *sessionStore) setHead(user string, h uint64, i int32) {
	slot, cur := st.find(user, h)
	switch {
	case i >= 0 && cur >= 0:
		st.index[slot] = i + 1
	case i >= 0:
		if (st.users+1)*4 > len(st.index)*3 {
			st.grow()
			slot, _ = st.find(user, h)
		}
		st.index[slot] = i + 1
		st.users++
	case cur >= 0:
		st.forget(st.at(cur).user)
		st.deleteSlot(slot)
		st.users--
	}
}

// forget counts a departed user's id as arena garbage, and compacts the
// arena once garbage outweighs the ids still in use.
func (st *sessionStore) forget(off uint32) {
	n := len(st.userAt(off))
	size := n + uvarintLen(uint64(n))
	st.live -= size
	st.garbage += size
	if st.garbage > st.live && st.garbage > 4*chunkSize {
		st.compactPending = true
	}
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// deleteSlot empties slot i, moving later entries of its probe run back
// (backward-shift deletion: no tombstones).
func (st *sessionStore) deleteSlot(i int) {
	mask := len(st.index) - 1
	st.index[i] = 0
	for j := (i + 1) & mask; st.index[j] != 0; j = (j + 1) & mask {
		v := st.index[j]
		home := int(st.hashBytes(st.userAt(st.at(v-1).user))) & mask
		if (i-home)&mask < (j-home)&mask {
			st.index[i], st.index[j] = v, 0
			i = j
		}
	}
}

// grow doubles the index.
func (st *sessionStore) grow() {
	old := st.index
	st.index = make([]int32, 2*len(old))
	mask := len(st.index) - 1
	for _, v := range old {
		if v == 0 {
			continue
		}
		i := int(st.hashBytes(st.userAt(st.at(v-1).user))) & mask
		for st.index[i] != 0 {
			i = (i + 1) & mask
		}
		st.index[i] = v
	}
}

// compact copies the ids of the users with open sessions into a new arena.
// Between batches only: it runs from closeUntil and closeAll, never while
// a caller holds an offset.
func (st *sessionStore) compact() {
	st.compactPending = false
	st.compactions++
	old := st.chunks
	st.chunks = [][]byte{make([]byte, 1, chunkSize)}
	st.live, st.garbage = 0, 0
	for _, v := range st.index {
		if v == 0 {
			continue
		}
		first := v - 1
		b := userIn(old, st.at(first).user)
		off := st.intern(string(b))
		for cur := first; cur >= 0; cur = st.at(cur).next {
			st.at(cur).user = off
		}
	}
}

// add puts an on-time event of user at time t into its session: it extends
// the session it is within gap of, merges the sessions it bridges, or starts
// a new one. The user id is copied into the arena when the store keeps it.
func (st *sessionStore) add(user string, t int64, typ event.EventType, revenue int64) {
	h := st.hash(user)
	first := st.head(user, h)
	prev := int32(-1)
	for cur := first; cur >= 0; {
		s := st.at(cur)
		start, end := s.start.get(), s.end.get()
		if t <= start-st.gap {
			break // a new session before cur
		}
		if t < end+st.gap {
			s.count(typ, revenue)
			if t < start {
				s.start = mk64(t)
				st.startBound = min(st.startBound, t)
			}
			if t > end {
				end = t
				// The event may bridge the gap to the following sessions.
				for s.next >= 0 {
					n := st.at(s.next)
					if n.start.get()-end >= st.gap {
						break
					}
					end = max(end, n.end.get())
					s.revenue = mk64(s.revenue.get() + n.revenue.get())
					s.views += n.views
					s.carts += n.carts
					s.purchases += n.purchases
					dead := s.next
					s.next = n.next
					st.release(dead)
				}
				s.end = mk64(end)
			}
			return
		}
		prev, cur = cur, s.next
	}
	// A new session, linked in start order after prev.
	var stored uint32
	if first >= 0 {
		stored = st.at(first).user
	} else {
		stored = st.intern(user)
	}
	i := st.alloc()
	s := st.at(i)
	*s = openSession{user: stored, start: mk64(t), end: mk64(t), next: -1}
	s.count(typ, revenue)
	st.open++
	st.closeBound = min(st.closeBound, t+st.gap)
	st.startBound = min(st.startBound, t)
	if prev < 0 {
		s.next = first
		st.setHead(user, h, i)
	} else {
		p := st.at(prev)
		s.next = p.next
		p.next = i
	}
}

func (s *openSession) count(typ event.EventType, revenue int64) {
	switch typ {
	case event.PageView:
		s.views++
	case event.AddToCart:
		s.carts++
	case event.Purchase:
		s.purchases++
	}
	if revenue != 0 {
		s.revenue = mk64(s.revenue.get() + revenue)
	}
}

// closeUntil closes every session whose end+gap ≤ watermark, appending it to
// out. It scans only when some session may be ready.
func (st *sessionStore) closeUntil(watermark int64, partition int32, out []event.Session) []event.Session {
	if watermark < st.closeBound || st.open == 0 {
		return out
	}
	return st.scan(func(s *openSession) bool { return s.end.get()+st.gap <= watermark }, partition, out)
}

// closeAll closes every open session (the end of a finite input).
func (st *sessionStore) closeAll(partition int32, out []event.Session) []event.Session {
	if st.open == 0 {
		return out
	}
	return st.scan(func(*openSession) bool { return true }, partition, out)
}

func (st *sessionStore) scan(ready func(*openSession) bool, partition int32, out []event.Session) []event.Session {
	closeBound, startBound := int64(math.MaxInt64), int64(math.MaxInt64)
	for p, page := range st.pages {
		for j := range page {
			s := &page[j]
			if s.user == 0 {
				continue
			}
			start, end := s.start.get(), s.end.get()
			if !ready(s) {
				closeBound = min(closeBound, end+st.gap)
				startBound = min(startBound, start)
				continue
			}
			user := string(st.userAt(s.user))
			out = append(out, event.Session{
				SessionID:  event.SessionID(user, start),
				UserID:     user,
				Start:      start,
				End:        end,
				PageViews:  int32(s.views),
				AddToCarts: int32(s.carts),
				Purchases:  int32(s.purchases),
				Revenue:    s.revenue.get(),
				Partition:  partition,
			})
			st.unlink(int32(p<<pageBits|j), user)
		}
	}
	st.closeBound, st.startBound = closeBound, startBound
	if st.compactPending {
		st.compact()
	}
	return out
}

// unlink removes session i of user from the user's list and frees it.
func (st *sessionStore) unlink(i int32, user string) {
	s := st.at(i)
	h := st.hash(user)
	first := st.head(user, h)
	if first == i {
		st.setHead(user, h, s.next)
	} else {
		for cur := first; cur >= 0; cur = st.at(cur).next {
			if c := st.at(cur); c.next == i {
				c.next = s.next
				break
			}
		}
	}
	st.release(i)
}
