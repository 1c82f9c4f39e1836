package streaming

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// TestSessionStoreAgainstBatch feeds the store a shuffled stream of many
// users — under a watermark, closing as it goes, as a partition does — and
// compares what it closes with a batch sessionization of the accepted
// events: with the real hash, with every user on a few hash values (long
// probe runs, deletions shifting entries back), and with enough users
// coming and going that the arena is compacted.
func TestSessionStoreAgainstBatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		users  int
		events int
		hashes uint64 // 0: the store's own hash
	}{
		{"real hash", 5_000, 60_000, 0},
		{"7 hash values", 300, 6_000, 7},
		{"arena compaction", 80_000, 240_000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := gap.Microseconds()
			const lateness = int64(10 * 60 * 1e6)
			st := newSessionStore(g)
			if tc.hashes > 0 {
				st.hash = func(s string) uint64 { return uint64(len(s)+int(s[len(s)-1])) % tc.hashes }
				st.hashBytes = func(b []byte) uint64 { return st.hash(string(b)) }
			}
			r := rand.New(rand.NewPCG(1, uint64(tc.users)))
			type ev struct {
				user string
				t    int64
				typ  event.EventType
				rev  int64
			}
			var accepted []ev
			var closed []event.Session
			maxT, wm := int64(0), int64(-1<<62)
			for i := range tc.events {
				// Users drift through id space so that old ones leave for good.
				u := fmt.Sprintf("u%d", i*tc.users/tc.events+r.IntN(tc.users/10+1))
				tm := int64(i)*2_000_000 - r.Int64N(15*60*1e6) // out of order by up to 15 min
				typ := event.EventType(1 + r.IntN(3))
				rev := int64(0)
				if typ == event.Purchase {
					rev = r.Int64N(10_000)
				}
				if tm < wm {
					continue // late: the partition keeps it out of sessions
				}
				accepted = append(accepted, ev{u, tm, typ, rev})
				st.add(u, tm, typ, rev)
				maxT = max(maxT, tm)
				wm = maxT - lateness
				if i%500 == 0 {
					closed = st.closeUntil(wm, 0, closed)
				}
			}
			compactions := st.compactions
			closed = st.closeAll(0, closed)
			if st.open != 0 || st.users != 0 || st.live != 0 {
				t.Fatalf("after closeAll: %d open, %d users, %d arena bytes", st.open, st.users, st.live)
			}
			if tc.name == "arena compaction" && compactions == 0 {
				t.Fatal("the arena was never compacted")
			}

			// The batch reference.
			byUser := map[string][]ev{}
			for _, e := range accepted {
				byUser[e.user] = append(byUser[e.user], e)
			}
			var want []event.Session
			for u, evs := range byUser {
				slices.SortFunc(evs, func(a, b ev) int { return int(a.t - b.t) })
				var cur *event.Session
				for _, e := range evs {
					if cur == nil || e.t-cur.End >= g {
						want = append(want, event.Session{UserID: u, Start: e.t})
						cur = &want[len(want)-1]
					}
					cur.End = e.t
					switch e.typ {
					case event.PageView:
						cur.PageViews++
					case event.AddToCart:
						cur.AddToCarts++
					case event.Purchase:
						cur.Purchases++
					}
					cur.Revenue += e.rev
				}
			}
			for i := range want {
				want[i].SessionID = event.SessionID(want[i].UserID, want[i].Start)
			}
			sortSessions(want)
			sortSessions(closed)
			if diff := cmp.Diff(want, closed); diff != "" {
				t.Fatalf("%d sessions closed, %d by the batch (-batch +store):\n%s", len(closed), len(want), diff)
			}
			t.Logf("%d accepted events, %d sessions, %d compactions", len(accepted), len(closed), compactions)
		})
	}
}
