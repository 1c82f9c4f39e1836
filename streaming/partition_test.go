package streaming

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/event"
)

const (
	gap      = 30 * time.Minute
	lateness = 10 * time.Minute
)

// in is one input record for the partition tests.
type in struct {
	user string
	at   string // "HH:MM[:SS[.fff]]" on 2026-11-01, UTC
	typ  event.EventType
	id   string // event_id; default: a fresh one
	rev  int64  // price in cents (quantity 1)
}

// out is an expected closed session.
type out struct {
	user       string
	start, end string
	views      int32
	carts      int32
	purchases  int32
	revenue    int64
}

func clock(at string) int64 {
	layout := "15:04"
	switch strings.Count(at, ":") {
	case 2:
		layout = "15:04:05.999"
	}
	t, err := time.Parse(layout, at)
	if err != nil {
		panic(err)
	}
	return time.Date(2026, 11, 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC).UnixMicro()
}

type feedResult struct {
	sessions   []out
	late       []string // event ids accepted late
	duplicates []string // event ids rejected as duplicate
}

// feed runs records through a partition, closing ready sessions after
// every record (the most eager schedule), then everything at the end.
func feed(t *testing.T, recs []in, closeAll bool) feedResult {
	t.Helper()
	p := newPartition(0, gap.Microseconds(), lateness.Microseconds())
	var res feedResult
	var closed []event.Session
	for i, r := range recs {
		id := r.id
		if id == "" {
			id = fmt.Sprintf("e%d", i)
		}
		e := event.Event{EventID: id, UserID: r.user, Time: clock(r.at), Type: r.typ, Quantity: 1, Price: r.rev, Offset: int64(i)}
		if e.Type == 0 {
			e.Type = event.PageView
		}
		if p.accept(&e) {
			res.duplicates = append(res.duplicates, id)
		} else if e.Late {
			res.late = append(res.late, id)
		}
		p.seen(int64(i), 0)
		closed, _ = p.checkpoint(closed, false)
	}
	if closeAll {
		closed, _ = p.checkpoint(closed, true)
	}
	for _, s := range closed {
		if s.SessionID != event.SessionID(s.UserID, s.Start) {
			t.Errorf("session id %s is not derived from user and start", s.SessionID)
		}
		res.sessions = append(res.sessions, out{
			user: s.UserID, start: event.TimeOf(s.Start).Format("15:04:05.000"), end: event.TimeOf(s.End).Format("15:04:05.000"),
			views: s.PageViews, carts: s.AddToCarts, purchases: s.Purchases, revenue: s.Revenue,
		})
	}
	slices.SortFunc(res.sessions, func(a, b out) int { return strings.Compare(a.user+a.start, b.user+b.start) })
	return res
}

