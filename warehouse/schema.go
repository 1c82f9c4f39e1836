package warehouse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// SchemaVersion is the version of the streaming tables this build writes.
const SchemaVersion = activityVersion

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
	activityDDL,
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
		if strings.Contains(stmt, "CREATE TABLE IF NOT EXISTS "+table+" (") {
			return compressColumns(stmt, cols)
		}
	}
	return stmt
}

// compressColumns adds USING COMPRESSION to the columns of a CREATE TABLE
// statement (one column per line) that cols names, with its method.
func compressColumns(stmt string, cols map[string]string) string {
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
			case strings.Contains(s, "TABLE IF NOT EXISTS user_activity"):
				s += " DISTKEY(user_key) SORTKEY(bucket)"
			}
		}
		out = append(out, s)
	}
	if d == Postgres {
		out = append(out,
			`CREATE INDEX IF NOT EXISTS events_stream_partition_offset ON events (stream_id, kafka_partition, kafka_offset)`,
			`CREATE INDEX IF NOT EXISTS sessions_stream_partition_user ON sessions (stream_id, kafka_partition, user_id, session_start)`,
			`CREATE INDEX IF NOT EXISTS events_event_time ON events (event_time)`,
			`CREATE INDEX IF NOT EXISTS user_activity_width_bucket ON user_activity (width_s, bucket)`)
	}
	return out
}

// schemaLockKey is the PostgreSQL advisory lock that serialises schema
// creation among the cartwheel processes starting against one database.
// It is a constant ("cartwhe" in ASCII) that no other lock of ours uses.
const schemaLockKey int64 = 0x63617274776865

