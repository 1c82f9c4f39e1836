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
			for i < len(q) && q[i] != '\n' && q[i] != '\r' { // a line comment ends at either
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
		case isIdentStart(c):
			// A name or keyword runs on over letters, digits, "_" and "$"
			// (PostgreSQL's and DuckDB's lexers): "a$b$" is one name, not
			// "a" and a dollar quote, which would hide what follows it.
			content = true
			j := i + 1
			for j < len(q) && (isIdentStart(q[j]) || q[j] >= '0' && q[j] <= '9' || q[j] == '$') {
				j++
			}
			if j-i == 1 && (c == 'E' || c == 'e') && j < len(q) && q[j] == '\'' {
				i = skipQuoted(q, j, true) // E'…': backslash escapes
				continue
			}
			i = j - 1
		case c == '\'' || c == '"':
			content = true
			i = skipQuoted(q, i, false)
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

// skipQuoted returns the index of the quote that closes the string or
// quoted identifier opening at q[i] (len(q) when it is not closed); a
// doubled quote stands for one, and with backslash so does \'.
func skipQuoted(q string, i int, backslash bool) int {
	c := q[i]
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
			return i
		}
	}
	return len(q)
}

// isIdentStart reports whether c can start a name or keyword: a letter,
// "_" or any byte of a non-ASCII character.
func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
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

// explained returns the statement an EXPLAIN statement explains: q without
// its leading EXPLAIN, ANALYZE (or ANALYSE) and parenthesized options, and
// false when q does not start that way. EXPLAIN ANALYZE runs the statement
// it explains, so the read-only guard checks that one too.
func explained(q string) (string, bool) {
	i := skipBlanks(q, 0)
	w, i := word(q, i)
	if !strings.EqualFold(w, "EXPLAIN") {
		return "", false
	}
	i = skipBlanks(q, i)
	if w, j := word(q, i); strings.EqualFold(w, "ANALYZE") || strings.EqualFold(w, "ANALYSE") {
		i = skipBlanks(q, j)
	}
	if i < len(q) && q[i] == '(' {
		end := strings.IndexByte(q[i:], ')')
		if end < 0 {
			return "", false
		}
		i = skipBlanks(q, i+end+1)
	}
	if i >= len(q) {
		return "", false
	}
	return q[i:], true
}

// skipBlanks returns the index of the first byte at or after i that is
// neither blank nor inside a comment.
func skipBlanks(q string, i int) int {
	for i < len(q) {
		switch {
		case q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r' || q[i] == '\f':
			i++
		case strings.HasPrefix(q[i:], "--"):
			for i < len(q) && q[i] != '\n' && q[i] != '\r' { // a line comment ends at either
				i++
			}
		case strings.HasPrefix(q[i:], "/*"):
			depth := 0
			for ; i < len(q); i++ {
				if strings.HasPrefix(q[i:], "/*") {
					depth++
					i++
				} else if strings.HasPrefix(q[i:], "*/") {
					depth--
					i++
					if depth == 0 {
						i++
						break
					}
				}
			}
		default:
			return i
		}
	}
	return i
}

// word returns the run of ASCII letters at q[i:] and the index after it.
func word(q string, i int) (string, int) {
	j := i
	for j < len(q) && (q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z') {
		j++
	}
	return q[i:j], j
}
