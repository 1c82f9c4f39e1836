package warehouse

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// user_activity is a pre-aggregate of events that the pipeline maintains in
// the transaction of the events it covers: one row per user with an
// accepted event (late ones included) in a UTC bucket of width_s seconds,
// for widths of one and five minutes. The active_users panel counts
// distinct users per bucket; over a week at 10M events that was ~100 ms
// of hashing user_id strings in events, and is a fraction of that over
// these narrow integer rows (README, Performance).
//
// user_key is a 64-bit FNV-1a hash of user_id, computed here so that every
// warehouse stores the same key (their SQL hash functions differ). Two
// users of one bucket would count once only if their keys collided: with
// n users in a bucket the chance is about n²/2⁶⁵, below 10⁻¹¹ for 10,000.
//
// A (bucket, user) pair may be stored twice — by two batches, after a
// restart, or by a backfill that ran twice — so readers count DISTINCT
// user_key; the in-process cache only keeps the table small.
const activityDDL = `CREATE TABLE IF NOT EXISTS user_activity (
		width_s  INTEGER NOT NULL,
		bucket   TIMESTAMP NOT NULL,
		user_key BIGINT NOT NULL
	)`

// ActivityWidths are the bucket widths of user_activity, in seconds.
var ActivityWidths = [...]int64{60, 300}

// activity is one row of user_activity.
type activity struct {
	width  int32
	bucket int64 // µs since the epoch
	user   int64
}

var activityColumns = []column{{"width_s", "INTEGER"}, {"bucket", "TIMESTAMP"}, {"user_key", "BIGINT"}}

// UserKey is user_activity's key of a user id.
func UserKey(userID string) int64 {
	h := fnv.New64a()
	h.Write([]byte(userID))
	return int64(h.Sum64())
}

// activityCache remembers the rows written in the last activityWindow of
// event time, so that a user active across several batches of one minute
// is stored once. It is advisory: the table tolerates repeats.
type activityCache struct {
	mu    sync.Mutex
	seen  map[activity]struct{}
	max   int64 // the latest bucket seen, µs
	swept int64 // max at the last sweep
}

// activityWindow is how far behind the latest bucket the cache remembers
// rows; older late events may store a repeat.
const activityWindow = int64(2 * time.Hour / time.Microsecond)

func newActivityCache() *activityCache { return &activityCache{seen: make(map[activity]struct{})} }

// rows returns the batch's rows that the cache has not seen, each once.
func (c *activityCache) rows(events []event.Event) []activity {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []activity
	batch := make(map[activity]struct{}, len(events))
	var lastUser string
	var key int64
	for i := range events {
		e := &events[i]
		if i == 0 || e.UserID != lastUser {
			lastUser, key = e.UserID, UserKey(e.UserID)
		}
		for _, w := range ActivityWidths {
			wu := w * int64(time.Second/time.Microsecond)
			a := activity{width: int32(w), bucket: floorDiv(e.Time, wu) * wu, user: key}
			if _, ok := c.seen[a]; ok {
				continue
			}
			if _, ok := batch[a]; ok {
				continue
			}
			batch[a] = struct{}{}
			out = append(out, a)
		}
	}
	return out
}

// committed adds rows to the cache once their transaction has committed
// (a rolled-back batch must not hide its rows from its retry).
func (c *activityCache) committed(rows []activity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range rows {
		c.seen[a] = struct{}{}
		c.max = max(c.max, a.bucket)
	}
	if c.max-c.swept < activityWindow/4 {
		return
	}
	c.swept = c.max
	for a := range c.seen {
		if a.bucket < c.max-activityWindow {
			delete(c.seen, a)
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// activityVersion is the schema version that added user_activity; a
// warehouse of an earlier version gets its rows computed from events.
const activityVersion = "2"

// BackfillActivity adds to user_activity the rows of every stored event, a
// day of event time per transaction: for a warehouse written before the
// table existed (Open calls it on upgrade), or events inserted by SQL
// rather than by the pipeline (test fixtures). Rows already there are
// repeated, which readers tolerate.
func (db *DB) BackfillActivity(ctx context.Context) error {
	res, err := db.a.query(ctx, `SELECT MIN(event_time), MAX(event_time) FROM events`, false, 0)
	if err != nil {
		return fmt.Errorf("backfill user_activity: %w", err)
	}
	first, ok1 := res.Rows[0][0].(time.Time)
	last, ok2 := res.Rows[0][1].(time.Time)
	if !ok1 || !ok2 {
		return nil // no events
	}
	for day := first.UTC().Truncate(24 * time.Hour); !day.After(last); day = day.Add(24 * time.Hour) {
		var events []event.Event
		err := db.a.scan(ctx, `SELECT user_id, event_time FROM events
			WHERE event_time >= $1::TIMESTAMP AND event_time < $2::TIMESTAMP`,
			[]any{day, day.Add(24 * time.Hour)}, func(scan func(...any) error) error {
				var e event.Event
				var t time.Time
				if err := scan(&e.UserID, &t); err != nil {
					return err
				}
				e.Time = t.UnixMicro()
				events = append(events, e)
				return nil
			})
		if err != nil {
			return fmt.Errorf("backfill user_activity: %w", err)
		}
		rows := newActivityCache().rows(events)
		if len(rows) == 0 {
			continue
		}
		t, err := db.a.begin(ctx)
		if err != nil {
			return err
		}
		if err := t.loadActivity(ctx, rows); err != nil {
			t.rollback()
			return fmt.Errorf("backfill user_activity: %w", err)
		}
		if err := t.commit(); err != nil {
			return fmt.Errorf("backfill user_activity: %w", err)
		}
	}
	return nil
}
