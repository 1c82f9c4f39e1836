package models

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// DB is the warehouse the runner needs: *warehouse.DB satisfies it for
// DuckDB, PostgreSQL and Redshift.
type DB interface {
	Dialect() warehouse.Dialect
	Exec(ctx context.Context, query string, args ...any) error
	Query(ctx context.Context, query string, args ...any) (*result.Set, error)
	Tx(ctx context.Context, fn func(tx warehouse.Tx) error) error
}

// Suffixes of the working relations of the table and incremental
// materializations.
const (
	tmpSuffix  = "__cartwheel_tmp"
	incrSuffix = "__cartwheel_incr"
)

// relationKind is what exists under a name: "table", "view" or "".
func relationKind(ctx context.Context, db DB, r Relation) (string, error) {
	schema := "current_schema()"
	if r.Schema != "" {
		schema = literal(r.Schema)
	}
	res, err := db.Query(ctx, fmt.Sprintf(`SELECT table_type FROM information_schema.tables
		WHERE table_catalog = current_database() AND table_schema = %s AND table_name = %s`, schema, literal(r.Identifier)))
	if err != nil {
		return "", fmt.Errorf("look up %s: %w", r, err)
	}
	if len(res.Rows) == 0 {
		return "", nil
	}
	if t, _ := res.Rows[0][0].(string); strings.EqualFold(t, "VIEW") {
		return "view", nil
	}
	return "table", nil
}

// dropSQL drops a relation of a kind; PostgreSQL and Redshift drop the
// views that depend on it too (dbt's behaviour there: the runner rebuilds
// the ones that are models, as they come later in the DAG).
func dropSQL(d warehouse.Dialect, kind string, r Relation) string {
	s := fmt.Sprintf("DROP %s IF EXISTS %s", strings.ToUpper(kind), r)
	if d != warehouse.DuckDB {
		s += " CASCADE"
	}
	return s
}

func countRows(ctx context.Context, q interface {
	Query(ctx context.Context, query string, args ...any) (*result.Set, error)
}, r Relation) (int64, error) {
	res, err := q.Query(ctx, "SELECT COUNT(*) FROM "+r.String())
	if err != nil {
		return 0, err
	}
	if len(res.Rows) != 1 {
		return 0, fmt.Errorf("count %s: no result", r)
	}
	return toInt64(res.Rows[0][0])
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		return int64(x), nil
	case result.Decimal:
		return strconv.ParseInt(strings.SplitN(string(x), ".", 2)[0], 10, 64)
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("not a count: %v (%T)", v, v)
}

// materializeView creates or replaces a view.
func materializeView(ctx context.Context, db DB, n *Node, sql string) error {
	r, d := n.relation(), db.Dialect()
	kind, err := relationKind(ctx, db, r)
	if err != nil {
		return err
	}
	create := fmt.Sprintf("CREATE VIEW %s AS\n%s", r, sql)
	if kind == "table" {
		return db.Tx(ctx, func(tx warehouse.Tx) error {
			if err := tx.Exec(ctx, dropSQL(d, "table", r)); err != nil {
				return err
			}
			return tx.Exec(ctx, create)
		})
	}
	err = db.Exec(ctx, fmt.Sprintf("CREATE OR REPLACE VIEW %s AS\n%s", r, sql))
	if err == nil || d == warehouse.DuckDB || kind == "" {
		return err
	}
	// PostgreSQL cannot replace a view whose columns changed.
	return db.Tx(ctx, func(tx warehouse.Tx) error {
		if err := tx.Exec(ctx, dropSQL(d, "view", r)); err != nil {
			return err
		}
		return tx.Exec(ctx, create)
	})
}

