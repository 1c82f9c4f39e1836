package warehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// Stream returns the id of the named stream, registering it on first use.
// Instances started at once race to register it: the loser's unique
// violation is retried, and then finds the winner's row.
func (db *DB) Stream(ctx context.Context, name string) (int32, error) {
	var id int32
	err := retryCreateRace(ctx, func() error {
		return db.Tx(ctx, func(tx Tx) error {
			t := tx.(txn)
			if _, err := t.execN(ctx, `INSERT INTO streams (stream_id, name, created_at)
			SELECT next_id, $1::VARCHAR, $2::TIMESTAMP
			FROM (SELECT COALESCE(MAX(stream_id), 0) + 1 AS next_id FROM streams) m
			WHERE NOT EXISTS (SELECT 1 FROM streams WHERE name = $1::VARCHAR)`, name, time.Now().UTC()); err != nil {
				return err
			}
			r, err := t.Query(ctx, `SELECT stream_id FROM streams WHERE name = $1::VARCHAR`, name)
			if err != nil {
				return err
			}
			if len(r.Rows) != 1 {
				return fmt.Errorf("stream %q: %d rows", name, len(r.Rows))
			}
			id = int32(r.Rows[0][0].(int64))
			return nil
		})
	})
	return id, err
}

// LoadPartition reads a partition's checkpoint and the rows that rebuild its
// state.
func (db *DB) LoadPartition(ctx context.Context, stream, partition int32) (*event.Snapshot, error) {
	snap := &event.Snapshot{}
	var cp *event.Checkpoint
	err := db.a.scan(ctx, `SELECT next_offset, max_event_time, open_from, dedupe_gen,
			dedupe_start_0, dedupe_start_1, dedupe_start_2
		FROM stream_checkpoints WHERE stream_id = $1::INTEGER AND kafka_partition = $2::INTEGER`,
		[]any{stream, partition}, func(scan func(...any) error) error {
			var maxT, openFrom sql.NullTime
			c := event.Checkpoint{Partition: partition}
			if err := scan(&c.NextOffset, &maxT, &openFrom, &c.DedupeGen,
				&c.DedupeStarts[0], &c.DedupeStarts[1], &c.DedupeStarts[2]); err != nil {
				return err
			}
			c.PrevOffset = c.NextOffset
			c.MaxEventTime, c.OpenFrom = event.NoTime, event.NoTime
			if maxT.Valid {
				c.MaxEventTime = maxT.Time.UnixMicro()
			}
			if openFrom.Valid {
				c.OpenFrom = openFrom.Time.UnixMicro()
			}
			cp = &c
			return nil
		})
	if err != nil || cp == nil {
		return snap, err
	}
	snap.Checkpoint = cp
	if cp.OpenFrom != event.NoTime {
		from := ts(cp.OpenFrom)
		err = db.a.scan(ctx, `SELECT user_id, event_time, event_type, CAST(revenue * 100 AS BIGINT)
			FROM events WHERE stream_id = $1::INTEGER AND kafka_partition = $2::INTEGER
			AND NOT is_late AND event_time >= $3::TIMESTAMP AND kafka_offset < $4::BIGINT`,
			[]any{stream, partition, from, cp.NextOffset}, func(scan func(...any) error) error {
				var e event.StoredEvent
				var typ string
				var t time.Time
				if err := scan(&e.UserID, &t, &typ, &e.Revenue); err != nil {
					return err
				}
				e.Time = t.UnixMicro()
				e.Type = eventType(typ)
				snap.OpenEvents = append(snap.OpenEvents, e)
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("read open events: %w", err)
		}
		err = db.a.scan(ctx, `SELECT user_id, session_start, session_end FROM sessions
			WHERE stream_id = $1::INTEGER AND kafka_partition = $2::INTEGER AND session_end >= $3::TIMESTAMP`,
			[]any{stream, partition, from}, func(scan func(...any) error) error {
				var s event.SessionSpan
				var start, end time.Time
				if err := scan(&s.UserID, &start, &end); err != nil {
					return err
				}
				s.Start, s.End = start.UnixMicro(), end.UnixMicro()
				snap.ClosedSessions = append(snap.ClosedSessions, s)
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("read closed sessions: %w", err)
		}
	}
	if cp.MaxEventTime != event.NoTime {
		err = db.a.scan(ctx, `SELECT event_id, kafka_offset FROM events
			WHERE stream_id = $1::INTEGER AND kafka_partition = $2::INTEGER
			AND kafka_offset >= $3::BIGINT AND kafka_offset < $4::BIGINT`,
			[]any{stream, partition, cp.DedupeStarts[0], cp.NextOffset}, func(scan func(...any) error) error {
				var id event.StoredID
				if err := scan(&id.EventID, &id.Offset); err != nil {
					return err
				}
				snap.RecentIDs = append(snap.RecentIDs, id)
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("read recent event ids: %w", err)
		}
	}
	return snap, nil
}

func eventType(s string) event.EventType {
	switch s {
	case "page_view":
		return event.PageView
	case "add_to_cart":
		return event.AddToCart
	case "purchase":
		return event.Purchase
	}
	return 0
}

// Commit writes a batch and its checkpoints in one transaction. Each
// checkpoint is a compare-and-set on the partition's stored offset, so a
// consumer that lost its partition cannot commit over the new owner.
func (db *DB) Commit(ctx context.Context, b *event.Batch) error {
	t, err := db.a.begin(ctx)
	if err != nil {
		return err
	}
	// The rows are b's own, worked out by Prepare (or now): a failed
	// commit gives them back to the cache, so that whichever batch carries
	// those events next writes them, and a retry of b writes them anyway.
	activity := db.activityOf(b)
	if err := db.commit(ctx, t, b, activity); err != nil {
		db.activity.forget(activity)
		return errors.Join(err, t.rollback())
	}
	if err := t.commit(); err != nil {
		db.activity.forget(activity)
		return err
	}
	db.activity.sweep()
	return nil
}

func (db *DB) commit(ctx context.Context, t txn, b *event.Batch, activity []activity) error {
	now := ts(b.IngestedAt)
	if l, ok := t.(interface{ lockCheckpoints(context.Context) error }); ok {
		if err := l.lockCheckpoints(ctx); err != nil {
			return err
		}
	}
	var updates []event.Checkpoint
	for _, cp := range b.Checkpoints {
		if cp.PrevOffset >= 0 && db.dialect == DuckDB {
			updates = append(updates, cp)
			continue
		}
		if err := putCheckpoint(ctx, t, b.Stream, cp, now); err != nil {
			return err
		}
	}
	if len(updates) > 0 {
		if err := updateCheckpoints(ctx, t, b.Stream, updates, now); err != nil {
			return err
		}
	}
	if len(b.Events) > 0 {
		if err := t.loadEvents(ctx, b); err != nil {
			return fmt.Errorf("load events: %w", err)
		}
	}
	if len(activity) > 0 {
		if err := t.loadActivity(ctx, activity); err != nil {
			return fmt.Errorf("load user_activity: %w", err)
		}
	}
	if len(b.Rejected) > 0 {
		if err := t.loadRejected(ctx, b); err != nil {
			return fmt.Errorf("load rejected_events: %w", err)
		}
	}
	if len(b.Sessions) > 0 {
		if err := t.loadSessions(ctx, b); err != nil {
			return fmt.Errorf("load sessions: %w", err)
		}
	}
	return nil
}

func putCheckpoint(ctx context.Context, t txn, stream int32, cp event.Checkpoint, now time.Time) error {
	maxT, openFrom := nullTime(cp.MaxEventTime), nullTime(cp.OpenFrom)
	if cp.PrevOffset < 0 {
		n, err := t.execN(ctx, `INSERT INTO stream_checkpoints (stream_id, kafka_partition, next_offset,
				max_event_time, open_from, dedupe_gen, dedupe_start_0, dedupe_start_1, dedupe_start_2, updated_at)
			SELECT $1::INTEGER, $2::INTEGER, $3::BIGINT, $4::TIMESTAMP, $5::TIMESTAMP, $6::BIGINT, $7::BIGINT, $8::BIGINT, $9::BIGINT, $10::TIMESTAMP
			WHERE NOT EXISTS (SELECT 1 FROM stream_checkpoints WHERE stream_id = $1::INTEGER AND kafka_partition = $2::INTEGER)`,
			stream, cp.Partition, cp.NextOffset, maxT, openFrom, cp.DedupeGen,
			cp.DedupeStarts[0], cp.DedupeStarts[1], cp.DedupeStarts[2], now)
		if err != nil {
			return fmt.Errorf("insert checkpoint: %w", err)
		}
		if n != 1 {
			return &event.FencedError{Partition: cp.Partition, Expected: -1}
		}
		return nil
	}
	n, err := t.execN(ctx, `UPDATE stream_checkpoints SET next_offset = $3::BIGINT, max_event_time = $4::TIMESTAMP,
			open_from = $5::TIMESTAMP, dedupe_gen = $6::BIGINT, dedupe_start_0 = $7::BIGINT, dedupe_start_1 = $8::BIGINT,
			dedupe_start_2 = $9::BIGINT, updated_at = $10::TIMESTAMP
		WHERE stream_id = $1::INTEGER AND kafka_partition = $2::INTEGER AND next_offset = $11::BIGINT`,
		stream, cp.Partition, cp.NextOffset, maxT, openFrom, cp.DedupeGen,
		cp.DedupeStarts[0], cp.DedupeStarts[1], cp.DedupeStarts[2], now, cp.PrevOffset)
	if err != nil {
		return fmt.Errorf("update checkpoint: %w", err)
	}
	if n != 1 {
		return &event.FencedError{Partition: cp.Partition, Expected: cp.PrevOffset}
	}
	return nil
}

// updateCheckpoints is putCheckpoint for partitions committed before, in
// one statement: in DuckDB a statement per partition was half of a small
// batch's commit (8 partitions, ~0.5 ms each), and binding the values as
// parameters a third of what was left — they are integers and timestamps
// of our own, written as literals. RETURNING names the partitions whose
// compare-and-set held.
func updateCheckpoints(ctx context.Context, t txn, stream int32, cps []event.Checkpoint, now time.Time) error {
	var q strings.Builder
	fmt.Fprintf(&q, `UPDATE stream_checkpoints SET next_offset = v.next_offset, max_event_time = v.max_event_time,
			open_from = v.open_from, dedupe_gen = v.dedupe_gen, dedupe_start_0 = v.d0, dedupe_start_1 = v.d1,
			dedupe_start_2 = v.d2, updated_at = %s
		FROM (VALUES `, timestampLiteral(now.UnixMicro()))
	for i, cp := range cps {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "(%d, %d, %d, %s, %s, %d, %d, %d, %d)", cp.Partition, cp.PrevOffset, cp.NextOffset,
			timestampLiteral(cp.MaxEventTime), timestampLiteral(cp.OpenFrom),
			cp.DedupeGen, cp.DedupeStarts[0], cp.DedupeStarts[1], cp.DedupeStarts[2])
	}
	fmt.Fprintf(&q, `) AS v(kafka_partition, prev_offset, next_offset, max_event_time, open_from, dedupe_gen, d0, d1, d2)
		WHERE stream_checkpoints.stream_id = %d AND stream_checkpoints.kafka_partition = v.kafka_partition
		  AND stream_checkpoints.next_offset = v.prev_offset
		RETURNING stream_checkpoints.kafka_partition`, stream)
	r, err := t.Query(ctx, q.String())
	if err != nil {
		return fmt.Errorf("update checkpoints: %w", err)
	}
	if len(r.Rows) == len(cps) {
		return nil
	}
	held := make(map[int32]bool, len(r.Rows))
	for _, row := range r.Rows {
		switch p := row[0].(type) {
		case int32:
			held[p] = true
		case int64:
			held[int32(p)] = true
		}
	}
	for _, cp := range cps {
		if !held[cp.Partition] {
			return &event.FencedError{Partition: cp.Partition, Expected: cp.PrevOffset}
		}
	}
	return fmt.Errorf("update checkpoints: %d of %d rows", len(r.Rows), len(cps))
}

// timestampLiteral is a TIMESTAMP of µs since the epoch, exactly (no
// formatting of dates), or NULL for event.NoTime.
func timestampLiteral(us int64) string {
	if us == event.NoTime {
		return "CAST(NULL AS TIMESTAMP)"
	}
	return fmt.Sprintf("make_timestamp(CAST(%d AS BIGINT))", us)
}

func nullTime(us int64) sql.NullTime {
	if us == event.NoTime {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: ts(us), Valid: true}
}

// StreamOffsets returns the committed next offset of every partition of the
// named stream (empty when the stream is new).
func (db *DB) StreamOffsets(ctx context.Context, name string) (map[int32]int64, error) {
	out := make(map[int32]int64)
	err := db.a.scan(ctx, `SELECT c.kafka_partition, c.next_offset FROM stream_checkpoints c
		JOIN streams s ON s.stream_id = c.stream_id WHERE s.name = $1::VARCHAR`, []any{name},
		func(scan func(...any) error) error {
			var p int32
			var off int64
			if err := scan(&p, &off); err != nil {
				return err
			}
			out[p] = off
			return nil
		})
	return out, err
}