func TestSessionize(t *testing.T) {
	tests := []struct {
		name     string
		recs     []in
		closeAll bool
		want     feedResult
	}{
		{
			name:     "a gap of exactly G starts a new session",
			recs:     []in{{user: "a", at: "10:00"}, {user: "a", at: "10:30"}},
			closeAll: true,
			want: feedResult{sessions: []out{
				{user: "a", start: "10:00:00.000", end: "10:00:00.000", views: 1},
				{user: "a", start: "10:30:00.000", end: "10:30:00.000", views: 1},
			}},
		},
		{
			name:     "a gap of G - 1ms stays in the session",
			recs:     []in{{user: "a", at: "10:00:00.000"}, {user: "a", at: "10:29:59.999"}},
			closeAll: true,
			want:     feedResult{sessions: []out{{user: "a", start: "10:00:00.000", end: "10:29:59.999", views: 2}}},
		},
		{
			name: "an out-of-order event bridging two open sessions merges them",
			recs: []in{
				{user: "a", at: "10:00", typ: event.PageView},
				{user: "a", at: "10:34", typ: event.AddToCart},
				{user: "a", at: "10:35", typ: event.Purchase, rev: 500},
				{user: "a", at: "10:27", typ: event.PageView}, // watermark 10:25: on time; < G from both
			},
			closeAll: true,
			want: feedResult{sessions: []out{
				{user: "a", start: "10:00:00.000", end: "10:35:00.000", views: 2, carts: 1, purchases: 1, revenue: 500},
			}},
		},
		{
			name: "an out-of-order event before a session extends its start",
			recs: []in{
				{user: "a", at: "10:05"},
				{user: "a", at: "10:00"},
			},
			closeAll: true,
			want:     feedResult{sessions: []out{{user: "a", start: "10:00:00.000", end: "10:05:00.000", views: 2}}},
		},
		{
			name: "ties in event time are one session, in any order",
			recs: []in{
				{user: "a", at: "10:00", typ: event.Purchase, rev: 100},
				{user: "a", at: "10:00", typ: event.PageView},
				{user: "a", at: "10:00", typ: event.AddToCart},
			},
			closeAll: true,
			want: feedResult{sessions: []out{
				{user: "a", start: "10:00:00.000", end: "10:00:00.000", views: 1, carts: 1, purchases: 1, revenue: 100},
			}},
		},
		{
			name: "a late event is kept, flagged and joins no session",
			recs: []in{
				{user: "a", at: "10:00"},
				{user: "b", at: "10:30"},
				{user: "a", at: "10:19:59", id: "late"}, // watermark 10:20
				{user: "a", at: "10:20", id: "ontime"},  // exactly the watermark: on time
			},
			closeAll: true,
			want: feedResult{
				late: []string{"late"},
				sessions: []out{
					{user: "a", start: "10:00:00.000", end: "10:20:00.000", views: 2},
					{user: "b", start: "10:30:00.000", end: "10:30:00.000", views: 1},
				},
			},
		},
		{
			name: "a duplicate event id is rejected, the first one wins",
			recs: []in{
				{user: "a", at: "10:00", id: "x", typ: event.Purchase, rev: 100},
				{user: "a", at: "10:01", id: "x", typ: event.Purchase, rev: 999},
			},
			closeAll: true,
			want: feedResult{
				duplicates: []string{"x"},
				sessions:   []out{{user: "a", start: "10:00:00.000", end: "10:00:00.000", purchases: 1, revenue: 100}},
			},
		},
		{
			name: "a duplicate of a late event is rejected too",
			recs: []in{
				{user: "a", at: "12:00"},
				{user: "a", at: "09:00", id: "old"},
				{user: "a", at: "09:00", id: "old"},
			},
			want: feedResult{late: []string{"old"}, duplicates: []string{"old"}},
		},
		{
			name: "sessions close when the watermark reaches end + G, not before",
			recs: []in{
				{user: "a", at: "10:00"},
				{user: "b", at: "10:39:59"}, // watermark 10:29:59: a stays open
				{user: "b", at: "10:40"},    // watermark 10:30 = a.end + G: a closes
			},
			want: feedResult{sessions: []out{{user: "a", start: "10:00:00.000", end: "10:00:00.000", views: 1}}},
		},
		{
			name: "users are independent",
			recs: []in{
				{user: "a", at: "10:00"}, {user: "b", at: "10:10"}, {user: "a", at: "10:20"}, {user: "b", at: "10:45"},
			},
			closeAll: true,
			want: feedResult{sessions: []out{
				{user: "a", start: "10:00:00.000", end: "10:20:00.000", views: 2},
				{user: "b", start: "10:10:00.000", end: "10:10:00.000", views: 1},
				{user: "b", start: "10:45:00.000", end: "10:45:00.000", views: 1},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := feed(t, tt.recs, tt.closeAll)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(feedResult{}, out{})); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSessionizeIdlePartition: a partition that receives nothing advances its
// watermark with the wall clock after the idle timeout (live mode), closing
// its sessions; before the timeout nothing moves.
func TestSessionizeIdlePartition(t *testing.T) {
	p := newPartition(0, gap.Microseconds(), lateness.Microseconds())
	wall := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	e := event.Event{EventID: "e", UserID: "a", Time: clock("10:00"), Type: event.PageView, Quantity: 1}
	p.accept(&e)
	p.seen(0, wall.UnixMicro())
	idle := (30 * time.Second).Microseconds()
	var closed []event.Session

	p.idle(wall.Add(29*time.Second).UnixMicro(), idle)
	closed, _ = p.checkpoint(closed, false)
	if len(closed) != 0 || p.maxTime != clock("10:00") {
		t.Fatalf("before the idle timeout: %d closed, max %v", len(closed), event.TimeOf(p.maxTime))
	}
	// 39 minutes of silence: event time advanced to 10:39, watermark 10:29.
	p.idle(wall.Add(39*time.Minute).UnixMicro(), idle)
	closed, cp := p.checkpoint(closed, false)
	if len(closed) != 0 || cp.MaxEventTime != clock("10:39") {
		t.Fatalf("at 39 min: %d closed, checkpoint max %v", len(closed), event.TimeOf(cp.MaxEventTime))
	}
	// 40 minutes: watermark 10:30 = end + G, the session closes.
	p.idle(wall.Add(40*time.Minute).UnixMicro(), idle)
	closed, cp = p.checkpoint(closed, false)
	if len(closed) != 1 || cp.OpenFrom != event.NoTime {
		t.Fatalf("at 40 min: %d closed, open from %v", len(closed), cp.OpenFrom)
	}
}

// TestSessionizeRestore: rebuilding a partition from its checkpoint and the
// committed events gives the same future as never stopping.
func TestSessionizeRestore(t *testing.T) {
	recs := []in{
		{user: "a", at: "10:00"}, {user: "b", at: "10:05", typ: event.Purchase, rev: 100}, {user: "a", at: "10:50"},
		{user: "c", at: "10:51"}, {user: "a", at: "10:40", id: "late"}, {user: "b", at: "10:52", id: "dup"},
	}
	rest := []in{
		{user: "b", at: "10:52", id: "dup"}, {user: "a", at: "11:10"}, {user: "b", at: "11:30"}, {user: "c", at: "13:00"},
	}
	run := func(p *partition, recs []in, base int, closed []event.Session) ([]event.Session, []event.Event) {
		var events []event.Event
		for i, r := range recs {
			id := r.id
			if id == "" {
				id = fmt.Sprintf("e%d", base+i)
			}
			typ := r.typ
			if typ == 0 {
				typ = event.PageView
			}
			e := event.Event{EventID: id, UserID: r.user, Time: clock(r.at), Type: typ, Quantity: 1, Price: r.rev, Offset: int64(base + i)}
			if !p.accept(&e) {
				events = append(events, e)
			}
			p.seen(int64(base+i), 0)
		}
		return closed, events
	}
	// Uninterrupted.
	whole := newPartition(0, gap.Microseconds(), lateness.Microseconds())
	_, _ = run(whole, recs, 0, nil)
	closedA, _ := whole.checkpoint(nil, false)
	_, _ = run(whole, rest, len(recs), nil)
	closedB, _ := whole.checkpoint(nil, true)
	want := append(closedA, closedB...)

	// Stopped after recs, restored from what a store would hold.
	first := newPartition(0, gap.Microseconds(), lateness.Microseconds())
	_, events := run(first, recs, 0, nil)
	closed1, cp := first.checkpoint(nil, false)
	snap := &event.Snapshot{Checkpoint: &cp}
	for _, e := range events {
		if !e.Late && e.Time >= cp.OpenFrom {
			snap.OpenEvents = append(snap.OpenEvents, event.StoredEvent{UserID: e.UserID, Time: e.Time, Type: e.Type, Revenue: e.Revenue()})
		}
		if e.Offset >= cp.DedupeStarts[0] {
			snap.RecentIDs = append(snap.RecentIDs, event.StoredID{EventID: e.EventID, Offset: e.Offset})
		}
	}
	for _, s := range closed1 {
		snap.ClosedSessions = append(snap.ClosedSessions, event.SessionSpan{UserID: s.UserID, Start: s.Start, End: s.End})
	}
	second := newPartition(0, gap.Microseconds(), lateness.Microseconds())
	second.restore(snap, 0)
	if second.sessions.open != first.sessions.open || second.dedupe.size() != first.dedupe.size() {
		t.Fatalf("restored %d open sessions and %d ids, want %d and %d",
			second.sessions.open, second.dedupe.size(), first.sessions.open, first.dedupe.size())
	}
	_, events2 := run(second, rest, len(recs), nil)
	for _, e := range events2 {
		if e.EventID == "dup" {
			t.Errorf("the duplicate was accepted after the restore")
		}
	}
	closed2, _ := second.checkpoint(nil, true)
	got := append(closed1, closed2...)
	sortSessions(want)
	sortSessions(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("restored run differs (-uninterrupted +restored):\n%s", diff)
	}
}

func sortSessions(s []event.Session) {
	slices.SortFunc(s, func(a, b event.Session) int { return strings.Compare(a.SessionID, b.SessionID) })
}

// TestSessionStoreCollisions forces every user onto one hash: one probe run
// holds them all, and deleting from it shifts the others back.
func TestSessionStoreCollisions(t *testing.T) {
	st := newSessionStore(gap.Microseconds())
	st.hash = func(string) uint64 { return 0xdead }
	st.hashBytes = func([]byte) uint64 { return 0xdead }
	users := []string{"a", "b", "c", "d"}
	for _, round := range []int{2, 0, 1} {
		for _, u := range users {
			st.add(u, clock("10:00")+int64(round)*time.Hour.Microseconds(), event.PageView, 0)
		}
	}
	if st.open != 12 {
		t.Fatalf("open = %d, want 12", st.open)
	}
	closed := st.closeUntil(clock("11:45"), 0, nil)
	if len(closed) != 8 || st.open != 4 {
		t.Fatalf("closed %d, open %d; want 8 and 4", len(closed), st.open)
	}
	closed = st.closeAll(0, nil)
	if len(closed) != 4 || st.open != 0 || st.users != 0 || st.live != 0 {
		t.Fatalf("after closeAll: closed %d open %d users %d arena bytes %d", len(closed), st.open, st.users, st.live)
	}
}