// materializeTable builds the table under a temporary name, then drops the
// old relation and renames the new table in one transaction: readers see
// the old table or the new one, never a half-built one.
func materializeTable(ctx context.Context, db DB, n *Node, sql string) (int64, error) {
	r, d := n.relation(), db.Dialect()
	tmp := Relation{Schema: r.Schema, Identifier: r.Identifier + tmpSuffix}
	if err := db.Exec(ctx, dropSQL(d, "table", tmp)); err != nil {
		return 0, err
	}
	if err := db.Exec(ctx, fmt.Sprintf("CREATE TABLE %s AS\n%s", tmp, sql)); err != nil {
		return 0, err
	}
	rows, err := countRows(ctx, db, tmp)
	if err != nil {
		return 0, errors.Join(err, db.Exec(context.WithoutCancel(ctx), dropSQL(d, "table", tmp)))
	}
	if err := swapIn(ctx, db, r, tmp); err != nil {
		return 0, errors.Join(err, db.Exec(context.WithoutCancel(ctx), dropSQL(d, "table", tmp)))
	}
	return rows, nil
}

// swapIn replaces r with the table tmp in one transaction.
func swapIn(ctx context.Context, db DB, r, tmp Relation) error {
	kind, err := relationKind(ctx, db, r)
	if err != nil {
		return err
	}
	d := db.Dialect()
	return db.Tx(ctx, func(tx warehouse.Tx) error {
		if kind != "" {
			if err := tx.Exec(ctx, dropSQL(d, kind, r)); err != nil {
				return err
			}
		}
		return tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", tmp, r.Identifier))
	})
}

