package warehouse

import (
	"context"
	"fmt"
	"testing"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// BenchmarkCommitSmall is the live pipeline's commit: a batch of 500
// events over 8 partitions (about 25 ms at 20,000 events/s), with its
// checkpoints and user_activity rows (make bench). Its time per op is what a
// record waits for between the batch's cut and being visible.
func BenchmarkCommitSmall(b *testing.B) {
	db := openTestDuckDB(b)
	ctx := context.Background()
	id, err := db.Stream(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	const n, parts = 500, 8
	next := make([]int64, parts)
	for i := range next {
		next[i] = -1
	}
	t0 := micro("2026-11-01T10:00:00Z")
	b.ResetTimer()
	for i := range b.N {
		batch := &event.Batch{Stream: id, IngestedAt: t0 + int64(i)*25_000}
		for j := range n {
			p := int32(j % parts)
			batch.Events = append(batch.Events, event.Event{
				EventID: fmt.Sprintf("e-%d-%d", i, j), UserID: fmt.Sprintf("user-%d", (i*n+j)%20_000), Type: event.PageView,
				Time: t0 + int64(i*n+j)*50, Quantity: 1, Partition: p, Offset: int64(i*n/parts + j/parts),
				Device: "mobile", Country: "DE", Has: event.HasDevice | event.HasCountry,
			})
		}
		for p := range int32(parts) {
			end := int64((i + 1) * n / parts)
			batch.Checkpoints = append(batch.Checkpoints, event.Checkpoint{Partition: p, PrevOffset: next[p], NextOffset: end,
				MaxEventTime: t0 + int64(i*n)*50, OpenFrom: event.NoTime})
			next[p] = end
		}
		db.Prepare(batch)
		if err := db.Commit(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}
