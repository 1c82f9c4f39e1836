package warehouse

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cartwheel-analytics/cartwheel/result"
)

// Description is what a read-only statement returns and takes, found by
// preparing it, which runs nothing: a wire client's Describe is answered
// with it before the statement runs.
type Description struct {
	Columns []TypedColumn
	// Params holds the SQL type of each parameter $1, $2, …; "" when the
	// warehouse cannot tell.
	Params []string
}

// TypedColumn is a result column and its SQL type as the warehouse names
// it (BIGINT, INTEGER, DOUBLE, DECIMAL(18,2), VARCHAR, BOOLEAN, DATE,
// TIMESTAMP, TIMESTAMPTZ, INTERVAL, …).
type TypedColumn struct {
	Name string
	Type string
}

// Interval is a DuckDB INTERVAL value, as a cursor returns it.
type Interval struct {
	Months int32
	Days   int32
	Micros int64
}

// ErrNoStreaming is the error of DescribeReadOnly on a warehouse that
// cannot describe a statement without running it (PostgreSQL, Redshift).
var ErrNoStreaming = errors.New("describing user SQL is supported on DuckDB only")

// DescribeReadOnly checks user SQL with the guard of QueryReadOnly and
// returns its columns and parameter types without running it.
func (db *DB) DescribeReadOnly(ctx context.Context, query string) (*Description, error) {
	d, ok := db.a.(*duckDB)
	if !ok {
		return nil, ErrNoStreaming
	}
	return d.describe(ctx, query)
}

// Cursor streams the rows of a read-only query (OpenReadOnly). It holds a
// warehouse connection until Close.
type Cursor struct {
	// Columns are the result's columns and their SQL types.
	Columns []TypedColumn

	next    func() ([]any, error) // nil, nil at the end
	ctx     context.Context       // carries the time limit's cause
	timeout time.Duration
	max     int
	n       int
	vals    []any
	trunc   bool
	err     error
	done    bool
	cleanup func() error
}

// OpenReadOnly runs user SQL under exactly the guard and limits of
// QueryReadOnly (one statement that cannot write nor reach files or the
// network; the time limit; the row limit), but hands its rows out one at
// a time rather than reading the whole result: the Postgres wire endpoint
// streams a large result to its client. Close the cursor when done.
func (db *DB) OpenReadOnly(ctx context.Context, query string, args ...any) (*Cursor, error) {
	lim := db.limits
	cancel := context.CancelFunc(func() {})
	if lim.Timeout > 0 {
		ctx, cancel = context.WithTimeoutCause(ctx, lim.Timeout, errTimeLimit)
	}
	c := &Cursor{ctx: ctx, timeout: lim.Timeout, max: lim.MaxRows}
	var err error
	d, ok := db.a.(*duckDB)
	if ok {
		err = d.open(ctx, c, query, args)
	} else {
		// PostgreSQL and Redshift: the whole (row-limited) result, served
		// one row at a time.
		var res *result.Set
		res, err = db.a.query(ctx, query, true, lim.MaxRows, args...)
		if err == nil {
			c.fromSet(res)
		}
	}
	if err != nil {
		cancel()
		return nil, c.limitErr(err)
	}
	inner := c.cleanup
	c.cleanup = func() error {
		defer cancel()
		if inner != nil {
			return inner()
		}
		return nil
	}
	return c, nil
}

// Next advances to the next row; false at the end, at the row limit
// (Truncated) or on an error (Err).
func (c *Cursor) Next() bool {
	if c.done {
		return false
	}
	vals, err := c.next()
	switch {
	case err != nil:
		c.err, c.done = c.limitErr(err), true
		return false
	case vals == nil:
		c.done = true
		return false
	case c.max > 0 && c.n == c.max:
		c.trunc, c.done = true, true
		return false
	}
	c.n++
	c.vals = vals
	return true
}

// Values returns the current row: nil, string, int64, float64, bool,
// result.Decimal, time.Time (UTC), Interval or []byte. The slice is reused
// by the next call to Next.
func (c *Cursor) Values() []any { return c.vals }

// Err returns the error that ended the rows, if any (result.ErrTimeLimit
// at the time limit).
func (c *Cursor) Err() error { return c.err }

// Truncated says the result had more rows than the row limit, which it
// returns; the cursor stopped there.
func (c *Cursor) Truncated() (bool, int) { return c.trunc, c.max }

// Close releases the cursor's connection; it is safe to call more than
// once.
func (c *Cursor) Close() error {
	c.done = true
	f := c.cleanup
	c.cleanup = nil
	if f == nil {
		return nil
	}
	return f()
}

