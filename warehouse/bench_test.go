package warehouse

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// benchBatch is n page views and purchases with realistic string lengths.
func benchBatch(n int, from int64) *event.Batch {
	b := &event.Batch{Stream: 1, IngestedAt: 1_760_000_000_000_000}
	b.Events = make([]event.Event, n)
	for i := range b.Events {
		off := from + int64(i)
		b.Events[i] = event.Event{
			EventID: fmt.Sprintf("e-%016x-%08d", off*2654435761, off), UserID: fmt.Sprintf("u-%07d", off%100_000),
			Time: 1_760_000_000_000_000 + off*1000, Type: event.EventType(1 + off%3),
			Has:       event.HasProductID | event.HasPrice | event.HasDevice | event.HasCountry | event.HasCategory | event.HasClientSessionID,
			ProductID: fmt.Sprintf("p-%05d", off%5000), Price: 1999, Quantity: 1,
			ClientSessionID: fmt.Sprintf("cs-%08x", off/10), Device: "mobile", Country: "DE", Category: "electronics",
			Partition: int32(off % 8), Offset: off,
		}
	}
	b.Sessions = make([]event.Session, n/8)
	for i := range b.Sessions {
		b.Sessions[i] = event.Session{SessionID: fmt.Sprintf("%032x", from+int64(i)), UserID: fmt.Sprintf("u-%07d", i), Start: 1, End: 2, PageViews: 3, Partition: int32(i % 8)}
	}
	return b
}

// BenchmarkCommit measures a micro-batch of 100,000 events (and 12,500
// sessions) committed into a file-backed DuckDB: ns/op divided by 1e5 is the
// warehouse's share of the cost of one event.
func BenchmarkCommit(b *testing.B) {
	db, err := Open(context.Background(), "duckdb://"+filepath.Join(b.TempDir(), "w.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const n = 200_000
	batches := []*event.Batch{benchBatch(n, 0), benchBatch(n, n)}
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		batches[i%2].Prepared = nil // encode every time, as a new batch would be
		if err := db.Commit(context.Background(), batches[i%2]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N*n), "cpu-ns/event")
}

// cpuTime is the CPU time this process has used, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
