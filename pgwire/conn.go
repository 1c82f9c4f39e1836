package pgwire

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// conn is one client connection: the startup and authentication, then
// the simple and extended query protocols.
type conn struct {
	s        *Server
	raw      net.Conn // the TCP connection, closed by Server.Close
	rw       net.Conn // raw, or the TLS connection over it
	be       *pgproto3.Backend
	pid      uint32
	secret   [4]byte
	needPass bool
	params   map[string]string
	tm       *pgtype.Map

	stmts   map[string]*prepared
	portals map[string]*portal
	cursors map[string]*portal // DECLAREd cursors, by name
	inTx    bool               // BEGIN was sent: portals outlive Sync until COMMIT
	failed  bool               // an extended-protocol error: skip messages until Sync
	buf     []byte
	vals    [][]byte

	mu      sync.Mutex
	cancels map[*context.CancelCauseFunc]struct{} // of the open cursors
}

// prepared is a parsed statement.
type prepared struct {
	st     statement
	cols   []column
	params []uint32
}

type column struct {
	name string
	oid  uint32
}

// portal is a bound statement, with its cursor once executed.
type portal struct {
	p       *prepared
	args    []any
	formats []int16
	cur     *warehouse.Cursor
	cancel  *context.CancelCauseFunc
	qctx    context.Context
	sent    int64
	done    bool
	hold    bool // a cursor WITH HOLD: it outlives its transaction
	noticed bool // the truncation warning was sent
}

func newConn(s *Server, nc net.Conn, pid uint32, needPass bool) *conn {
	return &conn{s: s, raw: nc, rw: nc, be: pgproto3.NewBackend(nc, nc), pid: pid, secret: randomSecret(),
		needPass: needPass, tm: pgtype.NewMap(), stmts: map[string]*prepared{}, portals: map[string]*portal{}, cursors: map[string]*portal{},
		cancels: map[*context.CancelCauseFunc]struct{}{}}
}

// cancelQuery cancels every query running or open on the connection.
func (c *conn) cancelQuery(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for f := range c.cancels {
		(*f)(cause)
	}
}

func (c *conn) serve(ctx context.Context) {
	defer c.raw.Close()
	defer c.closePortals(true)
	defer c.closeCursors(true)
	c.raw.SetDeadline(time.Now().Add(c.s.o.startupTimeout))
	if !c.startup() {
		return
	}
	c.raw.SetDeadline(time.Time{})
	for {
		msg, err := c.be.Receive()
		if err != nil {
			return
		}
		if c.failed {
			switch msg.(type) {
			case *pgproto3.Sync, *pgproto3.Terminate, *pgproto3.Query:
			default:
				continue
			}
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			c.simpleQuery(ctx, m.String)
			c.failed = false
			c.closePortals(false)
			c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.txStatus()})
		case *pgproto3.Parse:
			c.parse(ctx, m)
		case *pgproto3.Bind:
			c.bind(m)
		case *pgproto3.Describe:
			c.describe(m)
		case *pgproto3.Execute:
			c.execute(ctx, m)
		case *pgproto3.Close:
			if m.ObjectType == 'S' {
				if p := c.stmts[m.Name]; p != nil {
					delete(c.stmts, m.Name)
				}
			} else {
				c.closePortal(m.Name)
			}
			c.be.Send(&pgproto3.CloseComplete{})
		case *pgproto3.Sync:
			c.failed = false
			c.closePortals(false)
			c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.txStatus()})
		case *pgproto3.Flush:
		case *pgproto3.Terminate:
			return
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			// Nothing is ever copied in (COPY FROM is refused).
		default:
			c.fail(protocolError(fmt.Sprintf("unsupported message %T", msg)))
		}
		switch msg.(type) {
		case *pgproto3.Query, *pgproto3.Sync, *pgproto3.Flush:
			if c.be.Flush() != nil {
				return
			}
		}
	}
}

func (c *conn) txStatus() byte {
	switch {
	case c.inTx && c.failed:
		return 'E'
	case c.inTx:
		return 'T'
	}
	return 'I'
}

