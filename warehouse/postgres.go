package warehouse

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cartwheel-analytics/cartwheel/event"
	"github.com/cartwheel-analytics/cartwheel/result"
)

// postgres is the PostgreSQL adapter; with dialect Redshift it speaks the
// subset Redshift understands: no cached prepared statements, explicit
// casts on every placeholder, no COPY FROM STDIN, no ON CONFLICT.
type postgres struct {
	pool    *pgxpool.Pool
	dialect Dialect
	s3      *s3Stager // Redshift only, when the DSN names a bucket (redshift_s3.go)
}

// PasswordEnv and PasswordFileEnv supply the warehouse password when the DSN
// has none, so that it never sits in a config file or a process list.
const (
	PasswordEnv     = "CARTWHEEL_WAREHOUSE_PASSWORD"
	PasswordFileEnv = "CARTWHEEL_WAREHOUSE_PASSWORD_FILE"
)

// pgConfig turns a postgres:// or redshift:// DSN into a pool config and
// the S3 staging configuration (nil without one).
func pgConfig(dsn DSN) (*pgxpool.Config, *s3Config, error) {
	u, d := *dsn.url, dsn.Dialect
	u.Scheme = "postgres"
	// pgx would send the staging parameters to the server as runtime
	// parameters.
	q := u.Query()
	for _, k := range s3Params {
		q.Del(k)
	}
	if d == Redshift {
		// Redshift has no named statement cache and answers text format
		// best; it requires TLS unless told otherwise.
		if !q.Has("default_query_exec_mode") {
			q.Set("default_query_exec_mode", "exec")
		}
		if !q.Has("sslmode") {
			q.Set("sslmode", "require")
		}
		if u.Port() == "" {
			u.Host = net.JoinHostPort(u.Hostname(), "5439")
		}
	}
	u.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, nil, fmt.Errorf("parse DSN: %w", err)
	}
	if cfg.ConnConfig.Password == "" {
		if p := os.Getenv(PasswordEnv); p != "" {
			cfg.ConnConfig.Password = p
		} else if f := os.Getenv(PasswordFileEnv); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, fmt.Errorf("read %s: %w", PasswordFileEnv, err)
			}
			cfg.ConnConfig.Password = strings.TrimRight(string(b), "\r\n")
		}
	}
	cfg.MaxConns = 8
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	if d == Redshift {
		delete(cfg.ConnConfig.RuntimeParams, "timezone")
	}
	if _, set := cfg.ConnConfig.RuntimeParams["client_connection_check_interval"]; d == Postgres && !set {
		cfg.AfterConnect = checkClientConnection
	}
	return cfg, dsn.s3, nil
}

// clientCheckInterval is how often PostgreSQL checks, during a long query
// of ours, that this process is still there (a variable for tests).
var clientCheckInterval = 5 * time.Second

// checkClientConnection makes PostgreSQL end a query whose client is gone
// (client_connection_check_interval, PostgreSQL 14+). Without it, the long
// query of a process killed with SIGKILL — a model build, a quality check
// over session_events — runs to its end on the server, holding its locks
// and a core, while the restarted process waits behind it. An older server
// does not know the setting (42704) and behaves as before.
func checkClientConnection(ctx context.Context, c *pgx.Conn) error {
	_, err := c.Exec(ctx, fmt.Sprintf("SET client_connection_check_interval = %d", clientCheckInterval.Milliseconds()))
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "42704" {
		return nil
	}
	return err
}

func openPostgres(ctx context.Context, dsn DSN, o options) (adapter, error) {
	d := dsn.Dialect
	cfg, stage, err := pgConfig(dsn)
	if err != nil {
		return nil, err
	}
	var stager *s3Stager
	if stage != nil && !o.readOnly {
		if stager, err = newS3Stager(ctx, stage); err != nil {
			return nil, err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, classify(err)
	}
	return &postgres{pool: pool, dialect: d, s3: stager}, nil
}

func (p *postgres) close() error { p.pool.Close(); return nil }

func (p *postgres) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := p.pool.Exec(ctx, query, args...)
	if err != nil {
		return 0, classify(err)
	}
	return tag.RowsAffected(), nil
}

func (p *postgres) query(ctx context.Context, query string, readOnly bool, maxRows int, args ...any) (*result.Set, error) {
	if !readOnly {
		rows, err := p.pool.Query(ctx, query, textNumeric(args)...)
		return readPgRows(rows, err, maxRows)
	}
	if !looksReadOnly(query) {
		return nil, result.ErrReadOnly
	}
	if f := serverFileFunction(query); f != "" {
		return nil, fmt.Errorf("%w: %s reads the server's files", result.ErrReadOnly, f)
	}
	tx, err := p.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, classify(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, query, textNumeric(args)...)
	res, err := readPgRows(rows, err, maxRows)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "25006" { // read_only_sql_transaction
		return nil, result.ErrReadOnly
	}
	return res, err
}

