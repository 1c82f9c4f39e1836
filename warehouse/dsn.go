package warehouse

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// DSN is a parsed warehouse DSN:
//
//	duckdb://PATH[?threads=N]          PATH a file, or :memory:
//	postgres://… or postgresql://…     a pgx connection URL
//	redshift://…[?s3_bucket=…&…]       the same, in Redshift's dialect (S3 staging: redshift_s3.go)
//
// ParseDSN checks all that can be checked without connecting, so that a bad
// DSN is refused when the configuration is read rather than when the
// warehouse is first opened. The parameters pgx itself reads (sslmode,
// connect_timeout, …) are left to pgx.
type DSN struct {
	// Dialect is the warehouse's SQL dialect.
	Dialect Dialect
	// Path is DuckDB's database file as written, or ":memory:"; empty for
	// the other warehouses.
	Path string
	// Threads is DuckDB's thread count; 0 means the default, one fewer
	// than the machine's cores (duckThreads).
	Threads int

	url *url.URL  // PostgreSQL and Redshift: the DSN as given, S3 parameters included
	s3  *s3Config // Redshift: the S3 staging configuration; nil without
}

// The DSN forms, for messages.
const (
	dsnForms  = "want duckdb://PATH, postgres://… or redshift://…"
	duckForms = "want duckdb://PATH or duckdb://:memory:"
)

// ParseDSN parses a warehouse DSN. Its errors show the DSN with the
// password hidden.
func ParseDSN(dsn string) (DSN, error) {
	fail := func(format string, args ...any) (DSN, error) {
		return DSN{}, fmt.Errorf("warehouse DSN %q: %s", RedactDSN(dsn), fmt.Sprintf(format, args...))
	}
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return fail("%s", dsnForms)
	}
	switch scheme {
	case "duckdb":
		path, params, _ := strings.Cut(rest, "?")
		d := DSN{Dialect: DuckDB, Path: path}
		if path == "" {
			return fail("empty path (%s)", duckForms)
		}
		q, err := url.ParseQuery(params)
		if err != nil {
			return fail("parameters: %v", err)
		}
		for k, v := range q {
			if k != "threads" {
				return fail("unknown parameter %q (duckdb:// takes threads=N)", k)
			}
			n, err := strconv.Atoi(v[len(v)-1])
			if err != nil || n < 1 {
				return fail("threads=%s: want a positive number", v[len(v)-1])
			}
			d.Threads = n
		}
		return d, nil
	case "postgres", "postgresql", "redshift":
		d := DSN{Dialect: Postgres}
		if scheme == "redshift" {
			d.Dialect = Redshift
		}
		u, err := url.Parse(dsn)
		if err != nil {
			// url.Error quotes the whole DSN, password included.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return fail("%v", err)
		}
		if d.s3, err = takeS3Params(u.Query(), d.Dialect); err != nil {
			return fail("%v", err)
		}
		d.url = u
		return d, nil
	}
	return fail("unknown scheme %q (%s)", scheme, dsnForms)
}

// File returns DuckDB's database file, cleaned, or "" for an in-memory
// database or another warehouse.
func (d DSN) File() string {
	if d.Dialect != DuckDB || d.Path == "" || d.Path == ":memory:" {
		return ""
	}
	return filepath.Clean(d.Path)
}

// Redacted returns the DSN with its password, if any, replaced by "xxxxx":
// for messages and logs.
func (d DSN) Redacted() string {
	if d.Dialect == DuckDB {
		s := "duckdb://" + d.Path
		if d.Threads > 0 {
			s += "?threads=" + strconv.Itoa(d.Threads)
		}
		return s
	}
	if d.url == nil {
		return ""
	}
	return redactURL(*d.url)
}

// String is Redacted: a DSN printed by mistake does not show its password.
// Open takes the DSN as the user wrote it.
func (d DSN) String() string { return d.Redacted() }

// RedactDSN hides the password of a DSN string, for messages and logs; it
// hides it even when the string does not parse.
func RedactDSN(dsn string) string {
	scheme, _, _ := strings.Cut(dsn, "://")
	if scheme == "duckdb" {
		return dsn // no credentials; as written, even when invalid
	}
	if u, err := url.Parse(dsn); err == nil && u.Opaque == "" {
		return redactURL(*u)
	}
	return redactUnparsed(dsn)
}

// passwordParams are the query parameters pgx takes a password from.
var passwordParams = []string{"password", "sslpassword"}

// redacted replaces a password.
const redacted = "xxxxx"

// redactURL hides the password of the user information and of the query
// parameters that carry one.
func redactURL(u url.URL) string {
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k, vs := range q {
			for i, v := range vs {
				switch {
				case slices.Contains(passwordParams, k):
					vs[i] = redacted
				case strings.Contains(v, "@"):
					// A URL parameter with credentials, such as s3_endpoint.
					vu, err := url.Parse(v)
					if err != nil || vu.User == nil {
						continue
					}
					vs[i] = redactURL(*vu)
				default:
					continue
				}
				changed = changed || vs[i] != v
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// passwordParam finds a password query parameter in a DSN that url.Parse
// refused.
var passwordParam = regexp.MustCompile(`([?&](?:ssl)?password=)[^&#]*`)

// redactUnparsed hides the password of a DSN that url.Parse refused (an
// invalid escape or port, say: a "/" or "#" in an unescaped password does
// that), which may still hold one. The user information ends at the last
// "@" before the query.
func redactUnparsed(dsn string) string {
	prefix, rest := "", dsn
	if i := strings.Index(dsn, "://"); i >= 0 {
		prefix, rest = dsn[:i+3], dsn[i+3:]
	}
	beforeQuery, _, _ := strings.Cut(rest, "?")
	if at := strings.LastIndex(beforeQuery, "@"); at >= 0 {
		if user, _, has := strings.Cut(rest[:at], ":"); has {
			rest = user + ":" + redacted + rest[at:]
		}
	}
	return passwordParam.ReplaceAllString(prefix+rest, "${1}"+redacted)
}