// startup negotiates TLS, reads the startup message, authenticates and
// greets the client; false when the connection is to be closed.
func (c *conn) startup() bool {
	for {
		msg, err := c.be.ReceiveStartupMessage()
		if err != nil {
			return false
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if c.s.o.tls == nil || c.rw != c.raw {
				if _, err := c.rw.Write([]byte{'N'}); err != nil {
					return false
				}
				continue
			}
			if _, err := c.rw.Write([]byte{'S'}); err != nil {
				return false
			}
			tc := tls.Server(c.raw, c.s.o.tls)
			if err := tc.Handshake(); err != nil {
				c.s.m.refused.WithLabelValues("tls").Inc()
				return false
			}
			c.rw = tc
			c.be = pgproto3.NewBackend(tc, tc)
		case *pgproto3.GSSEncRequest:
			if _, err := c.rw.Write([]byte{'N'}); err != nil {
				return false
			}
		case *pgproto3.CancelRequest:
			c.s.cancel(m.ProcessID, m.SecretKey)
			return false
		case *pgproto3.StartupMessage:
			c.params = map[string]string{}
			for k, v := range m.Parameters {
				c.params[k] = v
			}
			return c.greet()
		default:
			return false
		}
	}
}

// greet authenticates the client and sends the session's parameters.
func (c *conn) greet() bool {
	fatal := func(code, msg, reason string) bool {
		c.s.m.refused.WithLabelValues(reason).Inc()
		c.be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg})
		c.be.Flush()
		return false
	}
	if c.s.connCount() > c.s.o.maxConns {
		return fatal("53300", "sorry, too many clients already", "limit")
	}
	if c.needPass {
		c.be.Send(&pgproto3.AuthenticationCleartextPassword{})
		if c.be.Flush() != nil {
			return false
		}
		if err := c.be.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
			return false
		}
		msg, err := c.be.Receive()
		if err != nil {
			return false
		}
		pm, ok := msg.(*pgproto3.PasswordMessage)
		from := c.raw.RemoteAddr().String()
		if !c.s.o.limiter.Allow(from) {
			return fatal("28P01", "too many wrong passwords from this address: try again later", "password_limit")
		}
		if !ok || !c.s.checkPassword(pm.Password) {
			c.s.o.limiter.Failed(from)
			return fatal("28P01", fmt.Sprintf("password authentication failed for user %q (the password is the appliance's token)", c.params["user"]), "password")
		}
	}
	c.be.Send(&pgproto3.AuthenticationOk{})
	for _, p := range [][2]string{
		{"server_version", serverVersion},
		{"server_encoding", "UTF8"},
		{"client_encoding", "UTF8"},
		{"DateStyle", "ISO, MDY"},
		{"IntervalStyle", "postgres"},
		{"TimeZone", "UTC"},
		{"integer_datetimes", "on"},
		{"standard_conforming_strings", "on"},
		{"is_superuser", "off"},
		{"default_transaction_read_only", "on"},
		{"in_hot_standby", "off"},
		{"application_name", c.params["application_name"]},
		{"session_authorization", c.params["user"]},
	} {
		c.be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
	}
	c.be.Send(&pgproto3.BackendKeyData{ProcessID: c.pid, SecretKey: c.secret[:]})
	c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	return c.be.Flush() == nil
}

// simpleQuery runs each statement of a Query message until one fails.
func (c *conn) simpleQuery(ctx context.Context, q string) {
	stmts := splitStatements(q)
	if len(stmts) == 0 {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return
	}
	for _, s := range stmts {
		st := classify(s, c.params)
		p := &prepared{st: st}
		if st.kind == kindShow {
			p.cols = []column{{name: st.name, oid: pgtype.TextOID}}
		}
		pt := &portal{p: p}
		if !c.run(ctx, pt, 0, true) {
			c.closePortalValue(pt)
			return
		}
		c.closePortalValue(pt)
	}
}

