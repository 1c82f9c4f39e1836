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
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/cartwheel-analytics/cartwheel/result"
)

// duckDB is the embedded warehouse. One process may write the file; other
// processes ask that process (see appliance) instead of opening it.
//
// DuckDB invalidates a database after a fatal error — a checkpoint that
// could not write the file because the disk is full, for one — and fails
// every later statement until the database is opened again. So db is
// reached through handle, which reopens it once classify has seen such an
// error (duckdb_fault.go): a full disk pauses the pipeline, it does not
// stop it.
type duckDB struct {
	mu     sync.Mutex // guards db and broken; held while reopening
	db     *sql.DB    // nil after a failed reopen
	broken error      // the fatal error that invalidated db, or nil
	reopen func(context.Context) (*sql.DB, error)
}

// duckThreads is DuckDB's default thread count: one core fewer than the
// machine has (at least one), because the pipeline's consumer needs a core
// of its own. On two cores, DuckDB's second thread made each insert cost a
// third more CPU for no shorter commit, and the pipeline 30 % slower; the
// models runner builds independent nodes in parallel anyway.
func duckThreads() int { return max(1, runtime.NumCPU()-1) }

// DuckDBFile returns the database file of a duckdb://PATH[?threads=N] DSN,
// or "" for another or an invalid DSN, an in-memory database or no path at
// all (DSN.File).
func DuckDBFile(dsn string) string {
	d, err := ParseDSN(dsn)
	if err != nil {
		return ""
	}
	return d.File()
}

// openDuckDB opens the database of a duckdb:// DSN.
func openDuckDB(ctx context.Context, d DSN, o options) (adapter, error) {
	path, threads := d.Path, d.Threads
	if threads == 0 {
		threads = duckThreads()
	}
	if path != ":memory:" && !o.readOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
	}
	dsn := path
	if path == ":memory:" {
		dsn = ""
	}
	// Settings go in the DSN, so they hold from the database's creation
	// and lock_configuration can seal them: user SQL (QueryReadOnly) must
	// not reach the file system or the network — read_text, glob,
	// read_csv, ATTACH, COPY, INSTALL/LOAD — nor turn that back on with
	// SET. The appliance itself needs no external access: its own file,
	// WAL and spill directory stay usable, and the Arrow loader scans
	// memory.
	cfg := url.Values{}
	// Checkpoint the WAL into the file less often than the 16 MB default
	// (a checkpoint rewrites row groups, and micro-batches would trigger
	// one every few seconds at full speed), but not so rarely that
	// replaying the WAL after a crash delays a restart; a bulk load keeps
	// the default (BulkLoad).
	cfg.Set("checkpoint_threshold", "64MB")
	if o.bulk {
		cfg.Set("checkpoint_threshold", "16MB")
	}
	cfg.Set("threads", strconv.Itoa(threads))
	if o.readOnly {
		cfg.Set("access_mode", "READ_ONLY")
	}
	cfg.Set("enable_external_access", "false")
	cfg.Set("autoinstall_known_extensions", "false")
	cfg.Set("autoload_known_extensions", "false")
	cfg.Set("lock_configuration", "true")
	dsn += "?" + cfg.Encode()
	db, err := openDuckDBHandle(ctx, dsn, o.readOnly)
	if err != nil {
		return nil, err
	}
	w := &duckDB{db: db}
	if path != ":memory:" {
		// An in-memory database cannot be reopened: it would come back
		// empty.
		w.reopen = func(ctx context.Context) (*sql.DB, error) { return openDuckDBHandle(ctx, dsn, o.readOnly) }
	}
	return w, nil
}

// openDuckDBHandle opens the database file with the settings of dsn.
func openDuckDBHandle(ctx context.Context, dsn string, readOnly bool) (*sql.DB, error) {
	c, err := duckdb.NewConnector(dsn, nil)
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
		if err == nil && !readOnly {
			// Fold a WAL left by a crash into the file now, so that the next
			// crash has little to replay.
			_, err = db.ExecContext(ctx, "CHECKPOINT")
		}
		if err == nil {
			return db, nil
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

func (d *duckDB) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db == nil {
		return nil
	}
	err := d.db.Close()
	d.db = nil
	return err
}

func (d *duckDB) exec(ctx context.Context, query string, args ...any) (int64, error) {
	db, err := d.handle(ctx)
	if err != nil {
		return 0, err
	}
	r, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, d.classify(db, err)
	}
	return r.RowsAffected()
}

