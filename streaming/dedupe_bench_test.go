package streaming

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDedupe is the de-duplication of a partition's accepted events:
// ids like the generator's, event time moving 2 ms per event (the default
// gap and lateness give a generation every 17.5 minutes of event time, so
// about 100,000 ids per generation), one duplicate in a hundred.
func BenchmarkDedupe(b *testing.B) {
	const n = 1 << 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("e-1-mx7twgbucuu4g9-%d", i)
		if i%100 == 99 {
			ids[i] = ids[i-50]
		}
	}
	horizon := (30*time.Minute + 5*time.Minute).Microseconds()
	b.ResetTimer()
	dups := 0
	for round := 0; round*n < b.N; round++ {
		d := newDedupeSet(horizon)
		for i := 0; i < n && round*n+i < b.N; i++ {
			k := d.key(ids[i])
			if d.seen(k) {
				dups++
				continue
			}
			d.advance(int64(i)*2000, int64(i))
			d.add(k)
		}
	}
	b.ReportMetric(float64(dups)/float64(b.N), "dups/event")
}