// run executes a portal, sending at most max rows (0: all); false after
// an error. describe sends the RowDescription first (simple protocol).
func (c *conn) run(ctx context.Context, pt *portal, max int64, describe bool) bool {
	st := pt.p.st
	switch st.kind {
	case kindEmpty:
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return true
	case kindCommand:
		c.s.m.queries.WithLabelValues("ok").Inc()
		switch st.tx {
		case txBegin:
			c.inTx = true
		case txEnd:
			c.inTx = false
			c.closeCursors(false)
		}
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(st.tag)})
		return true
	case kindDeclare:
		return c.declare(ctx, st, pt.args)
	case kindFetch:
		return c.fetch(pt, describe)
	case kindClose:
		return c.closeCursor(st)
	case kindShow:
		c.s.m.queries.WithLabelValues("ok").Inc()
		if describe {
			c.be.Send(c.rowDescription(pt.p.cols, nil))
		}
		c.be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte(st.value)}})
		tag := st.tag
		if tag == "" {
			tag = "SHOW"
		}
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
		return true
	case kindError:
		c.fail(st.err)
		return false
	}
	if pt.cur == nil && !pt.done {
		if err := c.open(ctx, pt); err != nil {
			if describe && st.empty && !refusal(err) {
				c.be.Send(&pgproto3.RowDescription{})
				c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 0")})
				return true
			}
			c.fail(c.queryError(pt, err))
			return false
		}
		if describe {
			pt.p.cols = cursorColumns(pt.cur)
			if st.kind == kindQuery {
				c.be.Send(c.rowDescription(pt.p.cols, nil))
			}
		}
	}
	if st.kind == kindCopyOut {
		return c.copyOut(pt)
	}
	return c.stream(pt, max)
}

// open starts a portal's query under a context the client can cancel.
func (c *conn) open(ctx context.Context, pt *portal) error {
	qctx, cancel := context.WithCancelCause(ctx)
	c.mu.Lock()
	c.cancels[&cancel] = struct{}{}
	c.mu.Unlock()
	pt.qctx, pt.cancel = qctx, &cancel
	cur, err := c.s.wh.OpenReadOnly(qctx, pt.p.st.sql, pt.args...)
	if err != nil {
		return err
	}
	pt.cur = cur
	return nil
}

// queryError names a cancelled query's error as PostgreSQL does.
func (c *conn) queryError(pt *portal, err error) error {
	if pt.qctx != nil {
		if cause := context.Cause(pt.qctx); errors.Is(cause, errCanceledByUser) || errors.Is(cause, errShutdown) {
			return &pgError{code: "57014", msg: cause.Error()}
		}
	}
	return unknownSetting(pt.p.st, err)
}

// stream sends up to max rows of an open portal (0: all).
func (c *conn) stream(pt *portal, max int64) bool {
	if max <= 0 {
		max = -1
	}
	n, ok := c.sendRows(pt, pt.formats, max, false)
	pt.sent += n
	switch {
	case !ok:
		return false
	case !pt.done:
		c.be.Send(&pgproto3.PortalSuspended{})
		return true
	}
	c.finish(pt, "SELECT "+strconv.FormatInt(pt.sent, 10))
	return true
}

// sendRows sends the next rows of src's open cursor, at most limit (-1:
// all), in formats; skip counts them without sending (MOVE). It marks src
// done when the rows run out. false: the query failed (reported) or the
// client went away mid-result.
func (c *conn) sendRows(src *portal, formats []int16, limit int64, skip bool) (int64, bool) {
	var n int64
	for limit < 0 || n < limit {
		if !src.cur.Next() {
			src.done = true
			break
		}
		n++
		if skip {
			continue
		}
		c.be.Send(c.dataRow(src.p.cols, formats, src.cur.Values()))
		if n%256 == 0 && c.be.Flush() != nil {
			src.cur.Close()
			c.s.m.queries.WithLabelValues("error").Inc()
			return n, false
		}
	}
	if !skip {
		c.s.m.rows.Add(float64(n))
	}
	if src.done {
		if err := src.cur.Err(); err != nil {
			c.fail(c.queryError(src, err))
			return n, false
		}
	}
	return n, true
}

