package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// The history tables (SPEC §5.2) and the scheduler's own state. Written
// for DuckDB and PostgreSQL; ddl adapts them to Redshift (explicit VARCHAR
// lengths; keys are not enforced there, and the scheduler never relies on
// them to reject a row).
var schemaDDL = []string{
	`CREATE TABLE IF NOT EXISTS dag_runs (
		dag                 VARCHAR(256) NOT NULL,
		run_id              VARCHAR(256) NOT NULL,
		run_type            VARCHAR(16) NOT NULL,
		logical_date        TIMESTAMP NOT NULL,
		data_interval_start TIMESTAMP NOT NULL,
		data_interval_end   TIMESTAMP NOT NULL,
		state               VARCHAR(16) NOT NULL,
		queued_at           TIMESTAMP NOT NULL,
		started_at          TIMESTAMP,
		ended_at            TIMESTAMP,
		PRIMARY KEY (dag, run_id)
	)`,
	`CREATE TABLE IF NOT EXISTS task_instances (
		dag        VARCHAR(256) NOT NULL,
		run_id     VARCHAR(256) NOT NULL,
		task_id    VARCHAR(256) NOT NULL,
		try_number INTEGER NOT NULL,
		state      VARCHAR(16) NOT NULL,
		started_at TIMESTAMP,
		ended_at   TIMESTAMP,
		duration   DOUBLE PRECISION,
		error      VARCHAR(4096),
		log        VARCHAR(65535),
		PRIMARY KEY (dag, run_id, task_id, try_number)
	)`,
	// Pause state set through the API or CLI; a DAG without a row has its
	// file's paused.
	`CREATE TABLE IF NOT EXISTS cartwheel_dag_state (
		dag        VARCHAR(256) PRIMARY KEY,
		paused     BOOLEAN NOT NULL,
		updated_at TIMESTAMP NOT NULL
	)`,
	// One row: who schedules on this warehouse, until when.
	`CREATE TABLE IF NOT EXISTS cartwheel_scheduler_lease (
		name       VARCHAR(64) PRIMARY KEY,
		holder     VARCHAR(256) NOT NULL,
		expires_at TIMESTAMP NOT NULL
	)`,
}

func ddl(d warehouse.Dialect) []string {
	out := make([]string, len(schemaDDL))
	for i, s := range schemaDDL {
		if d == warehouse.Postgres {
			s = strings.ReplaceAll(s, "VARCHAR(65535)", "TEXT")
		}
		out[i] = s
	}
	return out
}

// schemaLockKey serialises the creation of these tables among processes
// starting at once on one PostgreSQL database ("dagsche" in ASCII; the
// warehouse's own key differs).
const schemaLockKey int64 = 0x64616773636865