func (d *duckDB) query(ctx context.Context, query string, readOnly bool, maxRows int, args ...any) (*result.Set, error) {
	db, err := d.handle(ctx)
	if err != nil {
		return nil, err
	}
	if !readOnly {
		rows, err := db.QueryContext(ctx, query, args...)
		res, err := readRows(rows, err, maxRows)
		return res, d.classify(db, err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, d.classify(db, err)
	}
	defer conn.Close()
	if err := checkReadOnly(ctx, conn, query); err != nil {
		return nil, d.classify(db, externalAccess(err))
	}
	// Belt and braces: the statement runs in a transaction that is rolled
	// back.
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return nil, d.classify(db, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	rows, err := conn.QueryContext(ctx, query, args...)
	res, err := readRows(rows, err, maxRows)
	return res, d.classify(db, externalAccess(err))
}

// externalAccess marks DuckDB's refusal of a file, network or extension
// access (enable_external_access is off) as result.ErrExternalAccess.
// It reads DuckDB's error type, as duckFault does, not the message text,
// which user SQL could shape.
func externalAccess(err error) error {
	var de *duckdb.Error
	if errors.As(err, &de) && de.Type == duckdb.ErrorTypePermission {
		return fmt.Errorf("%w: %w", result.ErrExternalAccess, err)
	}
	return err
}

// checkReadOnly asks DuckDB's parser what kind of statement query is. It
// must be a single statement: preparing a multi-statement string runs all
// but its last statement.
func checkReadOnly(ctx context.Context, conn *sql.Conn, query string) error {
	if countStatements(query) != 1 {
		return result.ErrReadOnly
	}
	return conn.Raw(func(dc any) error {
		return readOnlyStatement(ctx, dc.(driver.ConnPrepareContext), query, true)
	})
}

// readOnlyStatement prepares one statement (which runs nothing) and
// refuses it unless it is a SELECT, or an EXPLAIN of one: EXPLAIN ANALYZE
// runs what it explains, and a DELETE or CREATE there would take its locks
// and conflict with the pipeline's commits even though the transaction
// around it is rolled back.
func readOnlyStatement(ctx context.Context, pc driver.ConnPrepareContext, query string, explain bool) error {
	stmt, err := pc.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	st, ok := stmt.(*duckdb.Stmt)
	if !ok {
		return result.ErrReadOnly
	}
	typ, err := st.StatementType()
	if err != nil {
		return err
	}
	switch typ {
	case duckdb.STATEMENT_TYPE_SELECT:
		return nil
	case duckdb.STATEMENT_TYPE_EXPLAIN:
		if inner, ok := explained(query); ok && explain {
			return readOnlyStatement(ctx, pc, inner, false)
		}
	}
	return result.ErrReadOnly
}

func (d *duckDB) scan(ctx context.Context, query string, args []any, fn func(scan func(dest ...any) error) error) error {
	db, err := d.handle(ctx)
	if err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return d.classify(db, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return d.classify(db, err)
		}
	}
	return d.classify(db, rows.Err())
}

// begin starts a transaction on a dedicated connection: the bulk loaders
// need the raw driver connection, which database/sql's Tx does not expose.
func (d *duckDB) begin(ctx context.Context) (txn, error) {
	db, err := d.handle(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, d.classify(db, err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		conn.Close()
		return nil, d.classify(db, err)
	}
	return &duckTx{conn: conn, d: d, db: db}, nil
}

type duckTx struct {
	conn *sql.Conn
	d    *duckDB
	db   *sql.DB // the handle conn belongs to, for classify
	done bool
}

// classify marks the transaction's failures as its database's (see
// duckDB.classify).
func (t *duckTx) classify(err error) error { return t.d.classify(t.db, err) }

func (t *duckTx) Exec(ctx context.Context, query string, args ...any) error {
	_, err := t.conn.ExecContext(ctx, query, args...)
	return t.classify(err)
}

func (t *duckTx) execN(ctx context.Context, query string, args ...any) (int64, error) {
	r, err := t.conn.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, t.classify(err)
	}
	return r.RowsAffected()
}

func (t *duckTx) Query(ctx context.Context, query string, args ...any) (*result.Set, error) {
	rows, err := t.conn.QueryContext(ctx, query, args...)
	res, err := readRows(rows, err, 0)
	return res, t.classify(err)
}

func (t *duckTx) end(stmt string) error {
	if t.done {
		return nil
	}
	t.done = true
	_, err := t.conn.ExecContext(context.Background(), stmt)
	if err != nil {
		// A COMMIT that failed (the WAL could not be written on a full
		// disk) leaves the connection in a state nobody should have to
		// reason about: drop it from the pool rather than hand it to the
		// retry.
		t.conn.Raw(func(any) error { return driver.ErrBadConn })
		t.conn.Close()
		return t.classify(err)
	}
	return t.conn.Close()
}

func (t *duckTx) commit() error   { return t.end("COMMIT") }
func (t *duckTx) rollback() error { return t.end("ROLLBACK") }

// readRows reads a whole result, normalising values (see result.Set).
// readRows reads at most maxRows rows (0: all); a result with more is
// marked truncated.
func readRows(rows *sql.Rows, err error, maxRows int) (*result.Set, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	res := &result.Set{Columns: make([]result.Column, len(types)), Rows: [][]any{}}
	for i, t := range types {
		res.Columns[i] = result.Column{Name: t.Name(), Kind: duckKind(t.DatabaseTypeName())}
	}
	for rows.Next() {
		if maxRows > 0 && len(res.Rows) == maxRows {
			res.Truncated, res.RowLimit = true, maxRows
			break
		}
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

func duckKind(t string) result.Kind {
	switch {
	case t == "VARCHAR" || t == "ENUM" || strings.HasPrefix(t, "ENUM("):
		return result.KindText
	case t == "BIGINT" || t == "INTEGER" || t == "SMALLINT" || t == "TINYINT" || t == "HUGEINT" ||
		t == "UBIGINT" || t == "UINTEGER" || t == "USMALLINT" || t == "UTINYINT" || t == "UHUGEINT":
		return result.KindInt
	case strings.HasPrefix(t, "DECIMAL"):
		return result.KindDecimal
	case t == "DOUBLE" || t == "FLOAT":
		return result.KindFloat
	case t == "BOOLEAN":
		return result.KindBool
	case strings.HasPrefix(t, "TIMESTAMP"):
		return result.KindTimestamp
	case t == "DATE":
		return result.KindDate
	}
	return result.KindOther
}

// normalize maps driver values onto the result.Set value types.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, string, int64, float64, bool, result.Decimal:
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
		return result.Decimal(fmt.Sprint(x))
	case float32:
		return float64(x)
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		return result.Decimal(x.String())
	case duckdb.Decimal:
		return result.Decimal(result.FormatScaled(x.Value, int(x.Scale)))
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}