// finish completes a command over pt's rows, with a warning the first
// time its rows are seen to end cut at query.max_rows.
func (c *conn) finish(pt *portal, tag string) {
	outcome := "ok"
	if trunc, limit := pt.cur.Truncated(); trunc && pt.done && !pt.noticed {
		outcome, pt.noticed = "truncated", true
		c.be.Send(&pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: "01000",
			Message: fmt.Sprintf("result truncated to its first %d rows (query.max_rows)", limit),
			Hint:    "Narrow the query, or raise query.max_rows in the appliance's configuration."})
	}
	c.s.m.queries.WithLabelValues(outcome).Inc()
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
}

// copyOut sends a portal's rows as COPY … TO STDOUT does.
func (c *conn) copyOut(pt *portal) bool {
	st := pt.p.st
	cols := cursorColumns(pt.cur)
	c.be.Send(&pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: make([]uint16, len(cols))})
	if st.copyHeader {
		line := []byte{}
		for i, col := range cols {
			if i > 0 {
				line = append(line, st.copyDelim)
			}
			line = appendCopyField(line, []byte(col.name), st)
		}
		c.be.Send(&pgproto3.CopyData{Data: append(line, '\n')})
	}
	for pt.cur.Next() {
		line := c.buf[:0]
		for i, v := range pt.cur.Values() {
			if i > 0 {
				line = append(line, st.copyDelim)
			}
			if v == nil {
				line = append(line, st.copyNull...)
				continue
			}
			line = appendCopyField(line, appendText(nil, cols[i].oid, v), st)
		}
		line = append(line, '\n')
		c.buf = line
		c.be.Send(&pgproto3.CopyData{Data: line})
		pt.sent++
		if pt.sent%256 == 0 && c.be.Flush() != nil {
			return false
		}
	}
	c.s.m.rows.Add(float64(pt.sent))
	pt.done = true
	if err := pt.cur.Err(); err != nil {
		c.fail(c.queryError(pt, err))
		return false
	}
	c.be.Send(&pgproto3.CopyDone{})
	c.finish(pt, "COPY "+strconv.FormatInt(pt.sent, 10))
	return true
}

// appendCopyField escapes one field of COPY's text or CSV format.
func appendCopyField(b, f []byte, st statement) []byte {
	if st.copyCSV {
		quote := len(f) == 0 && len(st.copyNull) == 0
		for _, ch := range f {
			if ch == st.copyDelim || ch == '"' || ch == '\n' || ch == '\r' {
				quote = true
				break
			}
		}
		if !quote {
			return append(b, f...)
		}
		b = append(b, '"')
		for _, ch := range f {
			if ch == '"' {
				b = append(b, '"')
			}
			b = append(b, ch)
		}
		return append(b, '"')
	}
	for _, ch := range f {
		switch ch {
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			if ch == st.copyDelim {
				b = append(b, '\\')
			}
			b = append(b, ch)
		}
	}
	return b
}

func cursorColumns(cur *warehouse.Cursor) []column {
	cols := make([]column, len(cur.Columns))
	for i, col := range cur.Columns {
		cols[i] = column{name: col.Name, oid: oidOf(col.Type)}
	}
	return cols
}

func (c *conn) rowDescription(cols []column, formats []int16) *pgproto3.RowDescription {
	rd := &pgproto3.RowDescription{Fields: make([]pgproto3.FieldDescription, len(cols))}
	for i, col := range cols {
		rd.Fields[i] = pgproto3.FieldDescription{Name: []byte(col.name), DataTypeOID: col.oid,
			DataTypeSize: typeSize(col.oid), TypeModifier: -1, Format: format(formats, i)}
	}
	return rd
}

// format is the format code of column or parameter i under the codes of
// a Bind message: none means text, one applies to all.
func format(codes []int16, i int) int16 {
	switch len(codes) {
	case 0:
		return 0
	case 1:
		return codes[0]
	}
	if i < len(codes) {
		return codes[i]
	}
	return 0
}

