package warehouse

import (
	"context"
	"fmt"
	"strings"
)

// SchemaVersion is the version of the streaming tables this build writes.
const SchemaVersion = "1"

// The streaming tables (spec §3). Types are written for DuckDB and
// PostgreSQL; ddl() adapts them to Redshift, which wants explicit VARCHAR
// lengths (in bytes) and has no enforced keys.
var schemaDDL = []string{
	`CREATE TABLE IF NOT EXISTS cartwheel_meta (
		key   VARCHAR(64) PRIMARY KEY,
		value VARCHAR(256) NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS streams (
		stream_id  INTEGER PRIMARY KEY,
		name       VARCHAR(256) NOT NULL UNIQUE,
		created_at TIMESTAMP NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS events (
		event_id          VARCHAR(128) NOT NULL,
		event_type        VARCHAR(16) NOT NULL,
		user_id           VARCHAR(256) NOT NULL,
		event_time        TIMESTAMP NOT NULL,
		product_id        VARCHAR(256),
		price             DECIMAL(12,2),
		quantity          INTEGER NOT NULL,
		revenue           DECIMAL(12,2) NOT NULL,
		client_session_id VARCHAR(256),
		device            VARCHAR(256),
		country           VARCHAR(256),
		category          VARCHAR(256),
		referrer          VARCHAR(256),
		is_late           BOOLEAN NOT NULL,
		stream_id         INTEGER NOT NULL,
		kafka_partition   INTEGER NOT NULL,
		kafka_offset      BIGINT NOT NULL,
		ingested_at       TIMESTAMP NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS sessions (
		session_id      VARCHAR(32) NOT NULL,
		user_id         VARCHAR(256) NOT NULL,
		session_start   TIMESTAMP NOT NULL,
		session_end     TIMESTAMP NOT NULL,
		event_count     INTEGER NOT NULL,
		page_views      INTEGER NOT NULL,
		add_to_carts    INTEGER NOT NULL,
		purchases       INTEGER NOT NULL,
		revenue         DECIMAL(18,2) NOT NULL,
		stream_id       INTEGER NOT NULL,
		kafka_partition INTEGER NOT NULL,
		closed_at       TIMESTAMP NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS rejected_events (
		payload         VARCHAR(65535) NOT NULL,
		reason          VARCHAR(32) NOT NULL,
		detail          VARCHAR(1024) NOT NULL,
		stream_id       INTEGER NOT NULL,
		kafka_partition INTEGER NOT NULL,
		kafka_offset    BIGINT NOT NULL,
		received_at     TIMESTAMP NOT NULL
	)`,
	// One row per stream and partition: the exactly-once bookkeeping,
	// written in the same transaction as the rows it covers.
	`CREATE TABLE IF NOT EXISTS stream_checkpoints (
		stream_id       INTEGER NOT NULL,
		kafka_partition INTEGER NOT NULL,
		next_offset     BIGINT NOT NULL,
		max_event_time  TIMESTAMP,
		open_from       TIMESTAMP,
		dedupe_gen      BIGINT NOT NULL,
		dedupe_start_0  BIGINT NOT NULL,
		dedupe_start_1  BIGINT NOT NULL,
		dedupe_start_2  BIGINT NOT NULL,
		updated_at      TIMESTAMP NOT NULL,
		PRIMARY KEY (stream_id, kafka_partition)
	)`,
	// Which session each on-time event belongs to. A user's sessions in one
	// stream and partition never overlap, so the event-time range decides.
	`CREATE OR REPLACE VIEW session_events AS
	SELECT s.session_id, e.event_id, e.user_id, e.event_time,
	       e.stream_id, e.kafka_partition, e.kafka_offset
	FROM events e
	JOIN sessions s
	  ON s.stream_id = e.stream_id
	 AND s.kafka_partition = e.kafka_partition
	 AND s.user_id = e.user_id
	 AND e.event_time BETWEEN s.session_start AND s.session_end
	WHERE NOT e.is_late`,
}

