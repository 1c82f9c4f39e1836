package streaming

import (
	"fmt"
	"testing"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// BenchmarkSessionStore is the sessionizer's work per event (make bench):
// 100,000 users, an event every 2 ms of event time from a random one, the
// sessions closed behind a 10-minute watermark every 1,000 events.
func BenchmarkSessionStore(b *testing.B) {
	const users = 100_000
	ids := make([]string, users)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%06d", i)
	}
	st := newSessionStore(gap.Microseconds())
	var out []event.Session
	x := uint64(1)
	b.ResetTimer()
	for i := range b.N {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		t := int64(i) * 2_000
		st.add(ids[x%users], t, event.PageView, 0)
		if i%1000 == 0 {
			out = st.closeUntil(t-600_000_000, 0, out[:0])
		}
	}
	b.ReportMetric(float64(st.open), "open")
}