// materializeIncremental applies the new rows of an incremental model to
// its table in one transaction: the rows go to a temporary table, then
// delete+insert (or merge, or append) on the unique key.
func materializeIncremental(ctx context.Context, db DB, n *Node, sql string) (int64, error) {
	r, c := n.relation(), n.Config
	tmp := Relation{Identifier: r.Identifier + incrSuffix}
	var rows int64
	err := db.Tx(ctx, func(tx warehouse.Tx) error {
		if err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMPORARY TABLE %s AS\n%s", tmp, sql)); err != nil {
			return err
		}
		var err error
		if rows, err = countRows(ctx, tx, tmp); err != nil {
			return err
		}
		res, err := tx.Query(ctx, fmt.Sprintf("SELECT * FROM %s LIMIT 0", tmp))
		if err != nil {
			return err
		}
		cols := make([]string, len(res.Columns))
		for i, col := range res.Columns {
			cols[i] = col.Name
		}
		list := strings.Join(cols, ", ")
		on := make([]string, len(c.UniqueKey))
		for i, k := range c.UniqueKey {
			on[i] = fmt.Sprintf("%s.%s = %s.%s", r.Identifier, k, tmp.Identifier, k)
		}
		var stmts []string
		switch c.IncrementalStrategy {
		case DeleteInsert:
			stmts = append(stmts,
				fmt.Sprintf("DELETE FROM %s USING %s WHERE %s", r, tmp, strings.Join(on, " AND ")),
				fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s", r, list, list, tmp))
		case Merge:
			var set, vals []string
			for _, col := range cols {
				vals = append(vals, tmp.Identifier+"."+col)
				if !containsFold(c.UniqueKey, col) {
					set = append(set, fmt.Sprintf("%s = %s.%s", col, tmp.Identifier, col))
				}
			}
			m := fmt.Sprintf("MERGE INTO %s USING %s ON %s", r, tmp, strings.Join(on, " AND "))
			if len(set) > 0 {
				m += " WHEN MATCHED THEN UPDATE SET " + strings.Join(set, ", ")
			}
			m += fmt.Sprintf(" WHEN NOT MATCHED THEN INSERT (%s) VALUES (%s)", list, strings.Join(vals, ", "))
			stmts = append(stmts, m)
		default: // append
			stmts = append(stmts, fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s", r, list, list, tmp))
		}
		stmts = append(stmts, "DROP TABLE "+tmp.String())
		for _, s := range stmts {
			if err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%w (if the model's columns changed, rebuild it with --full-refresh)", err)
			}
		}
		return nil
	})
	return rows, err
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

var (
	intRe   = regexp.MustCompile(`^-?[0-9]{1,18}$`)
	decRe   = regexp.MustCompile(`^-?[0-9]{1,16}\.([0-9]{1,6})$`)
	dateRe  = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	tsRe    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?$`)
	boolSet = map[string]bool{"true": true, "false": true}
)

// seedTypes infers the column types of a seed (unless configured with
// column_types): BIGINT, DECIMAL, BOOLEAN, DATE, TIMESTAMP or text.
func seedTypes(n *Node, d warehouse.Dialect) []string {
	s := n.seed
	out := make([]string, len(s.header))
	for i, h := range s.header {
		if t, ok := n.Config.ColumnTypes[h]; ok {
			out[i] = t
			continue
		}
		isInt, isDec, isDate, isTS, isBool, seen := true, true, true, true, true, false
		scale := 0
		for _, row := range s.rows {
			if i >= len(row) || row[i] == "" {
				continue
			}
			v := row[i]
			seen = true
			isInt = isInt && intRe.MatchString(v)
			if m := decRe.FindStringSubmatch(v); m != nil {
				scale = max(scale, len(m[1]))
			} else if !intRe.MatchString(v) {
				isDec = false
			}
			isDate = isDate && dateRe.MatchString(v)
			isTS = isTS && tsRe.MatchString(v)
			isBool = isBool && boolSet[strings.ToLower(v)]
		}
		switch {
		case !seen:
			out[i] = typeFor(d, "VARCHAR", "TEXT", "VARCHAR(256)")
		case isInt:
			out[i] = "BIGINT"
		case isDec:
			out[i] = fmt.Sprintf("DECIMAL(18,%d)", scale)
		case isBool:
			out[i] = "BOOLEAN"
		case isDate:
			out[i] = "DATE"
		case isTS:
			out[i] = "TIMESTAMP"
		default:
			out[i] = typeFor(d, "VARCHAR", "TEXT", "VARCHAR(65535)")
		}
	}
	return out
}

// loadSeed loads a CSV seed like a table: into a temporary table, then
// swapped in.
func loadSeed(ctx context.Context, db DB, n *Node) (int64, error) {
	r, d := n.relation(), db.Dialect()
	tmp := Relation{Schema: r.Schema, Identifier: r.Identifier + tmpSuffix}
	types := seedTypes(n, d)
	cols := make([]string, len(types))
	for i, h := range n.seed.header {
		cols[i] = h + " " + types[i]
	}
	if err := db.Exec(ctx, dropSQL(d, "table", tmp)); err != nil {
		return 0, err
	}
	if err := db.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", tmp, strings.Join(cols, ", "))); err != nil {
		return 0, err
	}
	const batch = 500
	rows := n.seed.rows
	for start := 0; start < len(rows); start += batch {
		var vals []string
		for _, row := range rows[start:min(start+batch, len(rows))] {
			vs := make([]string, len(types))
			for i := range types {
				if i < len(row) && row[i] != "" {
					vs[i] = castAs(literal(row[i]), types[i])
				} else {
					vs[i] = "NULL"
				}
			}
			vals = append(vals, "("+strings.Join(vs, ", ")+")")
		}
		if err := db.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES %s", tmp, strings.Join(vals, ", "))); err != nil {
			return 0, errors.Join(err, db.Exec(context.WithoutCancel(ctx), dropSQL(d, "table", tmp)))
		}
	}
	if err := swapIn(ctx, db, r, tmp); err != nil {
		return 0, errors.Join(err, db.Exec(context.WithoutCancel(ctx), dropSQL(d, "table", tmp)))
	}
	return int64(len(rows)), nil
}

// ensureSchema creates a configured schema.
func ensureSchema(ctx context.Context, db DB, schema string) error {
	return db.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema)
}
