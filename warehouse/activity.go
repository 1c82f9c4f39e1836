package warehouse

import (
	"context"
	"fmt"
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
	// FNV-1a inline: hash/fnv's interface cost an allocation per user.
	h := uint64(14695981039346656037)
	for i := 0; i < len(userID); i++ {
		h ^= uint64(userID[i])
		h *= 1099511628211
	}
	return int64(h)
}

// activityCache remembers, per user, the latest 1- and 5-minute buckets
// whose rows were stored, for the last activityWindow of event time, so
// that a user active across several events of one minute is stored once.
// It is advisory: the table tolerates repeats. One map entry per recent
// user, not per (user, minute), keeps it small enough for the CPU's caches:
// a map of (bucket, user) pairs cost a third of a microsecond per event.
// An out-of-order event of an older bucket may store a repeat; no row is
// ever skipped that was not stored. rows marks a batch's rows as written
// before the commit (forget takes them back when it fails).
type activityCache struct {
	mu    sync.Mutex
	users map[int64]lastBuckets
	max   int64 // the latest 1-minute bucket seen, µs
	swept int64 // max at the last sweep
}

// lastBuckets are a user's latest two stored buckets of each width, µs
// since the epoch: an out-of-order event is most often one bucket behind.
type lastBuckets struct{ minute, prevMinute, five, prevFive int64 }

// activityWindow is how far behind the latest bucket the cache remembers
// users: the default allowed lateness (10 minutes) and some skew between
// partitions; older late events may store a repeat. A longer window made
// the map outgrow the CPU's caches for no fewer rows in practice.
const activityWindow = int64(20 * time.Minute / time.Microsecond)

func newActivityCache() *activityCache { return &activityCache{users: make(map[int64]lastBuckets)} }

// rows returns the events' rows that the cache has not seen, each once,
// and remembers them.
func (c *activityCache) rows(events []event.Event) []activity {
	const minute, five = int64(time.Minute / time.Microsecond), int64(5 * time.Minute / time.Microsecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []activity
	var lastUser string
	var user int64
	for i := range events {
		e := &events[i]
		if i == 0 || e.UserID != lastUser {
			lastUser, user = e.UserID, UserKey(e.UserID)
		}
		m, f := floorDiv(e.Time, minute)*minute, floorDiv(e.Time, five)*five
		last, known := c.users[user]
		if known && (last.minute == m || last.prevMinute == m) {
			continue // its 5 minutes were stored with it
		}
		out = append(out, activity{width: 60, bucket: m, user: user})
		if !known || (last.five != f && last.prevFive != f) {
			out = append(out, activity{width: 300, bucket: f, user: user})
		}
		// Keep the latest two buckets of each width: their rows are stored.
		switch {
		case !known:
			last = lastBuckets{minute: m, prevMinute: m, five: f, prevFive: f}
		case m > last.minute:
			last.prevMinute, last.minute = last.minute, m
		case m > last.prevMinute:
			last.prevMinute = m
		}
		switch {
		case f > last.five:
			last.prevFive, last.five = last.five, f
		case f > last.prevFive && f != last.five:
			last.prevFive = f
		}
		c.max = max(c.max, m)
		c.users[user] = last
	}
	return out
}

// forget takes back rows whose commit failed, so that its retry writes
// them: their users are forgotten, which may store repeats, never a gap.
// (One pipeline commits at a time; a concurrent commit that met these rows
// meanwhile would have skipped them.)
func (c *activityCache) forget(rows []activity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range rows {
		delete(c.users, a.user)
	}
}

// sweep drops the users last seen behind the window, now and then.
func (c *activityCache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max-c.swept < activityWindow/4 {
		return
	}
	c.swept = c.max
	for u, last := range c.users {
		if last.minute < c.max-activityWindow {
			delete(c.users, u)
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

// BackfillActivity adds to user_activity the rows of every stored event,
// an hour of event time per transaction, reading each (user, minute) once: for a warehouse written before the
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
	for hour := first.UTC().Truncate(time.Hour); !hour.After(last); hour = hour.Add(time.Hour) {
		// One row per user and minute: a busy hour's events would not fit
		// in memory, its active minutes do.
		var events []event.Event
		err := db.a.scan(ctx, `SELECT DISTINCT user_id, date_trunc('minute', event_time) FROM events
			WHERE event_time >= $1::TIMESTAMP AND event_time < $2::TIMESTAMP`,
			[]any{hour, hour.Add(time.Hour)}, func(scan func(...any) error) error {
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
