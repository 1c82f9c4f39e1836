package warehouse

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// LatestEventTime returns the latest event time stored for the named stream,
// in its events or its checkpoints (each partition's latest event time seen);
// the zero time when there is none.
func (db *DB) LatestEventTime(ctx context.Context, stream string) (time.Time, error) {
	var latest time.Time
	err := db.a.scan(ctx, `SELECT
			(SELECT max(event_time) FROM events
				WHERE stream_id IN (SELECT stream_id FROM streams WHERE name = $1::VARCHAR)),
			(SELECT max(max_event_time) FROM stream_checkpoints
				WHERE stream_id IN (SELECT stream_id FROM streams WHERE name = $1::VARCHAR))`,
		[]any{stream}, func(scan func(...any) error) error {
			var fromEvents, fromCheckpoints sql.NullTime
			if err := scan(&fromEvents, &fromCheckpoints); err != nil {
				return err
			}
			for _, t := range []sql.NullTime{fromEvents, fromCheckpoints} {
				if t.Valid && t.Time.After(latest) {
					latest = t.Time.UTC()
				}
			}
			return nil
		})
	if err != nil {
		return time.Time{}, fmt.Errorf("latest event time of stream %q: %w", stream, err)
	}
	return latest, nil
}

// UsersSeenSince returns, for each user with an event of the named stream at
// or after since, the time of their latest event.
func (db *DB) UsersSeenSince(ctx context.Context, stream string, since time.Time) (map[string]time.Time, error) {
	seen := make(map[string]time.Time)
	err := db.a.scan(ctx, `SELECT user_id, max(event_time) FROM events
		WHERE stream_id IN (SELECT stream_id FROM streams WHERE name = $1::VARCHAR)
		AND event_time >= $2::TIMESTAMP
		GROUP BY user_id`,
		[]any{stream, since.UTC()}, func(scan func(...any) error) error {
			var user string
			var last time.Time
			if err := scan(&user, &last); err != nil {
				return err
			}
			seen[user] = last.UTC()
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("users of stream %q seen since %s: %w", stream, since.UTC().Format(time.RFC3339Nano), err)
	}
	return seen, nil
}
