package grafana

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cartwheel-analytics/cartwheel/dashboard"
)

// The Grafana SQL that replaces the bound parameters (see the package
// comment). $__interval_ms is a whole number of seconds in milliseconds
// with the panels' minimum interval of 1s; FLOOR and GREATEST keep the
// bucket a whole number of seconds, at least one, whatever it is.
const (
	fromSQL = "$__timeFrom()"
	toSQL   = "$__timeTo()"
	stepSQL = "GREATEST(FLOOR($__interval_ms / 1000), 1)"
)

// TranslateError is the error of panel SQL the export cannot translate
// into Grafana SQL without changing its meaning.
type TranslateError struct {
	Panel  string
	Line   int // 1-based line of the panel's .sql file; 0 when not known
	Reason string
}

func (e *TranslateError) Error() string {
	where := "panel " + e.Panel
	if e.Line > 0 {
		where += fmt.Sprintf(" (dashboards/%s.sql, line %d)", e.Panel, e.Line)
	}
	return where + ": " + e.Reason
}

// IsTranslateError reports whether err is a TranslateError.
func IsTranslateError(err error) bool {
	var te *TranslateError
	return errors.As(err, &te)
}

// Query is a panel's SQL as Grafana runs it.
type Query struct {
	// SQL holds Grafana's macros in place of the bound parameters.
	SQL string
	// TimeSeries says the query exposes a sorted "time" column (Grafana's
	// time_series format); otherwise it is a table.
	TimeSeries bool
	// UsesInterval says the SQL uses $__interval_ms (the panel's $3).
	UsesInterval bool
}

// timeSeriesCharts are the chart kinds drawn over time.
var timeSeriesCharts = map[string]bool{"timeseries": true, "bars": true}

