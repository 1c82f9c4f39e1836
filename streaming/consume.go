package streaming

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// Run consumes until ctx is done (then commits what it has read and returns
// nil) or, with WithStopAt, until the end of the input. A fenced commit
// (another consumer took a partition over) or a transient failure outside
// a commit (the warehouse unreachable while a partition is loaded) restarts
// the pipeline from the stored checkpoints, with backoff, as a process
// restart would; any other failure returns an error. What was committed
// stays consistent either way.
func (p *Pipeline) Run(ctx context.Context) error {
	backoff := minRestartBackoff
	for {
		err := p.runOnce(ctx)
		if err == nil || ctx.Err() != nil || !restartable(err) {
			return err
		}
		p.restarting(err)
		p.cfg.log.Warn("pipeline restarting from the stored checkpoints", "err", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(backoff*2, maxRestartBackoff)
		p.reset()
	}
}

func (p *Pipeline) runOnce(ctx context.Context) error {
	id, err := p.store.Stream(ctx, p.cfg.stream)
	if err != nil {
		return fmt.Errorf("register stream %q: %w", p.cfg.stream, err)
	}
	p.stream = id

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.cancel = cancel

	opts := append([]kgo.Opt{
		kgo.SeedBrokers(p.cfg.brokers...),
		kgo.ConsumerGroup(p.cfg.group),
		kgo.ConsumeTopics(p.cfg.topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// Offsets live in the warehouse; a stored offset outside the log
		// is a broker reset or lost data, and must stop us loudly.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.AdjustFetchOffsetsFn(p.assign),
		kgo.OnPartitionsAssigned(p.assigned),
		kgo.OnPartitionsRevoked(p.revoked),
		kgo.OnPartitionsLost(p.lost),
		kgo.FetchMaxWait(100 * time.Millisecond),
		// Fetches of a few MiB: larger ones cost more than they save. The
		// embedded broker builds each response by growing a slice and the
		// client reads it into a fresh buffer, so tens of MiB per fetch
		// meant fresh memory, and page faults, for every fetch.
		kgo.FetchMaxBytes(8 << 20),
		kgo.FetchMaxPartitionBytes(1 << 20),
		kgo.ProducerLinger(0),
		// The dead-letter producer must take any record the events topic
		// holds, plus its headers: records of up to 1 MiB (the file
		// producer's limit, and Kafka's default message.max.bytes), where
		// franz-go's default batch limit is 1,000,012 bytes (dlqRecord).
		kgo.ProducerBatchMaxBytes(dlqBatchMaxBytes),
	}, p.cfg.kopts...)
	if p.cfg.groupProtocol == GroupProtocolConsumer {
		// KIP-848: no JoinGroup barrier for a restarted member to wait
		// in behind the members a crash left, each of which the
		// coordinator fences after its session timeout. The embedded
		// broker's classic coordinator never gave a restarted consumer
		// its partitions back after a few crashes (issue 13).
		opts = append(opts, kgo.ServerSideBalancer())
	}
	if os.Getenv("CARTWHEEL_KAFKA_DEBUG") != "" {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, nil)))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	p.commits = make(chan *pendingBatch, 1)
	p.free = make(chan *pendingBatch, 2)
	commitDone := make(chan struct{})
	// The committer outlives runCtx so that a shutdown still commits what
	// was read; it has its own bound.
	commitCtx, stopCommits := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCommits()
	go func() {
		defer close(commitDone)
		p.commitLoop(commitCtx, cl)
	}()

	finish := func(final bool) error {
		p.mu.Lock()
		p.closing = true
		if p.fatalErr() == nil {
			p.cut(final)
		}
		p.mu.Unlock()
		close(p.commits)
		// Give the last commit a bounded time after a shutdown signal.
		timer := time.AfterFunc(30*time.Second, stopCommits)
		<-commitDone
		timer.Stop()
		cl.CloseAllowingRebalance()
		return p.fatalErr()
	}

	for {
		pollCtx, cancelPoll := context.WithTimeout(runCtx, p.pollTimeout())
		p.mu.Lock()
		p.pollCancel = cancelPoll
		p.mu.Unlock()
		fetches := cl.PollRecords(pollCtx, 50_000)
		cancelPoll()
		if err := p.fatalErr(); err != nil {
			cl.AllowRebalance()
			return finish(false)
		}
		if runCtx.Err() != nil {
			// What this poll returned is applied too, so that the final
			// commit holds every record read before the stop.
			p.mu.Lock()
			p.apply(fetches)
			p.mu.Unlock()
			cl.AllowRebalance()
			// The caller's cancellation or deadline (cartwheel run
			// --duration) is a normal stop, with a final commit; another
			// cause is a failure.
			if err := context.Cause(runCtx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				p.setFatal(err)
			}
			return finish(false)
		}
		// Group, coordinator and connection errors are retried (kgo
		// rejoins and reconnects by itself; this loop backs off and
		// keeps polling); an offset outside the log, lost data or a
		// corrupt batch stops the pipeline.
		var consumeErr, retryErr error
		var retryKind string
		fetches.EachError(func(topic string, part int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
				return
			}
			kind, retry := consumeErrorKind(err)
			switch {
			case !retry && consumeErr == nil:
				consumeErr = fmt.Errorf("consume %s partition %d: %w", topic, part, err)
			case retry && retryErr == nil:
				retryKind, retryErr = kind, err
			}
		})
		if consumeErr != nil {
			p.setFatal(consumeErr)
			cl.AllowRebalance()
			return finish(false)
		}

		p.mu.Lock()
		now := p.apply(fetches)
		done := p.reachedEnd()
		if done || p.shouldCut(now) {
			p.cut(false)
		}
		idle := fetches.NumRecords() == 0 && p.pending.records == 0
		p.mu.Unlock()
		p.setCaughtUp(idle)
		cl.AllowRebalance()
		if done {
			return finish(true)
		}
		if retryErr != nil {
			attempt, backoff := p.consumerFailed(retryKind, retryErr)
			p.cfg.log.Warn("consumer error, retrying", "kind", retryKind, "attempt", attempt, "backoff", backoff, "err", retryErr)
			select {
			case <-time.After(backoff):
			case <-runCtx.Done():
			}
		} else {
			p.consumerProgress(false, fetches.NumRecords() > 0)
		}
	}
}

