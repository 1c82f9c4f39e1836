package warehouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cartwheel-analytics/cartwheel/event"
	"github.com/cartwheel-analytics/cartwheel/result"
)

// Dialect names a SQL dialect.
type Dialect string

// The supported warehouses.
const (
	DuckDB   Dialect = "duckdb"
	Postgres Dialect = "postgres"
	Redshift Dialect = "redshift"
)

// DefaultDSN is where the local appliance keeps its warehouse.
const DefaultDSN = "duckdb://data/cartwheel.duckdb"

// DB is an open warehouse: the streaming Store, a SQL runner for the models
// and the query engine behind the CLI and the dashboards.
type DB struct {
	dialect Dialect
	a       adapter
	limits  Limits
	closed  bool
	log     *slog.Logger
	// activity remembers the user_activity rows recently committed.
	activity *activityCache
}

// Option configures Open.
type Option func(*options)

type options struct {
	readOnly bool
	bulk     bool
	limits   Limits
	log      *slog.Logger
}

// Limits bound a user query (QueryReadOnly), so that no query can hold the
// appliance: Timeout cancels it (DuckDB is interrupted, PostgreSQL gets a
// cancel request) and MaxRows cuts its result, which says so
// (result.Set.Truncated). Zero means no limit.
type Limits struct {
	Timeout time.Duration
	MaxRows int
}

// DefaultLimits are the limits of user queries unless configured otherwise.
var DefaultLimits = Limits{Timeout: 30 * time.Second, MaxRows: 100_000}

// QueryLimits sets the limits of user queries (default DefaultLimits).
func QueryLimits(l Limits) Option { return func(o *options) { o.limits = l } }

// WithLogger sets where the warehouse logs what it waits for (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// ReadOnlyAccess opens the warehouse without creating or migrating the
// schema; with DuckDB the file is opened read-only.
func ReadOnlyAccess() Option { return func(o *options) { o.readOnly = true } }

// BulkLoad tunes the warehouse for one large load, such as a replay, rather
// than a stream of micro-batches: DuckDB folds its WAL into the file at its
// default 16 MB, during the load's commits, so that closing the file after
// the load has little left to fold. (A live appliance folds it at 64 MB:
// micro-batches would otherwise rewrite row groups every few seconds.)
func BulkLoad() Option { return func(o *options) { o.bulk = true } }

// Open connects to the warehouse named by dsn (ParseDSN) and creates the
// streaming tables when they are missing.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	o := options{limits: DefaultLimits, log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	d, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	var a adapter
	if d.Dialect == DuckDB {
		a, err = openDuckDB(ctx, d, o)
	} else {
		a, err = openPostgres(ctx, d, o)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s warehouse %s: %w", d.Dialect, d, err)
	}
	db := &DB{dialect: d.Dialect, a: a, limits: o.limits, log: o.log, activity: newActivityCache()}
	if !o.readOnly {
		if err := db.migrate(ctx); err != nil {
			a.close()
			return nil, fmt.Errorf("prepare %s warehouse: %w", d.Dialect, err)
		}
	}
	return db, nil
}

// Prepare does the work of b's Commit that needs no transaction: its
// user_activity rows, and the rows' encoding where the warehouse has one
// (DuckDB's Arrow loader). The pipeline calls it on its consuming
// goroutine, so that this work overlaps the commit of the batch before,
// and the commit — the pipeline's critical path — only writes.
func (db *DB) Prepare(b *event.Batch) {
	db.activityOf(b)
	if p, ok := db.a.(interface{ prepare(*event.Batch) }); ok {
		p.prepare(b)
	}
}

// batchState is what Prepare or a first Commit worked out for a batch,
// kept in event.Batch.Prepared so that a retried commit reuses it.
type batchState struct {
	activity     []activity
	haveActivity bool
	encoded      any // the adapter's encoding of the rows (Arrow records)
}

func stateOf(b *event.Batch) *batchState {
	if s, ok := b.Prepared.(*batchState); ok {
		return s
	}
	s := &batchState{}
	b.Prepared = s
	return s
}

// activityOf returns b's user_activity rows, less those the cache says are
// stored or on their way, computing them on first use.
func (db *DB) activityOf(b *event.Batch) []activity {
	s := stateOf(b)
	if !s.haveActivity {
		s.activity, s.haveActivity = db.activity.rows(b.Events), true
	}
	return s.activity
}

// Dialect returns the warehouse's SQL dialect.
func (db *DB) Dialect() Dialect { return db.dialect }

// Exec runs statements that return no rows.
func (db *DB) Exec(ctx context.Context, query string, args ...any) error {
	_, err := db.a.exec(ctx, query, args...)
	return err
}

// Query runs a query and reads its whole result.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*result.Set, error) {
	return db.a.query(ctx, query, false, 0, args...)
}

// QueryReadOnly runs user SQL — from the HTTP API, `cartwheel query`, the
// dashboards — under the guard of SPEC §7: a single statement that cannot
// write (result.ErrReadOnly otherwise), cannot reach files or the network
// (DuckDB runs with external access off and its configuration locked, see
// openDuckDB; on PostgreSQL the statement runs in a read-only transaction),
// and stays within the warehouse's Limits (result.ErrTimeLimit, or a
// truncated result).
func (db *DB) QueryReadOnly(ctx context.Context, query string, args ...any) (*result.Set, error) {
	lim := db.limits
	if lim.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, lim.Timeout, errTimeLimit)
		defer cancel()
	}
	res, err := db.a.query(ctx, query, true, lim.MaxRows, args...)
	if err != nil && errors.Is(context.Cause(ctx), errTimeLimit) {
		return nil, fmt.Errorf("%w of %v", result.ErrTimeLimit, lim.Timeout)
	}
	return res, err
}

// errTimeLimit is the cause of a user query's context ending at its limit.
var errTimeLimit = errors.New("time limit")

// Tx runs fn in one transaction, committed when fn returns nil.
func (db *DB) Tx(ctx context.Context, fn func(tx Tx) error) error {
	t, err := db.a.begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(t); err != nil {
		return errors.Join(err, t.rollback())
	}
	return t.commit()
}

// Close closes the warehouse; it is safe to call more than once.
func (db *DB) Close() error {
	if db.closed {
		return nil
	}
	db.closed = true
	return db.a.close()
}

// Tx is a transaction.
type Tx interface {
	Exec(ctx context.Context, query string, args ...any) error
	Query(ctx context.Context, query string, args ...any) (*result.Set, error)
}

// adapter is what each warehouse implements.
type adapter interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	// query reads at most maxRows rows (0: all) and marks a longer
	// result truncated.
	query(ctx context.Context, query string, readOnly bool, maxRows int, args ...any) (*result.Set, error)
	// scan runs a query and calls fn for each row with a scan function.
	scan(ctx context.Context, query string, args []any, fn func(scan func(dest ...any) error) error) error
	begin(ctx context.Context) (txn, error)
	close() error
}

// txn is an adapter transaction, with the bulk loads of a batch commit.
type txn interface {
	Tx
	execN(ctx context.Context, query string, args ...any) (int64, error)
	loadEvents(ctx context.Context, b *event.Batch) error
	loadRejected(ctx context.Context, b *event.Batch) error
	loadSessions(ctx context.Context, b *event.Batch) error
	loadActivity(ctx context.Context, rows []activity) error
	commit() error
	rollback() error
}

// ts converts µs since the epoch to a UTC time.
func ts(us int64) time.Time { return time.UnixMicro(us).UTC() }