// Translate rewrites a panel's SQL for Grafana's PostgreSQL data source.
func Translate(p *dashboard.Panel) (Query, error) {
	toks, err := lex(p.SQL)
	if err != nil {
		var le *lexError
		if errors.As(err, &le) {
			return Query{}, &TranslateError{Panel: p.Name, Line: le.line, Reason: le.msg}
		}
		return Query{}, &TranslateError{Panel: p.Name, Reason: err.Error()}
	}
	// The significant tokens (no blanks or comments), by index into toks.
	var sig []int
	for i, t := range toks {
		if t.kind != tkSpace && t.kind != tkComment {
			sig = append(sig, i)
		}
	}
	at := func(k int) *token {
		if k < 0 || k >= len(sig) {
			return &token{kind: tkEOF}
		}
		return &toks[sig[k]]
	}
	q := Query{TimeSeries: timeSeriesCharts[p.Chart]}
	// Pass 1: the range filter, col >= CAST($1 AS TIMESTAMP) AND col <
	// CAST($2 AS TIMESTAMP), becomes $__timeFilter(col) AND col <
	// CAST($__timeTo() AS TIMESTAMP) where nothing around it binds tighter
	// than AND.
	for k := 0; k < len(sig); k++ {
		col, n := column(at, k)
		if n == 0 || !filterBefore(at(k-1)) {
			continue
		}
		j := k + n
		if !at(j).is(">=") || !castParam(at, j+1, 1, "TIMESTAMP") || !at(j+7).isWord("AND") {
			continue
		}
		col2, n2 := column(at, j+8)
		if n2 == 0 || !strings.EqualFold(col, col2) {
			continue
		}
		e := j + 8 + n2
		if !at(e).is("<") || !castParam(at, e+1, 2, "TIMESTAMP") || !filterAfter(at(e+7)) {
			continue
		}
		// Keep the column as written; blank out the rest of the span.
		// $__timeFilter is BETWEEN, which includes the range's end; the
		// second bound keeps it out, as the panel does (a user_activity
		// bucket starting exactly at the end would otherwise be counted).
		first, last := sig[k], sig[e+6]
		toks[first] = token{kind: tkMacro, line: toks[first].line,
			text: "$__timeFilter(" + col + ") AND " + col + " < CAST(" + toSQL + " AS TIMESTAMP)"}
		for i := first + 1; i <= last; i++ {
			toks[i] = token{kind: tkSpace, text: ""}
		}
		k = e + 6
	}
	// Pass 2: every other parameter must be CAST($1|$2 AS TIMESTAMP) or
	// CAST($3 AS an integer type).
	for k := 0; k < len(sig); k++ {
		t := at(k)
		if t.kind != tkParam {
			continue
		}
		n := t.param
		ok := false
		switch n {
		case 1, 2:
			ok = castParam(at, k-2, n, "TIMESTAMP")
		case 3:
			for _, typ := range []string{"BIGINT", "INTEGER", "INT", "INT8", "INT4"} {
				ok = ok || castParam(at, k-2, n, typ)
			}
		}
		if !ok {
			want := fmt.Sprintf("CAST($%d AS TIMESTAMP)", n)
			if n == 3 {
				want = "CAST($3 AS BIGINT)"
			}
			if n > 3 {
				return Query{}, &TranslateError{Panel: p.Name, Line: t.line, Reason: fmt.Sprintf(
					"$%d: only $1 (from), $2 (to) and $3 (step seconds) are bound", n)}
			}
			return Query{}, &TranslateError{Panel: p.Name, Line: t.line, Reason: fmt.Sprintf(
				"$%d is used outside %s, the only form the Grafana export translates; write it so "+
					"(Grafana puts a text literal where the parameter was, which elsewhere could change the query's meaning)", n, want)}
		}
		*t = token{kind: tkMacro, text: macroFor(n), line: t.line}
		q.UsesInterval = q.UsesInterval || n == 3
	}
	// One statement: a ';' may only end it.
	for k := 0; k < len(sig); k++ {
		if t := at(k); t.is(";") && k != len(sig)-1 {
			return Query{}, &TranslateError{Panel: p.Name, Line: t.line, Reason: "more than one statement"}
		}
	}
	// Drop comments and a trailing semicolon; keep line breaks.
	var b strings.Builder
	for _, t := range toks {
		switch t.kind {
		case tkComment:
			if strings.HasPrefix(t.text, "--") {
				continue // its line break is the following blank
			}
			b.WriteString(" ")
		default:
			b.WriteString(t.text)
		}
	}
	sql := strings.TrimSpace(tidy(b.String()))
	sql = strings.TrimSpace(strings.TrimSuffix(sql, ";"))
	if sql == "" {
		return Query{}, &TranslateError{Panel: p.Name, Reason: "the SQL is empty"}
	}
	if q.TimeSeries {
		// Grafana's time_series format wants a column named time, sorted;
		// the first column of a time-series panel is its bucket.
		sql = "SELECT * FROM (\n" + indent(sql) + "\n) AS panel (\"time\")\nORDER BY 1"
	}
	q.SQL = sql
	return q, nil
}

// macroFor is the Grafana SQL of parameter n.
func macroFor(n int) string {
	switch n {
	case 1:
		return fromSQL
	case 2:
		return toSQL
	}
	return stepSQL
}

// column matches a column reference at k: name or qualifier.name. It
// returns the reference as written and how many tokens it takes.
func column(at func(int) *token, k int) (string, int) {
	if !at(k).isName() {
		return "", 0
	}
	if at(k+1).is(".") && at(k+2).isName() {
		return at(k).text + "." + at(k+2).text, 3
	}
	return at(k).text, 1
}

// castParam matches CAST ( $n AS typ ) at k.
func castParam(at func(int) *token, k, n int, typ string) bool {
	return at(k).isWord("CAST") && at(k+1).is("(") && at(k+2).kind == tkParam && at(k+2).param == n &&
		at(k+3).isWord("AS") && at(k+4).isWord(typ) && at(k+5).is(")")
}

// filterBefore: what may precede the range filter for $__timeFilter's
// BETWEEN to group as the two comparisons did (NOT and arithmetic bind
// tighter than AND).
func filterBefore(t *token) bool {
	return t.is("(") || t.isWord("WHERE", "AND", "OR", "ON", "WHEN", "HAVING")
}

// filterAfter: what may follow it.
func filterAfter(t *token) bool {
	return t.kind == tkEOF || t.is(")") || t.is(";") ||
		t.isWord("AND", "OR", "THEN", "GROUP", "ORDER", "LIMIT", "HAVING", "UNION", "EXCEPT", "INTERSECT", "WINDOW", "QUALIFY")
}