// migrate creates the streaming tables and checks the schema version.
//
// Processes may start at once against one empty PostgreSQL or Redshift
// database, and CREATE … IF NOT EXISTS is not safe against a concurrent
// CREATE of the same name: the loser fails on the catalog's unique index
// (23505 on pg_type_typname_nsp_index) instead of finding the table. So
// the schema is created, and its version read or written, in one
// transaction that concurrent starts take in turn:
//
//   - PostgreSQL: the transaction takes a transaction-scoped advisory lock
//     first (pg_advisory_xact_lock), released by its commit or rollback, so
//     the next process finds everything in place.
//   - Redshift has no advisory locks. cartwheel_meta is created first on
//     its own, retried when a concurrent start wins that race; then the
//     transaction locks it (LOCK, Redshift's advice against serializable
//     isolation violations) before the rest. A transaction whose snapshot
//     predates the winner's commit can still fail with "already exists" or
//     a serializable isolation violation: it is retried with backoff, which
//     finds the tables created.
//   - DuckDB: one process holds the file.
func (db *DB) migrate(ctx context.Context) error {
	stmts := ddl(db.dialect)
	digest := schemaDigest(stmts)
	// backfill: the warehouse predates user_activity (schema version 1).
	backfill := false
	create := func() error {
		backfill = false
		return db.Tx(ctx, func(tx Tx) error {
			switch db.dialect {
			case Postgres:
				// Waiting for a lock is bounded, so that a start that waits
				// says so (retryLockWait) instead of hanging silently.
				if err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, schemaLockTimeout.Milliseconds())); err != nil {
					return fmt.Errorf("lock the schema: %w", err)
				}
				if err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::BIGINT)`, schemaLockKey); err != nil {
					return fmt.Errorf("lock the schema: %w", err)
				}
			case Redshift:
				if err := tx.Exec(ctx, `LOCK cartwheel_meta`); err != nil {
					return fmt.Errorf("lock the schema: %w", err)
				}
			}
			if err := tx.Exec(ctx, stmts[0]); err != nil {
				return fmt.Errorf("create schema: %w", err)
			}
			current, err := schemaCurrent(ctx, tx, stmts, digest)
			if err != nil {
				return err
			}
			if !current {
				for _, stmt := range stmts[1:] {
					if err := tx.Exec(ctx, stmt); err != nil {
						return fmt.Errorf("create schema: %w", err)
					}
				}
				if err := tx.Exec(ctx, `DELETE FROM cartwheel_meta WHERE key = 'schema_ddl'`); err != nil {
					return fmt.Errorf("write the schema digest: %w", err)
				}
				if err := tx.Exec(ctx, `INSERT INTO cartwheel_meta (key, value) VALUES ('schema_ddl', $1::VARCHAR)`, digest); err != nil {
					return fmt.Errorf("write the schema digest: %w", err)
				}
			}
			r, err := tx.Query(ctx, `SELECT value FROM cartwheel_meta WHERE key = 'schema_version'`)
			if err != nil {
				return fmt.Errorf("read the schema version: %w", err)
			}
			if len(r.Rows) == 0 {
				if err := tx.Exec(ctx, `INSERT INTO cartwheel_meta (key, value) VALUES ('schema_version', $1::VARCHAR)`, SchemaVersion); err != nil {
					return fmt.Errorf("write the schema version: %w", err)
				}
				return nil
			}
			switch v, _ := r.Rows[0][0].(string); v {
			case SchemaVersion:
			case "1":
				backfill = true
			default:
				return fmt.Errorf("the warehouse has schema version %s, this cartwheel writes version %s", v, SchemaVersion)
			}
			return nil
		})
	}
	if db.dialect != Redshift {
		if err := db.retryLockWait(ctx, create); err != nil {
			return err
		}
		return db.upgrade(ctx, backfill)
	}
	// stmts[0] creates cartwheel_meta, the table the transaction locks.
	err := retryCreateRace(ctx, func() error {
		if _, err := db.a.exec(ctx, stmts[0]); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := retryCreateRace(ctx, create); err != nil {
		return err
	}
	return db.upgrade(ctx, backfill)
}

// schemaDigest identifies a build's schema statements: a warehouse whose
// cartwheel_meta holds the same digest, and all of whose relations exist,
// needs none of them run again.
//
// Running them at every start was not free: CREATE OR REPLACE VIEW takes
// an ACCESS EXCLUSIVE lock on PostgreSQL, so a start queued behind any
// long query over session_events — a user's, or one a killed process left
// running on the server — and every query on the view queued behind the
// start.
func schemaDigest(stmts []string) string {
	sum := sha256.Sum256([]byte(strings.Join(stmts, ";\n")))
	return hex.EncodeToString(sum[:16])
}

// schemaRelation finds the table or view each schema statement creates.
var schemaRelation = regexp.MustCompile(`^CREATE (?:TABLE IF NOT EXISTS|OR REPLACE VIEW) (\w+)`)

// schemaCurrent reports whether the warehouse has this build's schema: the
// digest it recorded is digest, and every table and view is there (one may
// have been dropped by hand since).
func schemaCurrent(ctx context.Context, tx Tx, stmts []string, digest string) (bool, error) {
	r, err := tx.Query(ctx, `SELECT value FROM cartwheel_meta WHERE key = 'schema_ddl'`)
	if err != nil {
		return false, fmt.Errorf("read the schema digest: %w", err)
	}
	if len(r.Rows) == 0 || r.Rows[0][0] != digest {
		return false, nil
	}
	var names []string
	for _, s := range stmts {
		if m := schemaRelation.FindStringSubmatch(s); m != nil {
			names = append(names, "'"+m[1]+"'")
		}
	}
	r, err = tx.Query(ctx, `SELECT COUNT(DISTINCT table_name) FROM information_schema.tables
		WHERE table_catalog = current_database() AND table_schema = current_schema()
		AND table_name IN (`+strings.Join(names, ", ")+`)`)
	if err != nil {
		return false, fmt.Errorf("read the schema's tables: %w", err)
	}
	n, ok := r.Rows[0][0].(int64)
	return ok && n == int64(len(names)), nil
}

// schemaLockTimeout bounds each wait of the schema transaction for a lock
// on PostgreSQL (a variable for tests).
var schemaLockTimeout = 5 * time.Second

// retryLockWait runs fn again while it fails because it waited longer than
// schemaLockTimeout for a lock (55P03, lock_not_available), logging each
// wait: a long query holding a table the schema changes is not a reason to
// fail a start, but it is one to say why the start is not done yet.
func (db *DB) retryLockWait(ctx context.Context, fn func() error) error {
	start := time.Now()
	for {
		err := fn()
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || pe.Code != "55P03" {
			return err
		}
		db.log.Warn("the schema change waits for a lock another session holds, such as a long query on session_events; retrying",
			"waited", time.Since(start).Round(time.Second), "err", err)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// upgrade brings a version 1 warehouse to this version: it computes
// user_activity from the stored events, then records the version. Two
// processes upgrading at once both backfill; user_activity tolerates the
// repeated rows, and a crash before the version is written only repeats
// the backfill.
func (db *DB) upgrade(ctx context.Context, backfill bool) error {
	if !backfill {
		return nil
	}
	if err := db.BackfillActivity(ctx); err != nil {
		return err
	}
	if _, err := db.a.exec(ctx, `UPDATE cartwheel_meta SET value = $1::VARCHAR WHERE key = 'schema_version'`, SchemaVersion); err != nil {
		return fmt.Errorf("write the schema version: %w", err)
	}
	return nil
}

// createRaceAttempts bounds the retries of retryCreateRace: with its
// backoff, about six seconds in all.
const createRaceAttempts = 7

// retryCreateRace runs fn again, with backoff, while it fails because a
// concurrent start created the same objects first (isCreateRace).
func retryCreateRace(ctx context.Context, fn func() error) error {
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == createRaceAttempts || !isCreateRace(err) {
			return err
		}
		// Jitter keeps racing processes from retrying in step.
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(delay + rand.N(delay)):
		}
		delay *= 2
	}
}

// isCreateRace reports whether err is what a CREATE gets when a concurrent
// transaction created the same object first: a unique violation in the
// catalog (23505), duplicate_table (42P07), duplicate_object (42710), or a
// serialization failure (40001; Redshift's serializable isolation
// violation, error 1023, comes with another code).
func isCreateRace(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "23505", "42P07", "42710", "40001":
		return true
	}
	return strings.Contains(pe.Message, "Serializable isolation violation")
}