// duckSessionEvents is session_events for DuckDB: an ASOF join finds each
// event's latest session start in one pass, where the range join would pair
// every event with every session of its user.
const duckSessionEvents = `CREATE OR REPLACE VIEW session_events AS
	SELECT s.session_id, e.event_id, e.user_id, e.event_time,
	       e.stream_id, e.kafka_partition, e.kafka_offset
	FROM events e
	ASOF JOIN sessions s
	  ON s.stream_id = e.stream_id
	 AND s.kafka_partition = e.kafka_partition
	 AND s.user_id = e.user_id
	 AND e.event_time >= s.session_start
	WHERE NOT e.is_late AND e.event_time <= s.session_end`

// duckCompression fixes the compression of the streaming tables' string
// columns instead of letting DuckDB try every method on every column
// segment: low-cardinality values take a dictionary, and identifiers —
// short, unique, mostly inlined — stay as they are. Trying FSST on them cost
// about as much CPU as the rest of the insert and saved little.
var duckCompression = map[string]map[string]string{
	"events": {
		"event_id": "uncompressed", "client_session_id": "uncompressed",
		"event_type": "dictionary", "user_id": "uncompressed", "product_id": "dictionary",
		"device": "dictionary", "country": "dictionary", "category": "dictionary", "referrer": "dictionary",
	},
	"sessions": {"session_id": "uncompressed", "user_id": "uncompressed"},
}

// withCompression adds DuckDB's USING COMPRESSION to the columns of a
// CREATE TABLE statement named in duckCompression.
func withCompression(stmt string) string {
	for table, cols := range duckCompression {
		if !strings.Contains(stmt, "CREATE TABLE IF NOT EXISTS "+table+" (") {
			continue
		}
		lines := strings.Split(stmt, "\n")
		for i, line := range lines {
			name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			method, ok := cols[name]
			if !ok {
				continue
			}
			body, comma := strings.CutSuffix(line, ",")
			lines[i] = body + " USING COMPRESSION " + method
			if comma {
				lines[i] += ","
			}
		}
		return strings.Join(lines, "\n")
	}
	return stmt
}

// ddl returns the schema statements for a dialect.
func ddl(d Dialect) []string {
	out := make([]string, 0, len(schemaDDL)+3)
	for _, s := range schemaDDL {
		switch d {
		case DuckDB:
			// DuckDB ignores VARCHAR lengths, and the append-only tables
			// have no keys: an index would cost on every append.
			if strings.Contains(s, "VIEW session_events") {
				s = duckSessionEvents
			}
			s = withCompression(s)
		case Postgres:
			s = strings.ReplaceAll(s, "VARCHAR(65535)", "TEXT")
		case Redshift:
			// Distribute by user (sessions and their events meet on one
			// slice) and sort by time (dashboards scan time ranges).
			switch {
			case strings.Contains(s, "TABLE IF NOT EXISTS events"):
				s += " DISTKEY(user_id) SORTKEY(event_time)"
			case strings.Contains(s, "TABLE IF NOT EXISTS sessions"):
				s += " DISTKEY(user_id) SORTKEY(session_start)"
			}
		}
		out = append(out, s)
	}
	if d == Postgres {
		out = append(out,
			`CREATE INDEX IF NOT EXISTS events_stream_partition_offset ON events (stream_id, kafka_partition, kafka_offset)`,
			`CREATE INDEX IF NOT EXISTS sessions_stream_partition_user ON sessions (stream_id, kafka_partition, user_id, session_start)`,
			`CREATE INDEX IF NOT EXISTS events_event_time ON events (event_time)`)
	}
	return out
}

// migrate creates the streaming tables and checks the schema version.
func (db *DB) migrate(ctx context.Context) error {
	for _, stmt := range ddl(db.dialect) {
		if _, err := db.a.exec(ctx, stmt); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	r, err := db.a.query(ctx, `SELECT value FROM cartwheel_meta WHERE key = 'schema_version'`, false)
	if err != nil {
		return err
	}
	if len(r.Rows) == 0 {
		_, err := db.a.exec(ctx, `INSERT INTO cartwheel_meta (key, value) VALUES ('schema_version', '`+SchemaVersion+`')`)
		return err
	}
	if v, _ := r.Rows[0][0].(string); v != SchemaVersion {
		return fmt.Errorf("the warehouse has schema version %s, this cartwheel writes version %s", v, SchemaVersion)
	}
	return nil
}