func (p *Pipeline) pollTimeout() time.Duration {
	wait := time.Second
	p.mu.Lock()
	if p.pending.records > 0 {
		wait = min(wait, max(time.Until(p.pending.first.Add(p.cfg.batchDelay)), time.Millisecond))
	}
	p.mu.Unlock()
	return wait
}

// apply processes the records of a poll and returns the time it took as
// now. p.mu is held.
func (p *Pipeline) apply(fetches kgo.Fetches) time.Time {
	now := p.cfg.now()
	fetches.EachPartition(func(ft kgo.FetchTopicPartition) {
		p.process(ft.Partition, ft.Records, now)
	})
	return now
}

// process applies the records of one partition.
func (p *Pipeline) process(id int32, recs []*kgo.Record, now time.Time) {
	part := p.parts[id]
	if part == nil || len(recs) == 0 {
		return // not ours (any more)
	}
	nowUS := now.UnixMicro()
	b := p.pending
	if b.records == 0 {
		b.first = now
	}
	for _, r := range recs {
		if r.Offset < part.next {
			continue // already applied
		}
		b.records++
		b.produced = append(b.produced, r.Timestamp.UnixMicro())
		e, err := p.dec.Decode(r.Value, nowUS)
		if err == nil {
			e.Partition, e.Offset = id, r.Offset
			if part.accept(&e) {
				err = &event.RejectError{Reason: event.Duplicate, Detail: fmt.Sprintf("event_id %s was already accepted", quote(e.EventID, 64))}
			} else {
				b.Events = append(b.Events, e)
			}
		}
		if err != nil {
			re := err.(*event.RejectError)
			b.Rejected = append(b.Rejected, event.Rejected{
				Payload: r.Value, Key: r.Key, Reason: re.Reason, Detail: re.Detail,
				Partition: id, Offset: r.Offset,
			})
		}
		part.seen(r.Offset, nowUS)
	}
	p.touched[id] = true
}

func (p *Pipeline) shouldCut(now time.Time) bool {
	b := p.pending
	if b.records >= p.cfg.batchSize {
		return true
	}
	if b.records > 0 && now.Sub(b.first) >= p.cfg.batchDelay {
		return true
	}
	// Live mode: idle partitions and session closing need no records.
	return p.cfg.live && now.Sub(b.first) >= p.cfg.batchDelay*4
}

// StopAt sets the end offsets of a finite input while Run is going, for
// inputs whose end is known only once they are fully produced.
func (p *Pipeline) StopAt(end map[int32]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.stopAt = end
	if p.pollCancel != nil {
		p.pollCancel()
	}
}

// reachedEnd reports whether a finite input has been read to its end.
func (p *Pipeline) reachedEnd() bool {
	if p.cfg.stopAt == nil {
		return false
	}
	for id, end := range p.cfg.stopAt {
		if end <= 0 {
			continue
		}
		part := p.parts[id]
		if part == nil || part.next < end {
			return false
		}
	}
	return true
}