// createSchema creates the tables when missing. CREATE TABLE IF NOT
// EXISTS is not safe against a concurrent CREATE of the same name on
// PostgreSQL (the loser fails on the catalog's unique index), so there the
// statements run in one transaction behind an advisory lock, as the
// warehouse's own schema does; Redshift, without advisory locks, retries a
// lost race; DuckDB is one process.
func createSchema(ctx context.Context, db DB) error {
	create := func() error {
		return db.Tx(ctx, func(tx warehouse.Tx) error {
			if db.Dialect() == warehouse.Postgres {
				if err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::BIGINT)`, schemaLockKey); err != nil {
					return fmt.Errorf("lock the schema: %w", err)
				}
			}
			for _, s := range ddl(db.Dialect()) {
				if err := tx.Exec(ctx, s); err != nil {
					return fmt.Errorf("create the scheduler's tables: %w", err)
				}
			}
			return nil
		})
	}
	var err error
	for attempt := range 5 {
		if err = create(); err == nil || db.Dialect() != warehouse.Redshift {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
		}
	}
	return err
}

// Bounds of the text columns (Redshift's VARCHAR is in bytes).
const (
	maxLog   = 60000
	maxError = 4000
)

// clip keeps the tail of a log (where a failure shows) within n bytes.
func clipLog(s string) string {
	if len(s) <= maxLog {
		return s
	}
	cut := len(s) - (maxLog - 64)
	for cut < len(s) && s[cut]&0xC0 == 0x80 { // start at a whole UTF-8 character
		cut++
	}
	return fmt.Sprintf("[log truncated: first %d bytes dropped]\n", cut) + s[cut:]
}

func clipError(s string) string {
	if len(s) <= maxError {
		return s
	}
	cut := maxError
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut]
}

// ts is a time as stored: UTC, in microseconds (TIMESTAMP's precision).
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

func timeOf(v any) time.Time {
	t, _ := v.(time.Time)
	return t.UTC()
}

func timePtr(v any) *time.Time {
	t, ok := v.(time.Time)
	if !ok {
		return nil
	}
	t = t.UTC()
	return &t
}

func intOf(v any) int {
	switch n := v.(type) {
	case int64:
		return int(n)
	case int32:
		return int(n)
	case int:
		return n
	case float64:
		return int(n)
	case result.Decimal:
		var i int
		fmt.Sscan(string(n), &i)
		return i
	}
	return 0
}

func floatOf(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case float32:
		return float64(n)
	case int64:
		return float64(n)
	case result.Decimal:
		var f float64
		fmt.Sscan(string(n), &f)
		return f
	}
	return 0
}

func strOf(v any) string { s, _ := v.(string); return s }

const runColumns = `dag, run_id, run_type, logical_date, data_interval_start, data_interval_end, state, queued_at, started_at, ended_at`

func scanRuns(rs *result.Set) []Run {
	out := make([]Run, 0, len(rs.Rows))
	for _, r := range rs.Rows {
		out = append(out, Run{
			DAG: strOf(r[0]), RunID: strOf(r[1]), RunType: strOf(r[2]),
			LogicalDate: timeOf(r[3]), DataIntervalStart: timeOf(r[4]), DataIntervalEnd: timeOf(r[5]),
			State: strOf(r[6]), QueuedAt: timeOf(r[7]), StartedAt: timePtr(r[8]), EndedAt: timePtr(r[9]),
		})
	}
	return out
}

const tiColumns = `dag, run_id, task_id, try_number, state, started_at, ended_at, duration, error, log`

func scanTIs(rs *result.Set) []TaskInstance {
	out := make([]TaskInstance, 0, len(rs.Rows))
	for _, r := range rs.Rows {
		out = append(out, TaskInstance{
			DAG: strOf(r[0]), RunID: strOf(r[1]), TaskID: strOf(r[2]), Try: intOf(r[3]), State: strOf(r[4]),
			StartedAt: timePtr(r[5]), EndedAt: timePtr(r[6]), Duration: floatOf(r[7]), Error: strOf(r[8]), Log: strOf(r[9]),
		})
	}
	return out
}

// recorder writes a run's history; Test uses one that writes nothing.
type recorder interface {
	// startRun marks the run running and inserts a queued row per task,
	// at try tries[task]+1.
	startRun(ctx context.Context, r Run, tasks []TaskInstance) error
	finishRun(ctx context.Context, r Run) error
	// tries returns the highest try of each task of a run so far (a
	// reprocessed run goes on counting).
	// tries returns each task's latest try in the run, without its log.
	tries(ctx context.Context, r Run) (map[string]TaskInstance, error)
	insertTry(ctx context.Context, ti TaskInstance) error
	updateTry(ctx context.Context, ti TaskInstance) error
	updateLog(ctx context.Context, ti TaskInstance) error
}

type warehouseRecorder struct{ db DB }

func (w warehouseRecorder) startRun(ctx context.Context, r Run, tasks []TaskInstance) error {
	return w.db.Tx(ctx, func(tx warehouse.Tx) error {
		if err := tx.Exec(ctx, `UPDATE dag_runs SET state = $1, started_at = $2, ended_at = NULL WHERE dag = $3 AND run_id = $4`,
			r.State, nullTime(r.StartedAt), r.DAG, r.RunID); err != nil {
			return err
		}
		// A try still waiting for its retry belongs to a stopped leader
		// (a resumed run): it failed, and the new try is the retry.
		if err := tx.Exec(ctx, `UPDATE task_instances SET state = 'failed' WHERE dag = $1 AND run_id = $2 AND state = 'up_for_retry'`,
			r.DAG, r.RunID); err != nil {
			return err
		}
		if len(tasks) == 0 {
			return nil
		}
		var (
			q    strings.Builder
			args []any
		)
		q.WriteString(`INSERT INTO task_instances (dag, run_id, task_id, try_number, state) VALUES `)
		for i, ti := range tasks {
			if i > 0 {
				q.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5)
			args = append(args, ti.DAG, ti.RunID, ti.TaskID, ti.Try, ti.State)
		}
		return tx.Exec(ctx, q.String(), args...)
	})
}

func (w warehouseRecorder) finishRun(ctx context.Context, r Run) error {
	return w.db.Exec(ctx, `UPDATE dag_runs SET state = $1, ended_at = $2 WHERE dag = $3 AND run_id = $4`,
		r.State, nullTime(r.EndedAt), r.DAG, r.RunID)
}

func (w warehouseRecorder) tries(ctx context.Context, r Run) (map[string]TaskInstance, error) {
	rs, err := w.db.Query(ctx, `SELECT dag, run_id, task_id, try_number, state, started_at, ended_at, duration, error, ''
		FROM task_instances WHERE dag = $1 AND run_id = $2`, r.DAG, r.RunID)
	if err != nil {
		return nil, err
	}
	out := map[string]TaskInstance{}
	for _, ti := range scanTIs(rs) {
		if ti.Try > out[ti.TaskID].Try {
			out[ti.TaskID] = ti
		}
	}
	return out, nil
}

func (w warehouseRecorder) insertTry(ctx context.Context, ti TaskInstance) error {
	return w.db.Exec(ctx, `INSERT INTO task_instances (`+tiColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		ti.DAG, ti.RunID, ti.TaskID, ti.Try, ti.State, nullTime(ti.StartedAt), nullTime(ti.EndedAt), ti.Duration,
		clipError(ti.Error), clipLog(ti.Log))
}

func (w warehouseRecorder) updateTry(ctx context.Context, ti TaskInstance) error {
	return w.db.Exec(ctx, `UPDATE task_instances SET state = $1, started_at = $2, ended_at = $3, duration = $4, error = $5, log = $6
		WHERE dag = $7 AND run_id = $8 AND task_id = $9 AND try_number = $10`,
		ti.State, nullTime(ti.StartedAt), nullTime(ti.EndedAt), ti.Duration, clipError(ti.Error), clipLog(ti.Log),
		ti.DAG, ti.RunID, ti.TaskID, ti.Try)
}

func (w warehouseRecorder) updateLog(ctx context.Context, ti TaskInstance) error {
	return w.db.Exec(ctx, `UPDATE task_instances SET log = $1 WHERE dag = $2 AND run_id = $3 AND task_id = $4 AND try_number = $5`,
		clipLog(ti.Log), ti.DAG, ti.RunID, ti.TaskID, ti.Try)
}

// nopRecorder is the history of `dags test`: none.
type nopRecorder struct{}

func (nopRecorder) startRun(context.Context, Run, []TaskInstance) error         { return nil }
func (nopRecorder) finishRun(context.Context, Run) error                        { return nil }
func (nopRecorder) tries(context.Context, Run) (map[string]TaskInstance, error) { return nil, nil }
func (nopRecorder) insertTry(context.Context, TaskInstance) error               { return nil }
func (nopRecorder) updateTry(context.Context, TaskInstance) error               { return nil }
func (nopRecorder) updateLog(context.Context, TaskInstance) error               { return nil }