// looksReadOnly is the statement guard of user SQL on PostgreSQL and
// Redshift (whose read-only transactions are not to be relied on): one
// statement starting with SELECT, WITH, EXPLAIN or SHOW. On PostgreSQL the
// read-only transaction stops a write hidden in a function or a
// data-modifying WITH; this check also stops COPY … TO, which a read-only
// transaction allows.
func looksReadOnly(q string) bool {
	if countStatements(q) != 1 {
		return false
	}
	switch strings.ToUpper(firstKeyword(q)) {
	case "SELECT", "WITH", "EXPLAIN", "SHOW":
		return true
	}
	return false
}

// firstKeyword returns the first word of q after blanks, comments and
// opening parentheses.
func firstKeyword(q string) string {
	for {
		q = strings.TrimLeft(q, " \t\r\n\f(")
		switch {
		case strings.HasPrefix(q, "--"):
			if end := strings.IndexAny(q, "\n\r"); end >= 0 { // a line comment ends at either
				q = q[end:]
			} else {
				q = ""
			}
		case strings.HasPrefix(q, "/*"):
			_, q, _ = strings.Cut(q[2:], "*/")
		default:
			end := strings.IndexFunc(q, func(r rune) bool { return !unicode.IsLetter(r) })
			if end < 0 {
				return q
			}
			return q[:end]
		}
	}
}

// serverFileFunctions read the database server's files or reach other
// servers. A read-only transaction still allows them to a role that holds
// pg_read_server_files (or superuser), so user SQL naming one is refused —
// a second line behind the advice to give Cartwheel a role without those
// rights.
var serverFileFunctions = regexp.MustCompile(`(?i)\b(pg_read_file|pg_read_binary_file|pg_ls_dir|pg_stat_file|pg_ls_logdir|pg_ls_waldir|pg_ls_tmpdir|pg_ls_archive_statusdir|lo_import|lo_export|dblink\w*|pg_file_write)\b`)

// serverFileFunction returns the first such function q names, or "".
func serverFileFunction(q string) string { return serverFileFunctions.FindString(q) }

func (p *postgres) scan(ctx context.Context, query string, args []any, fn func(scan func(dest ...any) error) error) error {
	rows, err := p.pool.Query(ctx, query, args...)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return classify(rows.Err())
}

func (p *postgres) begin(ctx context.Context) (txn, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, classify(err)
	}
	return &pgTx{tx: tx, dialect: p.dialect, s3: p.s3}, nil
}

type pgTx struct {
	tx      pgx.Tx
	dialect Dialect
	s3      *s3Stager
	done    bool
}

func (t *pgTx) Exec(ctx context.Context, query string, args ...any) error {
	_, err := t.execN(ctx, query, args...)
	return err
}

func (t *pgTx) execN(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, query, args...)
	if err != nil {
		return 0, classify(err)
	}
	return tag.RowsAffected(), nil
}

func (t *pgTx) Query(ctx context.Context, query string, args ...any) (*result.Set, error) {
	rows, err := t.tx.Query(ctx, query, textNumeric(args)...)
	return readPgRows(rows, err, 0)
}

func (t *pgTx) commit() error {
	if t.done {
		return nil
	}
	t.done = true
	return classify(t.tx.Commit(context.Background()))
}

func (t *pgTx) rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	err := t.tx.Rollback(context.Background())
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return classify(err)
}

// lockCheckpoints serialises commits on Redshift, whose keys are not
// enforced: the compare-and-set on stream_checkpoints needs the table lock.
func (t *pgTx) lockCheckpoints(ctx context.Context) error {
	if t.dialect != Redshift {
		return nil
	}
	_, err := t.execN(ctx, "LOCK stream_checkpoints")
	return err
}

func numeric(cents int64) pgtype.Numeric {
	return pgtype.Numeric{Int: big.NewInt(cents), Exp: -2, Valid: true}
}

func optText(has bool, v string) any {
	if has {
		return v
	}
	return nil
}

// eventRow, sessionRow and rejectedRow are the column values of one row in
// table order (see eventColumns …), for COPY and for INSERT alike.
func eventRow(b *event.Batch, e *event.Event, ingested time.Time) []any {
	var price any
	if e.Has&event.HasPrice != 0 {
		price = numeric(e.Price)
	}
	return []any{
		e.EventID, e.Type.String(), e.UserID, ts(e.Time), optText(e.Has&event.HasProductID != 0, e.ProductID),
		price, e.Quantity, numeric(e.Revenue()), optText(e.Has&event.HasClientSessionID != 0, e.ClientSessionID),
		optText(e.Has&event.HasDevice != 0, e.Device), optText(e.Has&event.HasCountry != 0, e.Country),
		optText(e.Has&event.HasCategory != 0, e.Category), optText(e.Has&event.HasReferrer != 0, e.Referrer),
		e.Late, b.Stream, e.Partition, e.Offset, ingested,
	}
}