// dataRow encodes one row; its values alias c.buf until the next row.
func (c *conn) dataRow(cols []column, formats []int16, vals []any) *pgproto3.DataRow {
	b := c.buf[:0]
	ends := make([]int, len(vals))
	for i, v := range vals {
		if v == nil {
			ends[i] = -1
			continue
		}
		start := len(b)
		if format(formats, i) == 1 {
			bv, err := binaryValue(cols[i].oid, v)
			if err == nil {
				b, err = c.tm.Encode(cols[i].oid, 1, bv, b)
			}
			if err != nil {
				b = appendText(b[:start], cols[i].oid, v)
			}
		} else {
			b = appendText(b, cols[i].oid, v)
		}
		ends[i] = len(b)
	}
	c.buf = b
	if cap(c.vals) < len(vals) {
		c.vals = make([][]byte, len(vals))
	}
	out := c.vals[:len(vals)]
	start := 0
	for i, e := range ends {
		if e < 0 {
			out[i] = nil
			continue
		}
		out[i] = b[start:e:e]
		start = e
	}
	return &pgproto3.DataRow{Values: out}
}

// parse handles Parse: the statement is classified and, if it is a
// query, described by the warehouse under its guard.
func (c *conn) parse(ctx context.Context, m *pgproto3.Parse) {
	stmts := splitStatements(m.Query)
	var st statement
	switch len(stmts) {
	case 0:
		st = statement{kind: kindEmpty}
	case 1:
		st = classify(stmts[0], c.params)
	default:
		c.fail(&pgError{code: "42601", msg: "cannot insert multiple commands into a prepared statement"})
		return
	}
	p := &prepared{st: st}
	switch st.kind {
	case kindShow:
		p.cols = []column{{name: st.name, oid: pgtype.TextOID}}
	case kindError:
		c.fail(st.err)
		return
	case kindCopyOut:
		c.fail(&pgError{code: "0A000", msg: "COPY TO STDOUT is supported in the simple query protocol only"})
		return
	case kindFetch:
		// Its rows are the cursor's (none for MOVE).
		if cp := c.cursors[st.name]; cp != nil && !st.move {
			p.cols = cp.p.cols
		}
	case kindQuery, kindDeclare:
		desc, err := c.s.wh.DescribeReadOnly(ctx, st.sql)
		if err != nil {
			c.s.m.queries.WithLabelValues(outcomeOf(err)).Inc()
			c.fail(unknownSetting(st, err))
			return
		}
		for _, col := range desc.Columns {
			p.cols = append(p.cols, column{name: col.Name, oid: oidOf(col.Type)})
		}
		if st.kind == kindDeclare {
			p.cols = nil // DECLARE itself returns no rows
		}
		for i, t := range desc.Params {
			oid := uint32(pgtype.TextOID)
			if t != "" {
				oid = oidOf(t)
			}
			if i < len(m.ParameterOIDs) && m.ParameterOIDs[i] != 0 {
				oid = m.ParameterOIDs[i]
			}
			p.params = append(p.params, oid)
		}
	}
	c.stmts[m.Name] = p
	c.be.Send(&pgproto3.ParseComplete{})
}

// bind handles Bind: the parameters are decoded for the warehouse.
func (c *conn) bind(m *pgproto3.Bind) {
	p := c.stmts[m.PreparedStatement]
	if p == nil {
		c.fail(&pgError{code: "26000", msg: fmt.Sprintf("prepared statement %q does not exist", m.PreparedStatement)})
		return
	}
	if len(m.Parameters) != len(p.params) {
		c.fail(&pgError{code: "08P01", msg: fmt.Sprintf("bind message supplies %d parameters, but prepared statement %q requires %d", len(m.Parameters), m.PreparedStatement, len(p.params))})
		return
	}
	args := make([]any, len(m.Parameters))
	for i, raw := range m.Parameters {
		v, err := c.decodeParam(p.params[i], format(m.ParameterFormatCodes, i), raw)
		if err != nil {
			c.fail(&pgError{code: "22P02", msg: fmt.Sprintf("parameter $%d: %v", i+1, err)})
			return
		}
		args[i] = v
	}
	c.closePortal(m.DestinationPortal)
	c.portals[m.DestinationPortal] = &portal{p: p, args: args, formats: append([]int16(nil), m.ResultFormatCodes...)}
	c.be.Send(&pgproto3.BindComplete{})
}

