package warehouse

import (
	"strings"
	"testing"
)

func TestParseDSN(t *testing.T) {
	const pw = "s3cr3t-pa55"
	tests := []struct {
		dsn      string
		dialect  Dialect
		path     string // DSN.Path
		file     string // DSN.File()
		threads  int
		redacted string
	}{
		{dsn: "duckdb://data/cartwheel.duckdb", dialect: DuckDB, path: "data/cartwheel.duckdb", file: "data/cartwheel.duckdb",
			redacted: "duckdb://data/cartwheel.duckdb"},
		{dsn: "duckdb:///var/lib/cw/w.duckdb?threads=3", dialect: DuckDB, path: "/var/lib/cw/w.duckdb", file: "/var/lib/cw/w.duckdb",
			threads: 3, redacted: "duckdb:///var/lib/cw/w.duckdb?threads=3"},
		{dsn: "duckdb://./data/../w.duckdb", dialect: DuckDB, path: "./data/../w.duckdb", file: "w.duckdb",
			redacted: "duckdb://./data/../w.duckdb"},
		{dsn: "duckdb://:memory:", dialect: DuckDB, path: ":memory:", redacted: "duckdb://:memory:"},
		{dsn: "duckdb://:memory:?threads=1", dialect: DuckDB, path: ":memory:", threads: 1, redacted: "duckdb://:memory:?threads=1"},
		{dsn: "postgres://cw:" + pw + "@db.example:5432/analytics?sslmode=require", dialect: Postgres,
			redacted: "postgres://cw:xxxxx@db.example:5432/analytics?sslmode=require"},
		{dsn: "postgresql://cw@db.example/analytics", dialect: Postgres, redacted: "postgresql://cw@db.example/analytics"},
		{dsn: "postgres://cw@db.example/analytics?password=" + pw + "&application_name=cw", dialect: Postgres,
			redacted: "postgres://cw@db.example/analytics?application_name=cw&password=xxxxx"},
		{dsn: "redshift://cw:" + pw + "@cluster.example:5439/dev", dialect: Redshift, redacted: "redshift://cw:xxxxx@cluster.example:5439/dev"},
		{dsn: "redshift://cw:" + pw + "@cluster.example/dev?s3_bucket=b1b&iam_role=default&s3_endpoint=http://127.0.0.1:9000",
			dialect: Redshift, redacted: "redshift://cw:xxxxx@cluster.example/dev?s3_bucket=b1b&iam_role=default&s3_endpoint=http://127.0.0.1:9000"},
	}
	for _, tc := range tests {
		d, err := ParseDSN(tc.dsn)
		if err != nil {
			t.Errorf("ParseDSN(%s): %v", RedactDSN(tc.dsn), err)
			continue
		}
		if d.Dialect != tc.dialect || d.Path != tc.path || d.File() != tc.file || d.Threads != tc.threads {
			t.Errorf("ParseDSN(%s) = dialect %s, path %q, file %q, threads %d; want %s, %q, %q, %d", RedactDSN(tc.dsn),
				d.Dialect, d.Path, d.File(), d.Threads, tc.dialect, tc.path, tc.file, tc.threads)
		}
		if got := d.Redacted(); got != tc.redacted {
			t.Errorf("Redacted() = %q, want %q", got, tc.redacted)
		}
		if got := d.String(); got != tc.redacted || strings.Contains(got, pw) {
			t.Errorf("String() = %q, want %q", got, tc.redacted)
		}
		if got := RedactDSN(tc.dsn); tc.dialect != DuckDB && got != tc.redacted {
			t.Errorf("RedactDSN = %q, want %q", got, tc.redacted)
		}
		if tc.dialect == Redshift && strings.Contains(tc.dsn, "s3_bucket") && d.s3 == nil {
			t.Errorf("ParseDSN(%s): no S3 staging", RedactDSN(tc.dsn))
		}
	}
}

