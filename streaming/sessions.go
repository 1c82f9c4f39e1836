package streaming

import (
	"hash/maphash"
	"math"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// openSession is the in-memory state of an open session: 56 bytes. The
// event count is not stored: every event is one of the three types.
type openSession struct {
	user       string // "" marks a free slot
	start, end int64
	revenue    int64
	views      uint32
	carts      uint32
	purchases  uint32
	next       int32 // the user's next open session by start, or -1
}

const pageBits = 12 // 4096 sessions a page: the slab grows without copying

// sessionStore holds the open sessions of one partition: a paged slab of
// sessions, and per user a list of open sessions ordered by start. Users are
// keyed by a 64-bit hash; the rare user whose hash collides with another's
// lives in spill.
type sessionStore struct {
	gap   int64
	hash  func(string) uint64
	users map[uint64]int32
	spill map[string]int32
	pages [][]openSession
	free  []int32
	open  int
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
		users:      make(map[uint64]int32),
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

// head returns the first open session of user, or -1.
func (st *sessionStore) head(user string, h uint64) int32 {
	if i, ok := st.users[h]; ok && st.at(i).user == user {
		return i
	}
	if len(st.spill) > 0 {
		if i, ok := st.spill[user]; ok {
			return i
		}
	}
	return -1
}

// setHead makes i the first session of user; -1 removes the user.
func (st *sessionStore) setHead(user string, h uint64, i int32) {
	spilled := false
	if len(st.spill) > 0 {
		_, spilled = st.spill[user]
	}
	if j, ok := st.users[h]; !spilled && (!ok || st.at(j).user == user) {
		if i < 0 {
			delete(st.users, h)
		} else {
			st.users[h] = i
		}
		return
	}
	if st.spill == nil {
		st.spill = make(map[string]int32)
	}
	if i < 0 {
		delete(st.spill, user)
	} else {
		st.spill[user] = i
	}
}

// add puts an on-time event of user at time t into its session: it extends
// the session it is within gap of, merges the sessions it bridges, or starts
// a new one. The user string is copied when the store keeps it.
func (st *sessionStore) add(user string, t int64, typ event.EventType, revenue int64) {
	h := st.hash(user)
	first := st.head(user, h)
	prev := int32(-1)
	for cur := first; cur >= 0; {
		s := st.at(cur)
		if t <= s.start-st.gap {
			break // a new session before cur
		}
		if t < s.end+st.gap {
			s.count(typ, revenue)
			if t < s.start {
				s.start = t
				st.startBound = min(st.startBound, t)
			}
			if t > s.end {
				s.end = t
				// The event may bridge the gap to the following sessions.
				for s.next >= 0 {
					n := st.at(s.next)
					if n.start-s.end >= st.gap {
						break
					}
					s.end = max(s.end, n.end)
					s.revenue += n.revenue
					s.views += n.views
					s.carts += n.carts
					s.purchases += n.purchases
					dead := s.next
					s.next = n.next
					st.release(dead)
				}
			}
			return
		}
		prev, cur = cur, s.next
	}
	// A new session, linked in start order after prev.
	stored := user
	if first >= 0 {
		stored = st.at(first).user
	} else {
		stored = string([]byte(user))
	}
	i := st.alloc()
	s := st.at(i)
	*s = openSession{user: stored, start: t, end: t, next: -1}
	s.count(typ, revenue)
	st.open++
	st.closeBound = min(st.closeBound, t+st.gap)
	st.startBound = min(st.startBound, t)
	if prev < 0 {
		s.next = first
		st.setHead(stored, h, i)
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
	s.revenue += revenue
}

// closeUntil closes every session whose end+gap ≤ watermark, appending it to
// out. It scans only when some session may be ready.
func (st *sessionStore) closeUntil(watermark int64, partition int32, out []event.Session) []event.Session {
	if watermark < st.closeBound || st.open == 0 {
		return out
	}
	return st.scan(func(s *openSession) bool { return s.end+st.gap <= watermark }, partition, out)
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
			if s.user == "" {
				continue
			}
			if !ready(s) {
				closeBound = min(closeBound, s.end+st.gap)
				startBound = min(startBound, s.start)
				continue
			}
			out = append(out, event.Session{
				SessionID:  event.SessionID(s.user, s.start),
				UserID:     s.user,
				Start:      s.start,
				End:        s.end,
				PageViews:  int32(s.views),
				AddToCarts: int32(s.carts),
				Purchases:  int32(s.purchases),
				Revenue:    s.revenue,
				Partition:  partition,
			})
			st.unlink(int32(p<<pageBits | j))
		}
	}
	st.closeBound, st.startBound = closeBound, startBound
	return out
}

// unlink removes session i from its user's list and frees it.
func (st *sessionStore) unlink(i int32) {
	s := st.at(i)
	user := s.user
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
