package warehouse

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/streaming"
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

// The result types, kept here under their old names while callers move
// to package result.
type (
	Kind    = result.Kind
	Column  = result.Column
	Result  = result.Set
	Decimal = result.Decimal
)

// Column kinds.
const (
	KindText      = result.KindText
	KindInt       = result.KindInt
	KindDecimal   = result.KindDecimal
	KindFloat     = result.KindFloat
	KindBool      = result.KindBool
	KindTimestamp = result.KindTimestamp
	KindDate      = result.KindDate
	KindOther     = result.KindOther
)

// DecimalFromCents renders cents with two decimals.
func DecimalFromCents(c int64) Decimal { return result.DecimalFromCents(c) }

func formatScaled(v *big.Int, scale int) string { return result.FormatScaled(v, scale) }

// DB is an open warehouse: the streaming Store, a SQL runner for the models
// and the query engine behind the CLI and the dashboards.
type DB struct {
	dialect Dialect
	a       adapter
	closed  bool
}

// ErrReadOnly is returned by Query with ReadOnly for a statement that writes.
var ErrReadOnly = errors.New("only a single read-only statement (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE) is allowed")

// Option configures Open.
type Option func(*options)

type options struct {
	readOnly bool
	bulk     bool
}

// ReadOnlyAccess opens the warehouse without creating or migrating the
// schema; with DuckDB the file is opened read-only.
func ReadOnlyAccess() Option { return func(o *options) { o.readOnly = true } }

// BulkLoad tunes the warehouse for one large load, such as a replay, rather
// than a stream of micro-batches: DuckDB folds its WAL into the file at its
// default 16 MB, during the load's commits, so that closing the file after
// the load has little left to fold. (A live appliance folds it at 64 MB:
// micro-batches would otherwise rewrite row groups every few seconds.)
func BulkLoad() Option { return func(o *options) { o.bulk = true } }

// Open connects to the warehouse named by dsn — duckdb://PATH,
// postgres://… or redshift://… — and creates the streaming tables when they
// are missing.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	scheme, _, ok := strings.Cut(dsn, "://")
	if !ok {
		return nil, fmt.Errorf("warehouse DSN %q: want duckdb://PATH, postgres://… or redshift://…", RedactDSN(dsn))
	}
	var (
		a   adapter
		d   Dialect
		err error
	)
	switch scheme {
	case "duckdb":
		d = DuckDB
		a, err = openDuckDB(ctx, strings.TrimPrefix(dsn, "duckdb://"), o)
	case "postgres", "postgresql":
		d = Postgres
		a, err = openPostgres(ctx, dsn, Postgres, o)
	case "redshift":
		d = Redshift
		a, err = openPostgres(ctx, dsn, Redshift, o)
	default:
		return nil, fmt.Errorf("warehouse DSN %q: unknown scheme %q (want duckdb, postgres or redshift)", RedactDSN(dsn), scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s warehouse %s: %w", d, RedactDSN(dsn), err)
	}
	db := &DB{dialect: d, a: a}
	if !o.readOnly {
		if err := db.migrate(ctx); err != nil {
			a.close()
			return nil, fmt.Errorf("prepare %s warehouse: %w", d, err)
		}
	}
	return db, nil
}

// RedactDSN hides the password of a DSN, for messages and logs.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Prepare encodes b's rows ahead of its Commit, where the warehouse has
// such an encoding (DuckDB's Arrow loader); elsewhere it does nothing. The
// pipeline calls it on its consuming goroutine, so that encoding a batch
// overlaps the commit of the one before.
func (db *DB) Prepare(b *streaming.Batch) {
	if p, ok := db.a.(interface{ prepare(*streaming.Batch) }); ok {
		p.prepare(b)
	}
}

// Dialect returns the warehouse's SQL dialect.
func (db *DB) Dialect() Dialect { return db.dialect }

// Exec runs statements that return no rows.
func (db *DB) Exec(ctx context.Context, query string, args ...any) error {
	_, err := db.a.exec(ctx, query, args...)
	return err
}

// Query runs a query and reads its whole result.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*Result, error) {
	return db.a.query(ctx, query, false, args...)
}

// QueryReadOnly runs a query that must not write: it fails with
// ErrReadOnly otherwise. The dashboards and `cartwheel query` against a
// running appliance use it.
func (db *DB) QueryReadOnly(ctx context.Context, query string, args ...any) (*Result, error) {
	return db.a.query(ctx, query, true, args...)
}

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
	Query(ctx context.Context, query string, args ...any) (*Result, error)
}

// adapter is what each warehouse implements.
type adapter interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	query(ctx context.Context, query string, readOnly bool, args ...any) (*Result, error)
	// scan runs a query and calls fn for each row with a scan function.
	scan(ctx context.Context, query string, args []any, fn func(scan func(dest ...any) error) error) error
	begin(ctx context.Context) (txn, error)
	close() error
}

// txn is an adapter transaction, with the bulk loads of a batch commit.
type txn interface {
	Tx
	execN(ctx context.Context, query string, args ...any) (int64, error)
	loadEvents(ctx context.Context, b *streaming.Batch) error
	loadRejected(ctx context.Context, b *streaming.Batch) error
	loadSessions(ctx context.Context, b *streaming.Batch) error
	commit() error
	rollback() error
}

// ts converts µs since the epoch to a UTC time.
func ts(us int64) time.Time { return time.UnixMicro(us).UTC() }

// transientError marks an error worth retrying (streaming.IsTransient).
type transientError struct{ error }

func (e transientError) Unwrap() error   { return e.error }
func (e transientError) Transient() bool { return true }