func sessionRow(b *event.Batch, s *event.Session, closed time.Time) []any {
	return []any{s.SessionID, s.UserID, ts(s.Start), ts(s.End), s.EventCount(), s.PageViews, s.AddToCarts, s.Purchases,
		numeric(s.Revenue), b.Stream, s.Partition, closed}
}

func rejectedRow(b *event.Batch, r *event.Rejected, received time.Time) []any {
	return []any{payloadText(r.Payload), r.Reason.String(), cleanText(r.Detail), b.Stream, r.Partition, r.Offset, received}
}

// The columns of the streaming tables in load order, with the types the
// Redshift INSERT casts its placeholders to.
var (
	eventColumns = []column{{"event_id", "VARCHAR"}, {"event_type", "VARCHAR"}, {"user_id", "VARCHAR"},
		{"event_time", "TIMESTAMP"}, {"product_id", "VARCHAR"}, {"price", "DECIMAL(12,2)"}, {"quantity", "INTEGER"},
		{"revenue", "DECIMAL(12,2)"}, {"client_session_id", "VARCHAR"}, {"device", "VARCHAR"}, {"country", "VARCHAR"},
		{"category", "VARCHAR"}, {"referrer", "VARCHAR"}, {"is_late", "BOOLEAN"}, {"stream_id", "INTEGER"},
		{"kafka_partition", "INTEGER"}, {"kafka_offset", "BIGINT"}, {"ingested_at", "TIMESTAMP"}}
	sessionColumns = []column{{"session_id", "VARCHAR"}, {"user_id", "VARCHAR"}, {"session_start", "TIMESTAMP"},
		{"session_end", "TIMESTAMP"}, {"event_count", "INTEGER"}, {"page_views", "INTEGER"}, {"add_to_carts", "INTEGER"},
		{"purchases", "INTEGER"}, {"revenue", "DECIMAL(18,2)"}, {"stream_id", "INTEGER"}, {"kafka_partition", "INTEGER"},
		{"closed_at", "TIMESTAMP"}}
	rejectedColumns = []column{{"payload", "VARCHAR"}, {"reason", "VARCHAR"}, {"detail", "VARCHAR"},
		{"stream_id", "INTEGER"}, {"kafka_partition", "INTEGER"}, {"kafka_offset", "BIGINT"}, {"received_at", "TIMESTAMP"}}
)

type column struct{ name, cast string }

func names(cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}

// load writes rows into table: COPY on PostgreSQL, multi-row INSERTs on
// Redshift (which rejects COPY FROM STDIN), or there COPY from S3 for a
// large batch when a bucket is configured.
func (t *pgTx) load(ctx context.Context, table string, cols []column, n int, row func(i int) []any) error {
	if t.dialect != Redshift {
		_, err := t.tx.CopyFrom(ctx, pgx.Identifier{table}, names(cols), pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			return row(i), nil
		}))
		return classify(err)
	}
	if t.s3 != nil && n >= t.s3.cfg.minRows {
		err := t.s3.load(ctx, table, cols, n, row, func(ctx context.Context, sql string) error {
			_, err := t.tx.Exec(ctx, sql)
			return classify(err)
		})
		if !errors.Is(err, errNotStageable) {
			return err
		}
	}
	for _, stmt := range insertStatements(table, cols, n, row) {
		if _, err := t.tx.Exec(ctx, stmt.sql, stmt.args...); err != nil {
			return classify(err)
		}
	}
	return nil
}

func (t *pgTx) loadEvents(ctx context.Context, b *event.Batch) error {
	at := ts(b.IngestedAt)
	return t.load(ctx, "events", eventColumns, len(b.Events), func(i int) []any { return eventRow(b, &b.Events[i], at) })
}

func (t *pgTx) loadSessions(ctx context.Context, b *event.Batch) error {
	at := ts(b.IngestedAt)
	return t.load(ctx, "sessions", sessionColumns, len(b.Sessions), func(i int) []any { return sessionRow(b, &b.Sessions[i], at) })
}

func (t *pgTx) loadActivity(ctx context.Context, rows []activity) error {
	return t.load(ctx, "user_activity", activityColumns, len(rows), func(i int) []any {
		return []any{rows[i].width, ts(rows[i].bucket), rows[i].user}
	})
}

func (t *pgTx) loadRejected(ctx context.Context, b *event.Batch) error {
	at := ts(b.IngestedAt)
	return t.load(ctx, "rejected_events", rejectedColumns, len(b.Rejected), func(i int) []any { return rejectedRow(b, &b.Rejected[i], at) })
}

