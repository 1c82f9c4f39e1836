package pgwire

import "strings"

// The lexing here only finds statement boundaries and the literals that
// rewrites must not touch, as PostgreSQL's and DuckDB's lexers see them:
// '…' (doubled quotes), E'…' (backslash escapes), "…", $tag$…$tag$,
// -- and nested /* */ comments. The warehouse guard counts statements
// again on what it is given, so a mistake here refuses a query, it
// cannot let one through.

// splitStatements splits a Query message into its statements, without
// the semicolons; statements of only blanks and comments are dropped.
func splitStatements(q string) []string {
	var out []string
	start := 0
	i := 0
	for i < len(q) {
		if q[i] == ';' {
			if s := strings.TrimSpace(q[start:i]); s != "" && skipBlanks(s, 0) < len(s) {
				out = append(out, s)
			}
			i++
			start = i
			continue
		}
		i = skipToken(q, i)
	}
	if s := strings.TrimSpace(q[start:]); s != "" && skipBlanks(s, 0) < len(s) {
		out = append(out, s)
	}
	return out
}

// literalSpans returns the [start, end) of each string literal, quoted
// name, dollar-quoted string and comment of q.
func literalSpans(q string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(q); {
		j := skipToken(q, i)
		if isQuoteStart(q, i) || strings.HasPrefix(q[i:], "--") || strings.HasPrefix(q[i:], "/*") {
			spans = append(spans, [2]int{i, j})
		}
		i = j
	}
	return spans
}

// isQuoteStart reports whether a literal or quoted name starts at q[i].
func isQuoteStart(q string, i int) bool {
	switch q[i] {
	case '\'', '"':
		return true
	case '$':
		_, ok := dollarTag(q, i)
		return ok
	case 'E', 'e':
		return i+1 < len(q) && q[i+1] == '\'' && (i == 0 || !isWordByte(q[i-1]))
	}
	return false
}

// skipToken returns the index after the token at q[i]: a literal, quoted
// name, comment or word as a whole, anything else one byte.
func skipToken(q string, i int) int {
	c := q[i]
	switch {
	case c == '\'':
		return skipQuoted(q, i, false)
	case c == '"':
		return skipQuoted(q, i, false)
	case (c == 'E' || c == 'e') && i+1 < len(q) && q[i+1] == '\'' && (i == 0 || !isWordByte(q[i-1])):
		return skipQuoted(q, i+1, true)
	case c == '$':
		if tag, ok := dollarTag(q, i); ok {
			end := strings.Index(q[i+len(tag):], tag)
			if end < 0 {
				return len(q)
			}
			return i + len(tag) + end + len(tag)
		}
		return i + 1
	case c == '-' && i+1 < len(q) && q[i+1] == '-':
		end := strings.IndexAny(q[i:], "\n\r") // a line comment ends at either
		if end < 0 {
			return len(q)
		}
		return i + end + 1
	case c == '/' && i+1 < len(q) && q[i+1] == '*':
		depth := 0
		for j := i; j+1 < len(q); j++ {
			switch {
			case q[j] == '/' && q[j+1] == '*':
				depth++
				j++
			case q[j] == '*' && q[j+1] == '/':
				depth--
				j++
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(q)
	case isWordByte(c) || c >= 0x80:
		// Names run on over "$" (a$b$ is one name, not a dollar quote).
		j := i + 1
		for j < len(q) && (isWordByte(q[j]) || q[j] >= 0x80 || q[j] == '$') {
			j++
		}
		return j
	}
	return i + 1
}

// skipQuoted returns the index after the quote closing the literal that
// opens at q[i] (len(q) if unclosed).
func skipQuoted(q string, i int, backslash bool) int {
	c := q[i]
	for j := i + 1; j < len(q); j++ {
		if backslash && q[j] == '\\' {
			j++
			continue
		}
		if q[j] == c {
			if j+1 < len(q) && q[j+1] == c {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(q)
}

// dollarTag returns the $tag$ opening a dollar-quoted string at q[i].
func dollarTag(q string, i int) (string, bool) {
	if i > 0 && (isWordByte(q[i-1]) || q[i-1] >= 0x80) {
		return "", false
	}
	end := strings.IndexByte(q[i+1:], '$')
	if end < 0 {
		return "", false
	}
	tag := q[i+1 : i+1+end]
	for k := 0; k < len(tag); k++ {
		c := tag[k]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || k > 0 && c >= '0' && c <= '9' {
			continue
		}
		return "", false
	}
	return q[i : i+end+2], true
}

// skipBlanks returns the index of the first byte at or after i that is
// neither blank nor in a comment.
func skipBlanks(q string, i int) int {
	for i < len(q) {
		switch {
		case q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r' || q[i] == '\f':
			i++
		case strings.HasPrefix(q[i:], "--") || strings.HasPrefix(q[i:], "/*"):
			i = skipToken(q, i)
		default:
			return i
		}
	}
	return i
}