func TestParseDSNErrors(t *testing.T) {
	const pw = "s3cr3t-pa55"
	tests := []struct{ dsn, want string }{
		{"", `warehouse DSN "": want duckdb://PATH, postgres://… or redshift://…`},
		{"data/cartwheel.duckdb", `warehouse DSN "data/cartwheel.duckdb": want duckdb://PATH`},
		{"mysql://u:" + pw + "@h/db", `warehouse DSN "mysql://u:xxxxx@h/db": unknown scheme "mysql"`},
		{"DUCKDB://x.duckdb", `unknown scheme "DUCKDB"`},
		{"duckdb://", `warehouse DSN "duckdb://": empty path (want duckdb://PATH or duckdb://:memory:)`},
		{"duckdb://?threads=2", "empty path"},
		{"duckdb://x.duckdb?threads=abc", `warehouse DSN "duckdb://x.duckdb?threads=abc": threads=abc: want a positive number`},
		{"duckdb://x.duckdb?threads=0", "threads=0: want a positive number"},
		{"duckdb://x.duckdb?threads=-2", "threads=-2: want a positive number"},
		{"duckdb://x.duckdb?threads=", "threads=: want a positive number"},
		{"duckdb://x.duckdb?thread=2", `unknown parameter "thread" (duckdb:// takes threads=N)`},
		{"duckdb://x.duckdb?threads=%zz", "parameters: invalid URL escape"},
		{"postgres://cw:" + pw + "@host:port/db", `warehouse DSN "postgres://cw:xxxxx@host:port/db": invalid port ":port"`},
		{"postgres://cw:pa%zz" + pw + "@host/db", `warehouse DSN "postgres://cw:xxxxx@host/db": invalid URL escape`},
		{"postgres://cw:pa/" + pw + "@host/db", `warehouse DSN "postgres://cw:xxxxx@host/db"`},
		{"postgres://cw@h:x/db?password=" + pw, `warehouse DSN "postgres://cw@h:x/db?password=xxxxx"`},
		{"postgres://cw:" + pw + "@localhost/db?s3_bucket=b1b&iam_role=default", "the S3 staging parameters (s3_bucket …) are for redshift:// DSNs only"},
		{"redshift://cw:" + pw + "@h/db?s3_bucket=b1b", `warehouse DSN "redshift://cw:xxxxx@h/db?s3_bucket=b1b": S3 staging: iam_role is required`},
		{"redshift://cw:" + pw + "@h/db?s3_bucket=b1b&iam_role=default&s3_min_rows=x", "s3_min_rows must be a positive number"},
		{"redshift://cw@h/db?s3_bucket=b1b&iam_role=default&s3_endpoint=http://k:" + pw + "@127.0.0.1:9000",
			`s3_endpoint=http%3A%2F%2Fk%3Axxxxx%40127.0.0.1%3A9000": S3 staging: s3_endpoint must be an http:// or https:// URL without credentials`},
	}
	for _, tc := range tests {
		_, err := ParseDSN(tc.dsn)
		if err == nil {
			t.Errorf("ParseDSN(%s) accepted it", RedactDSN(tc.dsn))
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseDSN(%s) = %v, want %q", RedactDSN(tc.dsn), err, tc.want)
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("ParseDSN error carries the password: %v", err)
		}
	}
}

// TestRedactDSNUnparsed: a DSN that url.Parse refuses still has its
// password hidden.
func TestRedactDSNUnparsed(t *testing.T) {
	const pw = "s3cr3t-pa55"
	for _, dsn := range []string{
		"postgres://cw:" + pw + "@host:port/db",
		"postgres://cw:pa#" + pw + "@host/db",
		"postgres://cw:pa/" + pw + "@host/db?sslmode=disable",
		"redshift://cw@h:x/db?sslpassword=" + pw + "&password=" + pw,
		"postgres:cw:" + pw + "@host/db",
	} {
		if got := RedactDSN(dsn); strings.Contains(got, pw) || !strings.Contains(got, "xxxxx") {
			t.Errorf("RedactDSN(…) = %q", got)
		}
	}
}

func TestDuckDBFile(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"duckdb://data//x.duckdb?threads=2", "data/x.duckdb"},
		{"duckdb://:memory:", ""},
		{"duckdb://", ""},
		{"duckdb://x.duckdb?threads=abc", ""},
		{"postgres://u@localhost/db", ""},
		{"data/x.duckdb", ""},
	} {
		if got := DuckDBFile(tc.dsn); got != tc.want {
			t.Errorf("DuckDBFile(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}