// limitErr reports an error caused by the time limit as
// result.ErrTimeLimit.
func (c *Cursor) limitErr(err error) error {
	if err != nil && errors.Is(context.Cause(c.ctx), errTimeLimit) {
		return fmt.Errorf("%w of %v", result.ErrTimeLimit, c.timeout)
	}
	return err
}

// fromSet serves a read result.
func (c *Cursor) fromSet(res *result.Set) {
	for _, col := range res.Columns {
		c.Columns = append(c.Columns, TypedColumn{Name: col.Name, Type: kindType(col.Kind)})
	}
	i := 0
	c.next = func() ([]any, error) {
		if i == len(res.Rows) {
			if res.Truncated {
				// One more than the limit, so that Next reports it.
				return make([]any, len(res.Columns)), nil
			}
			return nil, nil
		}
		i++
		return res.Rows[i-1], nil
	}
}

// kindType names the SQL type of a portable column kind.
func kindType(k result.Kind) string {
	switch k {
	case result.KindInt:
		return "BIGINT"
	case result.KindDecimal:
		return "DECIMAL"
	case result.KindFloat:
		return "DOUBLE"
	case result.KindBool:
		return "BOOLEAN"
	case result.KindTimestamp:
		return "TIMESTAMP"
	case result.KindDate:
		return "DATE"
	}
	return "VARCHAR"
}

// describe prepares query on a connection of its own after checkReadOnly,
// the guard of QueryReadOnly.
func (d *duckDB) describe(ctx context.Context, query string) (*Description, error) {
	db, err := d.handle(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, d.classify(db, err)
	}
	defer conn.Close()
	if err := checkReadOnly(ctx, conn, query); err != nil {
		return nil, d.classify(db, externalAccess(err))
	}
	desc := &Description{}
	err = conn.Raw(func(dc any) error {
		stmt, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		st, ok := stmt.(*duckdb.Stmt)
		if !ok {
			return result.ErrReadOnly
		}
		n, err := st.ColumnCount()
		if err != nil {
			return err
		}
		for i := range n {
			name, err := st.ColumnName(i)
			if err != nil {
				return err
			}
			info, err := st.ColumnTypeInfo(i)
			if err != nil {
				return err
			}
			desc.Columns = append(desc.Columns, TypedColumn{Name: name, Type: duckTypeName(info)})
		}
		for i := 1; i <= st.NumInput(); i++ {
			t, err := st.ParamType(i)
			if err != nil {
				return err
			}
			desc.Params = append(desc.Params, duckEnumName(t))
		}
		return nil
	})
	if err != nil {
		return nil, d.classify(db, externalAccess(err))
	}
	return desc, nil
}

// open runs query as QueryReadOnly does (checkReadOnly, then the statement
// in a transaction that is rolled back) and leaves its rows open in c.
func (d *duckDB) open(ctx context.Context, c *Cursor, query string, args []any) error {
	db, err := d.handle(ctx)
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return d.classify(db, err)
	}
	if err := checkReadOnly(ctx, conn, query); err != nil {
		conn.Close()
		return d.classify(db, externalAccess(err))
	}
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		conn.Close()
		return d.classify(db, err)
	}
	end := func() error {
		_, err := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return errors.Join(err, conn.Close())
	}
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		end()
		return d.classify(db, externalAccess(err))
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		rows.Close()
		end()
		return d.classify(db, err)
	}
	for _, t := range types {
		c.Columns = append(c.Columns, TypedColumn{Name: t.Name(), Type: t.DatabaseTypeName()})
	}
	vals := make([]any, len(types))
	ptrs := make([]any, len(types))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	c.next = func() ([]any, error) {
		if !rows.Next() {
			return nil, d.classify(db, externalAccess(rows.Err()))
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = streamValue(v)
		}
		return vals, nil
	}
	c.cleanup = func() error { return errors.Join(rows.Close(), end()) }
	return nil
}

// streamValue is normalize, keeping intervals and blobs as they are.
func streamValue(v any) any {
	switch x := v.(type) {
	case duckdb.Interval:
		return Interval{Months: x.Months, Days: x.Days, Micros: x.Micros}
	case []byte:
		return x
	}
	return normalize(v)
}

// duckTypeName names a prepared column's type as rows.ColumnTypes does.
func duckTypeName(info duckdb.TypeInfo) string {
	t := info.InternalType()
	if t == duckdb.TYPE_DECIMAL {
		if dd, ok := info.Details().(*duckdb.DecimalDetails); ok {
			return fmt.Sprintf("DECIMAL(%d,%d)", dd.Width, dd.Scale)
		}
	}
	return duckEnumName(t)
}

