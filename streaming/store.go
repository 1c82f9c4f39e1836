package streaming

import (
	"context"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// Store is where a Pipeline commits its work and finds it again after a
// restart. The warehouse adapters implement it.
type Store interface {
	// Stream returns the id of the named input stream, registering it on
	// first use. Offsets and state are kept per stream and partition.
	Stream(ctx context.Context, name string) (int32, error)
	// LoadPartition returns what the pipeline needs to resume a partition;
	// a nil Checkpoint means the partition was never committed.
	LoadPartition(ctx context.Context, stream, partition int32) (*event.Snapshot, error)
	// Commit writes a batch in one transaction: all of it or none. It fails
	// with an *event.FencedError when a partition's stored offset is not the one
	// the batch continues from (another consumer committed it meanwhile).
	// Commit must not keep b or its slices: the pipeline reuses them. A
	// failure worth retrying is marked with event.Transient.
	Commit(ctx context.Context, b *event.Batch) error
}

// Preparer is implemented by a Store that can encode a batch's rows before
// Commit. The pipeline calls Prepare on its consuming goroutine, so that the
// encoding overlaps the commit of the batch before.
type Preparer interface {
	Prepare(b *event.Batch)
}
