package streaming

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// commitLoop commits batches in order, retrying transient failures with
// exponential backoff; the first permanent failure stops the pipeline.
func (p *Pipeline) commitLoop(ctx context.Context, cl *kgo.Client) {
	for b := range p.commits {
		if p.fatalErr() == nil {
			if err := p.commitWithRetry(ctx, cl, b); err != nil {
				p.setFatal(err)
			}
		}
		p.inflight.Done()
		p.recycle(b)
	}
}

func (p *Pipeline) commitWithRetry(ctx context.Context, cl *kgo.Client, b *pendingBatch) error {
	backoff := 100 * time.Millisecond
	uncertain := false // an earlier attempt may have committed before failing
	// The rejected records go to the dead-letter topic once per batch, not
	// once per attempt: a warehouse outage of minutes would otherwise copy
	// them there at every retry.
	dlqSent := false
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := p.commit(ctx, cl, b, &dlqSent)
		if err != nil && uncertain && event.IsFenced(err) && p.landed(ctx, b) {
			err = nil // the connection broke after our COMMIT went through
		}
		if err == nil {
			p.committed(b, time.Since(start))
			p.commitRecovered(attempt)
			return nil
		}
		uncertain = uncertain || event.IsTransient(err)
		p.cfg.metrics.CommitErrors.Inc()
		if !event.IsTransient(err) || ctx.Err() != nil {
			return fmt.Errorf("commit batch: %w", err)
		}
		p.commitFailed(err)
		p.cfg.log.Warn("commit failed, retrying", "attempt", attempt, "backoff", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("commit batch: %w (gave up: %w)", err, ctx.Err())
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// landed reports whether every checkpoint of b is what the store holds:
// then b was committed by an attempt whose answer was lost.
func (p *Pipeline) landed(ctx context.Context, b *pendingBatch) bool {
	for _, cp := range b.Checkpoints {
		snap, err := p.store.LoadPartition(ctx, b.Stream, cp.Partition)
		if err != nil || snap.Checkpoint == nil || snap.Checkpoint.NextOffset != cp.NextOffset {
			return false
		}
	}
	return len(b.Checkpoints) > 0
}

// commit sends the batch's rejected records to the dead-letter topic
// unless *dlqSent says an earlier attempt did (at least once: they are
// acknowledged before the warehouse commit) and commits the batch.
func (p *Pipeline) commit(ctx context.Context, cl *kgo.Client, b *pendingBatch, dlqSent *bool) error {
	if len(b.Rejected) > 0 && p.cfg.dlq != "" && !*dlqSent {
		recs := make([]*kgo.Record, len(b.Rejected))
		for i := range b.Rejected {
			recs[i] = p.dlqRecord(&b.Rejected[i])
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return event.Transient(fmt.Errorf("produce to %s: %w", p.cfg.dlq, err))
		}
		*dlqSent = true
	}
	return p.store.Commit(ctx, &b.Batch)
}

// dlqBatchMaxBytes is the producer's batch limit (consume.go), and
// dlqMaxRecordBytes what a dead-letter record may take of it: the rest is
// the batch's and the record's framing.
const (
	dlqBatchMaxBytes  = 1 << 20
	dlqMaxRecordBytes = dlqBatchMaxBytes - 1<<10
)

// dlqRecord is the dead-letter record of r: its value and key, and why
// and where it was rejected in headers. A record too large to produce
// with its headers — possible only for one of about 1 MiB from a producer
// other than Cartwheel's — keeps the head of its value and says so in a
// "truncated" header (the original size): the producer would refuse it
// whole, and retrying a refusal that cannot change would hold the
// pipeline for good. rejected_events keeps its head too.
func (p *Pipeline) dlqRecord(r *event.Rejected) *kgo.Record {
	rec := &kgo.Record{
		Topic: p.cfg.dlq, Key: r.Key, Value: r.Payload,
		Headers: []kgo.RecordHeader{
			{Key: "reason", Value: []byte(r.Reason.String())},
			{Key: "detail", Value: []byte(r.Detail)},
			{Key: "source", Value: []byte(p.cfg.topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10))},
		},
	}
	size := func() int {
		n := len(rec.Key) + len(rec.Value)
		for _, h := range rec.Headers {
			n += len(h.Key) + len(h.Value) + 10 // and their varint lengths
		}
		return n
	}
	if size() > dlqMaxRecordBytes {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "truncated", Value: []byte(strconv.Itoa(len(r.Payload)))})
		rec.Value = rec.Value[:max(0, len(rec.Value)-(size()-dlqMaxRecordBytes))]
	}
	return rec
}

func (p *Pipeline) committed(b *pendingBatch, took time.Duration) {
	m := p.cfg.metrics
	now := time.Now()
	nowUS := now.UnixMicro()
	for _, ts := range b.produced {
		m.Freshness.Observe(float64(nowUS-ts) / 1e6)
	}
	late := 0
	for i := range b.Events {
		if b.Events[i].Late {
			late++
		}
	}
	m.Records.Add(float64(b.records))
	m.Accepted.Add(float64(len(b.Events)))
	m.Late.Add(float64(late))
	for _, r := range b.Rejected {
		m.Rejected.WithLabelValues(r.Reason.String()).Inc()
	}
	m.Sessions.Add(float64(len(b.Sessions)))
	m.Batches.Inc()
	m.CommitSeconds.Observe(took.Seconds())
	m.LastCommit.Set(float64(now.UnixNano()) / 1e9)
	if p.cfg.observe != nil {
		p.cfg.observe(b.produced, now)
	}
	if p.cfg.onOffsets != nil && len(b.Checkpoints) > 0 {
		next := make(map[int32]int64, len(b.Checkpoints))
		for _, cp := range b.Checkpoints {
			next[cp.Partition] = cp.NextOffset
		}
		p.cfg.onOffsets(next)
	}

	p.statsMu.Lock()
	s := &p.stats
	s.Records += int64(b.records)
	s.Accepted += int64(len(b.Events))
	s.Late += int64(late)
	s.Rejected += int64(len(b.Rejected))
	s.Sessions += int64(len(b.Sessions))
	s.Batches++
	s.LastCommit = now
	p.statsMu.Unlock()
	if len(b.Sessions) > 0 || len(b.Rejected) > 0 {
		p.cfg.log.Debug("committed batch", "events", len(b.Events), "rejected", len(b.Rejected),
			"sessions", len(b.Sessions), "took", took)
	}
}
