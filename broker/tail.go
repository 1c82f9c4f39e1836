package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// tailWait bounds how long ReadTail waits for the records it listed:
// transaction markers of other producers can hide the last offsets of a
// partition, and a record that never comes must not hold up a start.
const tailWait = 5 * time.Second

// ReadTail calls fn with each of the last n records (at most) of every
// partition of topic, as the log is when it is called — the end that a
// consumer may not have read yet. It connects to brokers with opts (say,
// TLS and SASL) and reads with a client of its own. Records of one
// partition come in offset order; after a bounded wait it gives up on the
// rest quietly. A missing topic is an error.
func ReadTail(ctx context.Context, brokers []string, topic string, n int64, fn func(*kgo.Record), opts ...kgo.Opt) error {
	opts = append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)
	from, last, err := tailOffsets(ctx, opts, topic, n)
	if err != nil || len(from) == 0 {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	wctx, cancel := context.WithTimeout(ctx, tailWait)
	defer cancel()
	for len(last) > 0 {
		fs := cl.PollFetches(wctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ferr == nil && !errors.Is(err, context.DeadlineExceeded) {
				ferr = err
			}
		})
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if l, ok := last[r.Partition]; ok {
				fn(r)
				if r.Offset >= l {
					delete(last, r.Partition)
				}
			}
		})
		if wctx.Err() != nil {
			return nil // what the last poll brought is kept
		}
	}
	return nil
}

// tailOffsets returns, for each non-empty partition of topic, the offset
// to read the last n records from and the offset of the last record.
func tailOffsets(ctx context.Context, opts []kgo.Opt, topic string, n int64) (from map[int32]kgo.Offset, last map[int32]int64, err error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	end, err := EndOffsets(ctx, cl, topic)
	if err != nil {
		return nil, nil, err
	}
	start, err := StartOffsets(ctx, cl, topic)
	if err != nil {
		return nil, nil, err
	}
	from, last = make(map[int32]kgo.Offset), make(map[int32]int64)
	for p, e := range end {
		if s := max(start[p], e-n); s < e {
			from[p] = kgo.NewOffset().At(s)
			last[p] = e - 1
		}
	}
	return from, last, nil
}