// Redshift limits: a statement is at most 16 MB, and the wire protocol
// carries at most 32767 parameters.
const (
	maxStatementBytes = 16 << 20
	maxParams         = 32767
)

type statement struct {
	sql  string
	args []any
}

// insertStatements renders multi-row INSERTs with a cast on every
// placeholder, split so that each stays within Redshift's limits (the
// values travel as parameters but count towards the statement size).
func insertStatements(table string, cols []column, n int, row func(i int) []any) []statement {
	head := "INSERT INTO " + table + " (" + strings.Join(names(cols), ", ") + ") VALUES "
	var out []statement
	var sb strings.Builder
	var args []any
	size := 0
	flush := func() {
		if len(args) > 0 {
			out = append(out, statement{sql: sb.String(), args: args})
		}
		sb.Reset()
		args, size = nil, 0
	}
	for i := 0; i < n; i++ {
		vals := row(i)
		rowSize := 0
		for _, v := range vals {
			if s, ok := v.(string); ok {
				rowSize += len(s)
			} else {
				rowSize += 16
			}
		}
		if len(args)+len(cols) > maxParams || (len(args) > 0 && size+rowSize+len(cols)*24 > maxStatementBytes-len(head)) {
			flush()
		}
		if len(args) == 0 {
			sb.WriteString(head)
		} else {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for j, c := range cols {
			if j > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "$%d::%s", len(args)+1, c.cast)
			args = append(args, vals[j])
		}
		sb.WriteByte(')')
		size += rowSize + len(cols)*24
	}
	flush()
	return out
}

// textNumeric asks for numeric results as text: the binary form does not
// keep the scale of zero, and "0.00" must stay "0.00".
func textNumeric(args []any) []any {
	return append([]any{pgx.QueryResultFormatsByOID{pgtype.NumericOID: pgx.TextFormatCode}}, args...)
}

// readPgRows reads a pgx result into a result.Set.
// readPgRows reads at most maxRows rows (0: all); a result with more is
// marked truncated.
func readPgRows(rows pgx.Rows, err error, maxRows int) (*result.Set, error) {
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	res := &result.Set{Columns: make([]result.Column, len(fds)), Rows: [][]any{}}
	for i, fd := range fds {
		res.Columns[i] = result.Column{Name: fd.Name, Kind: pgKind(fd.DataTypeOID)}
	}
	for rows.Next() {
		if maxRows > 0 && len(res.Rows) == maxRows {
			res.Truncated, res.RowLimit = true, maxRows
			break
		}
		vals, err := rows.Values()
		if err != nil {
			return nil, classify(err)
		}
		raw := rows.RawValues()
		for i, v := range vals {
			if fds[i].DataTypeOID == pgtype.NumericOID && fds[i].Format == pgx.TextFormatCode && raw[i] != nil {
				vals[i] = result.Decimal(raw[i])
				continue
			}
			vals[i] = pgNormalize(v)
		}
		res.Rows = append(res.Rows, vals)
	}
	return res, classify(rows.Err())
}

func pgKind(oid uint32) result.Kind {
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return result.KindText
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		return result.KindInt
	case pgtype.NumericOID:
		return result.KindDecimal
	case pgtype.Float4OID, pgtype.Float8OID:
		return result.KindFloat
	case pgtype.BoolOID:
		return result.KindBool
	case pgtype.TimestampOID, pgtype.TimestamptzOID:
		return result.KindTimestamp
	case pgtype.DateOID:
		return result.KindDate
	}
	return result.KindOther
}

func pgNormalize(v any) any {
	switch x := v.(type) {
	case pgtype.Numeric:
		if !x.Valid {
			return nil
		}
		if x.NaN || x.InfinityModifier != pgtype.Finite {
			f, _ := x.Float64Value()
			return f.Float64
		}
		if x.Exp >= 0 {
			i := new(big.Int).Mul(x.Int, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Exp)), nil))
			return result.Decimal(i.String())
		}
		return result.Decimal(result.FormatScaled(x.Int, int(-x.Exp)))
	case pgtype.Time, pgtype.Interval:
		b, _ := x.(interface{ Value() (any, error) }).Value()
		return fmt.Sprint(b)
	}
	return normalize(v)
}

// classify marks the failures worth retrying: lost connections, a server
// that is starting or shutting down, serialization failures and deadlocks.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "40001", pe.Code == "40P01", strings.HasPrefix(pe.Code, "08"),
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", pe.Code == "53300":
			return event.Transient(err)
		case pe.Code == "23505" && strings.Contains(pe.ConstraintName, "stream_checkpoints"):
			return &event.FencedError{Partition: -1, Expected: -1}
		}
		return err
	}
	var ne net.Error
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "failed to connect") || strings.Contains(err.Error(), "unexpected EOF") {
		return event.Transient(err)
	}
	return err
}