// duckEnumName names a DuckDB type; "" for one without a fixed name.
func duckEnumName(t duckdb.Type) string {
	switch t {
	case duckdb.TYPE_BOOLEAN:
		return "BOOLEAN"
	case duckdb.TYPE_TINYINT:
		return "TINYINT"
	case duckdb.TYPE_SMALLINT:
		return "SMALLINT"
	case duckdb.TYPE_INTEGER:
		return "INTEGER"
	case duckdb.TYPE_BIGINT:
		return "BIGINT"
	case duckdb.TYPE_UTINYINT:
		return "UTINYINT"
	case duckdb.TYPE_USMALLINT:
		return "USMALLINT"
	case duckdb.TYPE_UINTEGER:
		return "UINTEGER"
	case duckdb.TYPE_UBIGINT:
		return "UBIGINT"
	case duckdb.TYPE_HUGEINT:
		return "HUGEINT"
	case duckdb.TYPE_UHUGEINT:
		return "UHUGEINT"
	case duckdb.TYPE_FLOAT:
		return "FLOAT"
	case duckdb.TYPE_DOUBLE:
		return "DOUBLE"
	case duckdb.TYPE_DECIMAL:
		return "DECIMAL"
	case duckdb.TYPE_VARCHAR:
		return "VARCHAR"
	case duckdb.TYPE_BLOB:
		return "BLOB"
	case duckdb.TYPE_DATE:
		return "DATE"
	case duckdb.TYPE_TIME:
		return "TIME"
	case duckdb.TYPE_TIMESTAMP, duckdb.TYPE_TIMESTAMP_S, duckdb.TYPE_TIMESTAMP_MS, duckdb.TYPE_TIMESTAMP_NS:
		return "TIMESTAMP"
	case duckdb.TYPE_TIMESTAMP_TZ:
		return "TIMESTAMPTZ"
	case duckdb.TYPE_INTERVAL:
		return "INTERVAL"
	case duckdb.TYPE_UUID:
		return "UUID"
	case duckdb.TYPE_ENUM:
		return "ENUM"
	}
	return ""
}

// SQLState returns the PostgreSQL error code (SQLSTATE) that best
// describes a warehouse error, for clients of the wire endpoint: the
// guard's refusals, the time limit, and DuckDB's error types (PostgreSQL
// errors carry their own). "XX000" (internal error) when nothing fits.
func SQLState(err error) string {
	var pe *pgconn.PgError
	var de *duckdb.Error
	switch {
	case errors.Is(err, result.ErrExternalAccess):
		return "42501" // insufficient_privilege
	case errors.Is(err, result.ErrReadOnly):
		return "25006" // read_only_sql_transaction
	case errors.Is(err, result.ErrTimeLimit), errors.Is(err, context.Canceled):
		return "57014" // query_canceled
	case errors.As(err, &pe):
		return pe.Code
	case errors.As(err, &de):
		return duckState(de)
	}
	return "XX000"
}

// duckState maps a DuckDB error type onto SQLSTATE. The message only
// refines the class (which kind of catalog object is missing).
func duckState(de *duckdb.Error) string {
	msg := de.Msg
	switch de.Type {
	case duckdb.ErrorTypeParser, duckdb.ErrorTypeSyntax:
		return "42601" // syntax_error
	case duckdb.ErrorTypeCatalog:
		switch {
		case strings.Contains(msg, "Function with name"), strings.Contains(msg, "Macro Function"):
			return "42883" // undefined_function
		case strings.Contains(msg, "Schema with name"):
			return "3F000" // invalid_schema_name
		}
		return "42P01" // undefined_table
	case duckdb.ErrorTypeBinder:
		switch {
		case strings.Contains(msg, "function"):
			return "42883"
		case strings.Contains(msg, "column"):
			return "42703" // undefined_column
		}
		return "42804" // datatype_mismatch
	case duckdb.ErrorTypeConversion, duckdb.ErrorTypeInvalidInput:
		return "22P02" // invalid_text_representation
	case duckdb.ErrorTypeOutOfRange, duckdb.ErrorTypeDecimal:
		return "22003" // numeric_value_out_of_range
	case duckdb.ErrorTypeDivideByZero:
		return "22012"
	case duckdb.ErrorTypeMismatchType, duckdb.ErrorTypeInvalidType:
		return "42804"
	case duckdb.ErrorTypeInterrupt:
		return "57014"
	case duckdb.ErrorTypePermission:
		return "42501"
	case duckdb.ErrorTypeNotImplemented:
		return "0A000" // feature_not_supported
	case duckdb.ErrorTypeOutOfMemory:
		return "53200"
	case duckdb.ErrorTypeParameterNotResolved, duckdb.ErrorTypeParameterNotAllowed:
		return "42P18" // indeterminate_datatype
	}
	return "XX000"
}
