//go:build duckdb_arrow

package warehouse

import "testing"

// BenchmarkEncode measures building a batch's Arrow records (events and
// sessions) on the consuming goroutine, ahead of the commit.
func BenchmarkEncode(b *testing.B) {
	const n = 100_000
	batch := benchBatch(n, 0)
	for b.Loop() {
		rec := eventsRecord(batch)
		srec := sessionsRecord(batch)
		rec.Release()
		srec.Release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}