// cut closes what is ready, checkpoints the changed partitions and hands the
// batch to the committer. It blocks while the committer is busy: that is
// the back-pressure that pauses consumption while the warehouse is slow or
// down.
func (p *Pipeline) cut(final bool) {
	now := p.cfg.now()
	b := p.pending
	ids := slices.Sorted(maps.Keys(p.parts))
	for _, id := range ids {
		part := p.parts[id]
		if p.cfg.live {
			part.idle(now.UnixMicro(), p.cfg.idleTimeout.Microseconds())
		}
		if !final && !p.touched[id] && !part.dirty {
			continue
		}
		if !final && !part.dirty && part.committed == part.next {
			continue
		}
		if final && part.next < 0 {
			continue
		}
		var cp event.Checkpoint
		b.Sessions, cp = part.checkpoint(b.Sessions, final)
		if cp.NextOffset >= 0 {
			b.Checkpoints = append(b.Checkpoints, cp)
		}
	}
	clear(p.touched)
	p.lastEvents, p.lastRecords = len(b.Events), len(b.produced)
	p.pending = p.newBatch(now)
	if b.records == 0 && len(b.Sessions) == 0 && len(b.Checkpoints) == 0 {
		return
	}
	b.Stream = p.stream
	b.IngestedAt = now.UnixMicro()
	var open int64
	for _, part := range p.parts {
		open += int64(part.sessions.open)
		if wm := part.watermark(); wm != event.NoTime {
			p.cfg.metrics.Watermark.WithLabelValues(strconv.Itoa(int(part.id))).Set(float64(wm) / 1e6)
		}
	}
	p.cfg.metrics.OpenSessions.Set(float64(open))
	if pr, ok := p.store.(Preparer); ok {
		pr.Prepare(&b.Batch)
	}
	p.inflight.Add(1)
	p.commits <- b
}

// flush commits everything read so far and waits until it is committed.
func (p *Pipeline) flush() {
	p.cut(false)
	p.inflight.Wait()
}

// assign loads the state of newly assigned partitions and points the
// consumer at their committed offsets (kgo calls it after a group join).
func (p *Pipeline) assign(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	parts := offsets[p.cfg.topic]
	ids := slices.Sorted(maps.Keys(parts))
	loaded := make(map[int32]*partition, len(ids))
	for _, id := range ids {
		snap, err := p.store.LoadPartition(ctx, p.stream, id)
		if err != nil {
			err = fmt.Errorf("load partition %d: %w", id, err)
			if ctx.Err() != nil {
				// kgo cancels ctx when this group session ends (the member
				// was fenced while frozen, or a rebalance began): nothing
				// is wrong, the next session assigns and loads anew. Taken
				// for a failure, it stopped `cartwheel run` with exit 0.
				p.cfg.log.Info("partition load abandoned: the group session ended", "partition", id, "err", err)
				return nil, err
			}
			p.setFatal(err)
			return nil, err
		}
		part := newPartition(id, p.cfg.gap.Microseconds(), p.cfg.lateness.Microseconds())
		part.restore(snap, p.cfg.now().UnixMicro())
		loaded[id] = part
		if part.next >= 0 {
			parts[id] = kgo.NewOffset().At(part.next).WithEpoch(-1)
		} else {
			parts[id] = kgo.NewOffset().AtStart()
		}
		p.cfg.log.Info("partition assigned", "partition", id, "offset", part.next,
			"open_sessions", part.sessions.open, "remembered_ids", part.dedupe.size())
	}
	p.mu.Lock()
	maps.Copy(p.parts, loaded)
	p.setOwned()
	p.mu.Unlock()
	return offsets, nil
}

// assigned ends a retry spell of group errors: kgo calls it after every
// successful join, whether or not it brought new partitions.
func (p *Pipeline) assigned(context.Context, *kgo.Client, map[string][]int32) {
	p.setJoined()
	p.consumerProgress(true, false)
}

// revoked commits what was read from the partitions being taken away, then
// forgets them.
func (p *Pipeline) revoked(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closing && p.fatalErr() == nil {
		p.flush()
	}
	for _, id := range lost[p.cfg.topic] {
		delete(p.parts, id)
	}
	p.setOwned()
}

// lost forgets partitions without committing: another member may own them.
// What was read from them and not yet cut is dropped too; they are read
// again from their stored checkpoints when assigned again.
func (p *Pipeline) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := lost[p.cfg.topic]
	for _, id := range ids {
		delete(p.parts, id)
		delete(p.touched, id)
	}
	p.dropPending(ids)
	p.setOwned()
}

// quote renders a value for a rejection detail, shortened to max bytes, as
// the decoder's details do.
func quote(v string, max int) string {
	if len(v) > max {
		v = v[:max] + "…"
	}
	return strconv.Quote(v)
}
