package warehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// duckDB is the embedded warehouse. One process may write the file; other
// processes ask that process (see appliance) instead of opening it.
type duckDB struct {
	db *sql.DB
}

// duckThreads is DuckDB's default thread count: one core fewer than the
// machine has (at least one), because the pipeline's consumer needs a core
// of its own. On two cores, DuckDB's second thread made each insert cost a
// third more CPU for no shorter commit, and the pipeline 30 % slower; the
// models runner builds independent nodes in parallel anyway.
func duckThreads() int { return max(1, runtime.NumCPU()-1) }

// DuckDBFile returns the database file of a duckdb://PATH[?threads=N] DSN,
// or "" for another DSN, an in-memory database or no path at all.
func DuckDBFile(dsn string) string {
	rest, ok := strings.CutPrefix(dsn, "duckdb://")
	if !ok {
		return ""
	}
	path, _, _ := strings.Cut(rest, "?")
	if path == "" || path == ":memory:" {
		return ""
	}
	return filepath.Clean(path)
}

// openDuckDB opens PATH[?threads=N].
func openDuckDB(ctx context.Context, dsn string, o options) (adapter, error) {
	path, params, _ := strings.Cut(dsn, "?")
	threads := duckThreads()
	if params != "" {
		q, err := url.ParseQuery(params)
		if err != nil {
			return nil, fmt.Errorf("parameters %q: %w", params, err)
		}
		for k, v := range q {
			switch k {
			case "threads":
				n, err := strconv.Atoi(v[len(v)-1])
				if err != nil || n < 1 {
					return nil, fmt.Errorf("threads=%s: want a positive number", v[len(v)-1])
				}
				threads = n
			default:
				return nil, fmt.Errorf("unknown parameter %q (duckdb:// takes threads=N)", k)
			}
		}
	}
	if path == "" {
		return nil, errors.New("empty path")
	}
	if path != ":memory:" && !o.readOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
	}
	dsn = path
	if path == ":memory:" {
		dsn = ""
	}
	if o.readOnly {
		dsn += "?access_mode=READ_ONLY"
	}
	c, err := duckdb.NewConnector(dsn, func(execer driver.ExecerContext) error {
		// Checkpoint the WAL into the file less often than the 16 MB
		// default (a checkpoint rewrites row groups, and micro-batches
		// would trigger one every few seconds at full speed), but not so
		// rarely that replaying the WAL after a crash delays a restart;
		// a bulk load keeps the default (BulkLoad).
		threshold := "64MB"
		if o.bulk {
			threshold = "16MB"
		}
		_, err := execer.ExecContext(ctx, "SET checkpoint_threshold = '"+threshold+"'", nil)
		if err == nil {
			_, err = execer.ExecContext(ctx, "SET threads = "+strconv.Itoa(threads), nil)
		}
		return err
	})
	if err != nil {
		if strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("%w (another cartwheel process holds the file: run `cartwheel query` against it, or stop it)", err)
		}
		return nil, err
	}
	db := sql.OpenDB(c)
	// A short-lived reader (`cartwheel query` without a running appliance)
	// may hold the file for a moment: wait for it rather than fail.
	deadline := time.Now().Add(lockWait)
	for {
		err := db.PingContext(ctx)
		if err == nil && !o.readOnly {
			// Fold a WAL left by a crash into the file now, so that the next
			// crash has little to replay.
			_, err = db.ExecContext(ctx, "CHECKPOINT")
		}
		if err == nil {
			return &duckDB{db: db}, nil
		}
		if !strings.Contains(err.Error(), "Could not set lock") || time.Now().After(deadline) {
			db.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			db.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lockWait is how long opening a DuckDB file waits for another process's
// lock to go away.
const lockWait = 10 * time.Second

func (d *duckDB) close() error { return d.db.Close() }

func (d *duckDB) exec(ctx context.Context, query string, args ...any) (int64, error) {
	r, err := d.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (d *duckDB) query(ctx context.Context, query string, readOnly bool, args ...any) (*Result, error) {
	if !readOnly {
		return readRows(d.db.QueryContext(ctx, query, args...))
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := checkReadOnly(ctx, conn, query); err != nil {
		return nil, err
	}
	// Belt and braces: the statement runs in a transaction that is rolled
	// back.
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return nil, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	return readRows(conn.QueryContext(ctx, query, args...))
}

// checkReadOnly asks DuckDB's parser what kind of statement query is. It
// must be a single statement: preparing a multi-statement string runs all
// but its last statement.
func checkReadOnly(ctx context.Context, conn *sql.Conn, query string) error {
	if countStatements(query) != 1 {
		return ErrReadOnly
	}
	return conn.Raw(func(dc any) error {
		stmt, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		st, ok := stmt.(*duckdb.Stmt)
		if !ok {
			return ErrReadOnly
		}
		typ, err := st.StatementType()
		if err != nil {
			return err
		}
		switch typ {
		case duckdb.STATEMENT_TYPE_SELECT, duckdb.STATEMENT_TYPE_EXPLAIN:
			return nil
		}
		return ErrReadOnly
	})
}

func (d *duckDB) scan(ctx context.Context, query string, args []any, fn func(scan func(dest ...any) error) error) error {
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// begin starts a transaction on a dedicated connection: the bulk loaders
// need the raw driver connection, which database/sql's Tx does not expose.
func (d *duckDB) begin(ctx context.Context) (txn, error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		conn.Close()
		return nil, err
	}
	return &duckTx{conn: conn}, nil
}

type duckTx struct {
	conn *sql.Conn
	done bool
}

func (t *duckTx) Exec(ctx context.Context, query string, args ...any) error {
	_, err := t.conn.ExecContext(ctx, query, args...)
	return err
}

func (t *duckTx) execN(ctx context.Context, query string, args ...any) (int64, error) {
	r, err := t.conn.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (t *duckTx) Query(ctx context.Context, query string, args ...any) (*Result, error) {
	return readRows(t.conn.QueryContext(ctx, query, args...))
}

func (t *duckTx) end(stmt string) error {
	if t.done {
		return nil
	}
	t.done = true
	_, err := t.conn.ExecContext(context.Background(), stmt)
	return errors.Join(err, t.conn.Close())
}

func (t *duckTx) commit() error   { return t.end("COMMIT") }
func (t *duckTx) rollback() error { return t.end("ROLLBACK") }

// readRows reads a whole result, normalising values (see Result).
func readRows(rows *sql.Rows, err error) (*Result, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: make([]Column, len(types)), Rows: [][]any{}}
	for i, t := range types {
		res.Columns[i] = Column{Name: t.Name(), Kind: duckKind(t.DatabaseTypeName())}
	}
	for rows.Next() {
		vals := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = normalize(v)
		}
		res.Rows = append(res.Rows, vals)
	}
	return res, rows.Err()
}

func duckKind(t string) Kind {
	switch {
	case t == "VARCHAR" || t == "ENUM" || strings.HasPrefix(t, "ENUM("):
		return KindText
	case t == "BIGINT" || t == "INTEGER" || t == "SMALLINT" || t == "TINYINT" || t == "HUGEINT" ||
		t == "UBIGINT" || t == "UINTEGER" || t == "USMALLINT" || t == "UTINYINT" || t == "UHUGEINT":
		return KindInt
	case strings.HasPrefix(t, "DECIMAL"):
		return KindDecimal
	case t == "DOUBLE" || t == "FLOAT":
		return KindFloat
	case t == "BOOLEAN":
		return KindBool
	case strings.HasPrefix(t, "TIMESTAMP"):
		return KindTimestamp
	case t == "DATE":
		return KindDate
	}
	return KindOther
}

// normalize maps driver values onto the Result value types.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, string, int64, float64, bool, Decimal:
		return x
	case time.Time:
		return x.UTC()
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= 1<<63-1 {
			return int64(x)
		}
		return Decimal(fmt.Sprint(x))
	case float32:
		return float64(x)
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		return Decimal(x.String())
	case duckdb.Decimal:
		return Decimal(formatScaled(x.Value, int(x.Scale)))
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}
