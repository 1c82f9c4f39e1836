package warehouse

import "strings"

// countStatements returns how many non-empty SQL statements q holds: it
// splits on semicolons outside string literals, quoted identifiers,
// dollar-quoted strings and comments. The read-only query path runs one
// statement only, because DuckDB executes all but the last statement of a
// multi-statement string while merely preparing it.
func countStatements(q string) int {
	n := 0
	content := false // the current statement has more than blanks and comments
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == ';':
			if content {
				n++
			}
			content = false
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			depth := 0 // block comments nest in PostgreSQL and DuckDB
			for ; i+1 < len(q); i++ {
				if q[i] == '/' && q[i+1] == '*' {
					depth++
					i++
				} else if q[i] == '*' && q[i+1] == '/' {
					depth--
					i++
					if depth == 0 {
						break
					}
				}
			}
			if depth > 0 {
				i = len(q)
			}
		case c == '\'' || c == '"':
			content = true
			backslash := c == '\'' && i > 0 && (q[i-1] == 'E' || q[i-1] == 'e')
			for i++; i < len(q); i++ {
				if backslash && q[i] == '\\' {
					i++
					continue
				}
				if q[i] == c {
					if i+1 < len(q) && q[i+1] == c { // doubled quote
						i++
						continue
					}
					break
				}
			}
		case c == '$':
			content = true
			if end := strings.IndexByte(q[i+1:], '$'); end >= 0 && isDollarTag(q[i+1:i+1+end]) {
				tag := q[i : i+end+2]
				if close := strings.Index(q[i+len(tag):], tag); close >= 0 {
					i += len(tag) + close + len(tag) - 1
				} else {
					i = len(q)
				}
			}
		default:
			content = true
		}
	}
	if content {
		n++
	}
	return n
}

// isDollarTag reports whether s can sit between the dollars of a
// dollar-quote ($$ or $tag$); $1 is a parameter, not a quote.
func isDollarTag(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}