// tidy removes the blank lines and trailing blanks dropped comments leave.
func tidy(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		l = strings.TrimRight(l, " \t\r")
		if strings.TrimSpace(l) == "" && (len(out) == 0 || out[len(out)-1] == "") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "\n")
}

// The lexer: just enough SQL to know what is a string, a quoted
// identifier, a comment, a parameter or a word.

type tokenKind int

const (
	tkEOF tokenKind = iota
	tkSpace
	tkComment
	tkWord   // keyword or bare identifier
	tkQuoted // "identifier"
	tkString // 'literal'
	tkNumber
	tkParam // $N
	tkPunct
	tkMacro // a Grafana macro written by Translate
)

type token struct {
	kind  tokenKind
	text  string
	line  int
	param int
}

func (t *token) is(p string) bool { return t.kind == tkPunct && t.text == p }

func (t *token) isWord(words ...string) bool {
	if t.kind != tkWord {
		return false
	}
	for _, w := range words {
		if strings.EqualFold(t.text, w) {
			return true
		}
	}
	return false
}

// isName: a column name, bare or quoted, that is not a keyword which could
// start the filter's context.
func (t *token) isName() bool {
	return t.kind == tkQuoted || (t.kind == tkWord && !t.isWord("NOT", "AND", "OR", "WHERE", "CAST", "CASE", "WHEN", "THEN", "ELSE", "END"))
}

type lexError struct {
	line int
	msg  string
}

func (e *lexError) Error() string { return e.msg }

func lex(sql string) ([]token, error) {
	var toks []token
	line := 1
	for i := 0; i < len(sql); {
		start, startLine := i, line
		c := sql[i]
		kind := tkPunct
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			kind = tkSpace
			for i < len(sql) && strings.IndexByte(" \t\n\r", sql[i]) >= 0 {
				i++
			}
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			kind = tkComment
			for i < len(sql) && sql[i] != '\n' && sql[i] != '\r' { // a line comment ends at either
				i++
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			kind = tkComment
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return nil, &lexError{line, "unterminated /* comment"}
			}
			i += end + 4
		case c == '\'' || c == '"':
			kind = tkString
			if c == '"' {
				kind = tkQuoted
			}
			j := i + 1
			for {
				if j >= len(sql) {
					return nil, &lexError{line, fmt.Sprintf("unterminated %c quote", c)}
				}
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			i = j + 1
			if strings.ContainsAny(sql[start:i], "$") {
				return nil, &lexError{line, "a '$' inside a quoted string or name: Grafana would read it as a variable or a macro"}
			}
			if strings.Contains(sql[start:i], "[[") {
				return nil, &lexError{line, "'[[' inside a quoted string or name: Grafana would read it as a variable"}
			}
		case c == '$':
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			if j == i+1 || (j < len(sql) && isIdentByte(sql[j])) {
				return nil, &lexError{line, "a '$' that is not a parameter $1, $2 or $3 (a dollar-quoted string or a Grafana variable): the export cannot carry it"}
			}
			kind = tkParam
			i = j
		case isIdentByte(c) && !(c >= '0' && c <= '9'):
			kind = tkWord
			for i < len(sql) && (isIdentByte(sql[i]) || sql[i] == '$') {
				i++
			}
			if strings.Contains(sql[start:i], "$") {
				return nil, &lexError{line, fmt.Sprintf("%q: a '$' in a name: Grafana would read it as a variable", sql[start:i])}
			}
		case c >= '0' && c <= '9':
			kind = tkNumber
			for i < len(sql) && (isIdentByte(sql[i]) || sql[i] == '.') {
				i++
			}
		case c == '[' && strings.HasPrefix(sql[i:], "[["):
			return nil, &lexError{line, "'[[': Grafana would read it as a variable"}
		default:
			// Two-character operators the filter pattern needs whole.
			if i+1 < len(sql) && (sql[i:i+2] == ">=" || sql[i:i+2] == "<=" || sql[i:i+2] == "<>" || sql[i:i+2] == "!=" || sql[i:i+2] == "::") {
				i += 2
			} else {
				i++
			}
		}
		text := sql[start:i]
		line += strings.Count(text, "\n")
		t := token{kind: kind, text: text, line: startLine}
		if kind == tkParam {
			t.param, _ = strconv.Atoi(text[1:])
		}
		toks = append(toks, t)
	}
	return toks, nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