// decodeParam turns a parameter into a value DuckDB binds: integers,
// floats and booleans as such, timestamps as time.Time, anything else as
// its text (which DuckDB casts to the parameter's type).
func (c *conn) decodeParam(oid uint32, fc int16, raw []byte) (any, error) {
	if raw == nil {
		return nil, nil
	}
	if fc == 0 {
		s := string(raw)
		switch oid {
		case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
			return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		case pgtype.Float4OID, pgtype.Float8OID:
			return strconv.ParseFloat(strings.TrimSpace(s), 64)
		case pgtype.BoolOID:
			var b bool
			err := c.tm.Scan(oid, 0, raw, &b)
			return b, err
		}
		return s, nil
	}
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		var v int64
		err := c.tm.Scan(oid, 1, raw, &v)
		return v, err
	case pgtype.Float4OID, pgtype.Float8OID:
		var v float64
		err := c.tm.Scan(oid, 1, raw, &v)
		return v, err
	case pgtype.BoolOID:
		var v bool
		err := c.tm.Scan(oid, 1, raw, &v)
		return v, err
	case pgtype.TimestampOID, pgtype.TimestamptzOID, pgtype.DateOID:
		var v time.Time
		err := c.tm.Scan(oid, 1, raw, &v)
		return v.UTC().Format("2006-01-02 15:04:05.999999"), err
	case pgtype.NumericOID:
		var v pgtype.Numeric
		if err := c.tm.Scan(oid, 1, raw, &v); err != nil {
			return nil, err
		}
		b, err := v.MarshalJSON()
		return string(b), err
	case pgtype.ByteaOID:
		return append([]byte(nil), raw...), nil
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, 0:
		return string(raw), nil
	}
	return nil, fmt.Errorf("binary parameters of type %d are not supported; send it as text", oid)
}

// describe handles Describe of a statement or a portal.
func (c *conn) describe(m *pgproto3.Describe) {
	var p *prepared
	var formats []int16
	if m.ObjectType == 'S' {
		p = c.stmts[m.Name]
		if p == nil {
			c.fail(&pgError{code: "26000", msg: fmt.Sprintf("prepared statement %q does not exist", m.Name)})
			return
		}
		c.be.Send(&pgproto3.ParameterDescription{ParameterOIDs: append([]uint32{}, p.params...)})
	} else {
		pt := c.portals[m.Name]
		if pt == nil {
			c.fail(&pgError{code: "34000", msg: fmt.Sprintf("portal %q does not exist", m.Name)})
			return
		}
		p, formats = pt.p, pt.formats
	}
	if len(p.cols) == 0 {
		c.be.Send(&pgproto3.NoData{})
		return
	}
	c.be.Send(c.rowDescription(p.cols, formats))
}

// execute handles Execute.
func (c *conn) execute(ctx context.Context, m *pgproto3.Execute) {
	pt := c.portals[m.Portal]
	if pt == nil {
		c.fail(&pgError{code: "34000", msg: fmt.Sprintf("portal %q does not exist", m.Portal)})
		return
	}
	if pt.done && pt.cur != nil {
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT " + strconv.FormatInt(pt.sent, 10))})
		return
	}
	c.run(ctx, pt, int64(m.MaxRows), false)
}

// declare opens a SQL cursor: its query starts at once, so that its
// errors are DECLARE's, and its rows wait for FETCH. The query's time
// limit counts from here.
func (c *conn) declare(ctx context.Context, st statement, args []any) bool {
	if !st.hold && !c.inTx {
		c.fail(&pgError{code: "25P01", msg: "DECLARE CURSOR can only be used in transaction blocks"})
		return false
	}
	if c.cursors[st.name] != nil {
		c.fail(&pgError{code: "42P03", msg: fmt.Sprintf("cursor %q already exists", st.name)})
		return false
	}
	cp := &portal{p: &prepared{st: statement{kind: kindQuery, sql: st.sql}}, args: args, hold: st.hold}
	if err := c.open(ctx, cp); err != nil {
		c.closePortalValue(cp)
		c.fail(c.queryError(cp, err))
		return false
	}
	cp.p.cols = cursorColumns(cp.cur)
	c.cursors[st.name] = cp
	c.s.m.queries.WithLabelValues("ok").Inc()
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(st.tag)})
	return true
}

// fetch sends (or, for MOVE, skips) the next rows of a SQL cursor, in the
// formats pt was bound with.
func (c *conn) fetch(pt *portal, describe bool) bool {
	st := pt.p.st
	cp := c.cursors[st.name]
	if cp == nil {
		c.fail(&pgError{code: "34000", msg: fmt.Sprintf("cursor %q does not exist", st.name)})
		return false
	}
	if describe && !st.move {
		c.be.Send(c.rowDescription(cp.p.cols, nil))
	}
	n, ok := c.sendRows(cp, pt.formats, st.count, st.move)
	if ok {
		c.finish(cp, st.tag+" "+strconv.FormatInt(n, 10))
	}
	return ok
}

// closeCursor handles CLOSE name and CLOSE ALL.
func (c *conn) closeCursor(st statement) bool {
	if st.all {
		c.closeCursors(true)
	} else if cp := c.cursors[st.name]; cp != nil {
		c.closePortalValue(cp)
		delete(c.cursors, st.name)
	} else {
		c.fail(&pgError{code: "34000", msg: fmt.Sprintf("cursor %q does not exist", st.name)})
		return false
	}
	c.s.m.queries.WithLabelValues("ok").Inc()
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(st.tag)})
	return true
}

// closeCursors closes the SQL cursors at the end of a transaction, those
// WITH HOLD too when all (CLOSE ALL, the connection's end).
func (c *conn) closeCursors(all bool) {
	for name, cp := range c.cursors {
		if all || !cp.hold {
			c.closePortalValue(cp)
			delete(c.cursors, name)
		}
	}
}

func (c *conn) closePortal(name string) {
	if pt := c.portals[name]; pt != nil {
		c.closePortalValue(pt)
		delete(c.portals, name)
	}
}

func (c *conn) closePortalValue(pt *portal) {
	if pt.cur != nil {
		pt.cur.Close()
	}
	if pt.cancel != nil {
		(*pt.cancel)(context.Canceled)
		c.mu.Lock()
		delete(c.cancels, pt.cancel)
		c.mu.Unlock()
		pt.cancel = nil
	}
}

// closePortals closes the portals at the end of a transaction (all of
// them when the connection ends).
func (c *conn) closePortals(all bool) {
	if c.inTx && !all {
		return
	}
	for name := range c.portals {
		c.closePortal(name)
	}
}

// fail sends an error; in the extended protocol, messages up to the next
// Sync are skipped.
func (c *conn) fail(err error) {
	code, msg := warehouse.SQLState(err), err.Error()
	var pe *pgError
	if errors.As(err, &pe) {
		code, msg = pe.code, pe.msg
	}
	if code == "57014" && errors.Is(err, result.ErrTimeLimit) {
		msg = "canceling statement due to statement timeout: " + msg
	}
	c.s.m.queries.WithLabelValues(outcomeOf(err)).Inc()
	c.be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg})
	c.failed = true
}

// outcomeOf is the metrics outcome of a failed statement.
func outcomeOf(err error) string {
	var pe *pgError
	switch {
	case errors.Is(err, result.ErrTimeLimit):
		return "timeout"
	case errors.Is(err, result.ErrReadOnly), errors.Is(err, result.ErrExternalAccess):
		return "refused"
	case errors.As(err, &pe) && pe.code == "57014":
		return "canceled"
	}
	return "error"
}

// pgError is an error with its own SQLSTATE.
type pgError struct {
	code, msg string
}

func (e *pgError) Error() string { return e.msg }

func protocolError(msg string) error { return &pgError{code: "08P01", msg: msg} }

// refusal reports whether err is the guard's or a limit's, never to be
// papered over.
func refusal(err error) bool {
	switch warehouse.SQLState(err) {
	case "25006", "42501", "57014":
		return true
	}
	return false
}
