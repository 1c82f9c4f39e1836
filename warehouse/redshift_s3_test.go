package warehouse

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/cartwheel-analytics/cartwheel/event"
)

var testStageConfig = s3Config{bucket: "cartwheel-staging", prefix: "cartwheel", region: "eu-west-1",
	iamRole: "arn:aws:iam::123456789012:role/cartwheel-copy", minRows: defaultS3MinRows}

// TestRedshiftCopySQL pins the COPY statements that load staged batches
// (golden file; -update rewrites it).
func TestRedshiftCopySQL(t *testing.T) {
	s := &s3Stager{cfg: testStageConfig}
	var got strings.Builder
	for _, tc := range []struct {
		table string
		cols  []column
	}{{"events", eventColumns}, {"sessions", sessionColumns}, {"rejected_events", rejectedColumns}} {
		key := "cartwheel/" + tc.table + "/20261101T120000Z-000000000000000000000000.csv.gz"
		got.WriteString(s.copySQL(tc.table, tc.cols, key) + ";\n\n")
	}
	path := filepath.Join("testdata", "redshift_copy.golden.sql")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(path, []byte(got.String()), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got.String()); diff != "" {
		t.Errorf("Redshift COPY (-want +got):\n%s", diff)
	}

	def := &s3Stager{cfg: testStageConfig}
	def.cfg.iamRole, def.cfg.region = "default", ""
	sql := def.copySQL("events", eventColumns, "k.csv.gz")
	if !strings.Contains(sql, "\nIAM_ROLE default\n") || strings.Contains(sql, "REGION") {
		t.Errorf("IAM_ROLE default without a region:\n%s", sql)
	}

	key, err := s.objectKey("sessions")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^cartwheel/sessions/\d{8}T\d{6}Z-[0-9a-f]{24}\.csv\.gz$`).MatchString(key) {
		t.Errorf("object key %q", key)
	}
	if k2, _ := s.objectKey("sessions"); k2 == key || strings.HasPrefix(k2, strings.TrimSuffix(key, ".csv.gz")) {
		t.Errorf("keys %q and %q: one is a prefix of the other", key, k2)
	}
}

func numericOf(s string) pgtype.Numeric {
	var n pgtype.Numeric
	if err := n.Scan(s); err != nil {
		panic(err)
	}
	return n
}

// TestCopyCSVRoundTrip encodes tricky values and reads them back with a
// standard CSV reader: NULL and "" stay apart, quotes, commas and
// newlines survive, decimals and timestamps are exact.
func TestCopyCSVRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 123456000, time.FixedZone("CET", 3600))
	rows := [][]any{
		{"plain", "", nil, "with,comma", `say "hi"`, "line1\nline2\r\nline3", "ünïcødé ✓ 🛒", "  padded  ", `\N`, "NULL"},
		{int32(-7), int64(9007199254740993), 42, true, false, numeric(1999), numeric(-5), numeric(0), pgtype.Numeric{}, numericOf("123456789012345678.25")},
		{at, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), "\"", ",", "\n", `""`, "'", `\`, "\t"},
	}
	want := [][]any{
		{"plain", "", nil, "with,comma", `say "hi"`, "line1\nline2\r\nline3", "ünïcødé ✓ 🛒", "  padded  ", `\N`, "NULL"},
		{"-7", "9007199254740993", "42", "true", "false", "19.99", "-0.05", "0.00", nil, "123456789012345678.25"},
		{"2026-11-01 09:00:00.123456", "0001-01-01 00:00:00.000000", "9999-12-31 23:59:59.999999", "\"", ",", "\n", `""`, "'", `\`, "\t"},
	}
	var buf bytes.Buffer
	if err := writeCSV(&buf, 10, len(rows), func(i int) []any { return rows[i] }); err != nil {
		t.Fatal(err)
	}
	raw := buf.String()
	// Text is always quoted, NULL never: the empty string and NULL differ
	// on the wire, not only after parsing.
	if !strings.HasPrefix(raw, `"plain","",`+copyNull+`,"with,comma","say ""hi""",`) {
		t.Errorf("first line:\n%s", raw)
	}
	recs, err := parseCSV(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	got := make([][]any, len(recs))
	for i, rec := range recs {
		for _, f := range rec {
			if f == copyNull {
				got[i] = append(got[i], nil)
			} else {
				got[i] = append(got[i], f)
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\n%s", diff, raw)
	}

	// Values that COPY would not load as INSERT does send the batch to
	// INSERT; a type the encoder does not know is a bug.
	for _, v := range []any{copyNull, "nul\x00byte", "bad\xffutf8", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), pgtype.Numeric{NaN: true, Valid: true},
		pgtype.Numeric{Int: big.NewInt(1), InfinityModifier: pgtype.Infinity, Valid: true}} {
		if _, err := appendCSVValue(nil, v); !errors.Is(err, errNotStageable) {
			t.Errorf("%#v: err %v, want errNotStageable", v, err)
		}
	}
	if _, err := appendCSVValue(nil, 1.5); err == nil || errors.Is(err, errNotStageable) {
		t.Errorf("float64: err %v, want an unsupported-type error", err)
	}

	// The gzip layer: the same bytes after decompression.
	z, err := encodeCSVGzip(10, len(rows), func(i int) []any { return rows[i] })
	if err != nil {
		t.Fatal(err)
	}
	if got := gunzip(t, z); got != raw {
		t.Errorf("gzip round trip differs:\n%q\n%q", got, raw)
	}
}

// parseCSV reads CSV as COPY does (RFC 4180: quoted fields with doubled
// quotes, bare fields up to the next comma or newline), keeping every
// byte, "\r" included, where encoding/csv turns "\r\n" into "\n".
func parseCSV(s string) ([][]string, error) {
	var recs [][]string
	var rec []string
	for len(s) > 0 {
		var f strings.Builder
		if s[0] == '"' {
			s = s[1:]
			for {
				i := strings.IndexByte(s, '"')
				if i < 0 {
					return nil, errors.New("unterminated quoted field")
				}
				f.WriteString(s[:i])
				s = s[i+1:]
				if !strings.HasPrefix(s, `"`) {
					break
				}
				f.WriteByte('"')
				s = s[1:]
			}
		} else {
			i := strings.IndexAny(s, ",\n")
			if i < 0 {
				i = len(s)
			}
			if strings.ContainsAny(s[:i], `"`+"\r") {
				return nil, fmt.Errorf("bare field %q", s[:i])
			}
			f.WriteString(s[:i])
			s = s[i:]
		}
		rec = append(rec, f.String())
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case strings.HasPrefix(s, "\n"):
			s = s[1:]
			recs, rec = append(recs, rec), nil
		default:
			return nil, fmt.Errorf("field not followed by a comma or a newline: %.20q", s)
		}
	}
	if rec != nil {
		return nil, errors.New("last record without a newline")
	}
	return recs, nil
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("not gzip: % x", b[:min(len(b), 8)])
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// fakeTx records what a load executes; everything else panics.
type fakeTx struct {
	pgx.Tx
	exec func(sql string, args []any) error
}

func (f *fakeTx) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return pgconn.NewCommandTag("OK"), f.exec(sql, args)
}

// hermeticAWS keeps the AWS SDK away from the developer's credentials,
// config files and the instance metadata service: the tests talk only to
// the fake S3 on 127.0.0.1.
func hermeticAWS(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "AKIDCARTWHEELTEST", "AWS_SECRET_ACCESS_KEY": "fake-secret",
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "", "AWS_CONFIG_FILE": none,
		"AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "", "AWS_CA_BUNDLE": "", "HTTP_PROXY": "", "HTTPS_PROXY": "",
		"http_proxy": "", "https_proxy": ""} {
		t.Setenv(k, v)
	}
}

// fakeS3 serves an in-memory S3 on 127.0.0.1 with one bucket.
func fakeS3(t *testing.T, bucket string) (*s3mem.Backend, string) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	if host, _, _ := net.SplitHostPort(srv.Listener.Addr().String()); host != "127.0.0.1" {
		t.Fatalf("fake S3 listens on %s, want 127.0.0.1", host)
	}
	return backend, srv.URL
}

func testStager(t *testing.T, endpoint string, minRows string, opts ...func(*config.LoadOptions) error) *s3Stager {
	t.Helper()
	q := url.Values{"s3_bucket": {"cw-stage"}, "s3_prefix": {"/staging/"}, "s3_region": {"us-east-1"},
		"s3_endpoint": {endpoint}, "iam_role": {"arn:aws:iam::123456789012:role/cw-copy"}, "s3_min_rows": {minRows}}
	cfg, err := takeS3Params(q, Redshift)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newS3Stager(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func objectKeys(t *testing.T, b *s3mem.Backend, bucket string) []string {
	t.Helper()
	list, err := b.ListBucket(bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range list.Contents {
		keys = append(keys, c.Key)
	}
	return keys
}

// TestRedshiftS3StagedLoad runs the Redshift load of a batch through the
// stager against an in-process fake S3: the object holds the gzip CSV rows
// while the COPY runs in the load's transaction, and is gone afterwards;
// small batches and unstageable values keep the INSERT path.
func TestRedshiftS3StagedLoad(t *testing.T) {
	hermeticAWS(t)
	backend, endpoint := fakeS3(t, "cw-stage")
	stager := testStager(t, endpoint, "3")
	ctx := context.Background()

	b := &event.Batch{Stream: 2, IngestedAt: micro("2026-11-01T12:00:00.000001Z")}
	b.Events = []event.Event{
		{EventID: "e1", UserID: "u,1", Time: micro("2026-11-01T10:00:00.123456Z"), Type: event.Purchase, ProductID: "p\"1\"",
			Price: 1999, Quantity: 2, Referrer: "", Has: event.HasProductID | event.HasPrice | event.HasReferrer, Partition: 3, Offset: 10},
		{EventID: "e2", UserID: "ü\nser", Time: micro("2026-11-01T10:00:01Z"), Type: event.PageView, Quantity: 1, Device: "mobile",
			Has: event.HasDevice, Late: true, Partition: 3, Offset: 11},
		{EventID: "e3", UserID: "u3", Time: micro("2026-11-01T10:00:02Z"), Type: event.AddToCart, Quantity: 1, Category: "a,b",
			Has: event.HasCategory, Partition: 3, Offset: 12},
	}
	wantCSV := `"e1","purchase","u,1",2026-11-01 10:00:00.123456,"p""1""",19.99,2,39.98,__CARTWHEEL_NULL__,__CARTWHEEL_NULL__,__CARTWHEEL_NULL__,__CARTWHEEL_NULL__,"",false,2,3,10,2026-11-01 12:00:00.000001
"e2","page_view","ü
ser",2026-11-01 10:00:01.000000,__CARTWHEEL_NULL__,__CARTWHEEL_NULL__,1,0.00,__CARTWHEEL_NULL__,"mobile",__CARTWHEEL_NULL__,__CARTWHEEL_NULL__,__CARTWHEEL_NULL__,true,2,3,11,2026-11-01 12:00:00.000001
"e3","add_to_cart","u3",2026-11-01 10:00:02.000000,__CARTWHEEL_NULL__,__CARTWHEEL_NULL__,1,0.00,__CARTWHEEL_NULL__,__CARTWHEEL_NULL__,__CARTWHEEL_NULL__,"a,b",__CARTWHEEL_NULL__,false,2,3,12,2026-11-01 12:00:00.000001
`
	fromKey := regexp.MustCompile(`FROM 's3://cw-stage/([^']+)'`)

	t.Run("staged", func(t *testing.T) {
		var stmts []string
		tx := &pgTx{dialect: Redshift, s3: stager, tx: &fakeTx{exec: func(sql string, args []any) error {
			stmts = append(stmts, sql)
			m := fromKey.FindStringSubmatch(sql)
			if m == nil || len(args) != 0 {
				t.Fatalf("not a COPY from the bucket (%d args):\n%s", len(args), sql)
			}
			if !regexp.MustCompile(`^staging/events/\d{8}T\d{6}Z-[0-9a-f]{24}\.csv\.gz$`).MatchString(m[1]) {
				t.Errorf("object key %q", m[1])
			}
			// While the COPY runs, the object is there, gzip, with the rows.
			obj, err := backend.GetObject("cw-stage", m[1], nil)
			if err != nil {
				t.Fatalf("staged object: %v", err)
			}
			defer obj.Contents.Close()
			z, _ := io.ReadAll(obj.Contents)
			if got := gunzip(t, z); got != wantCSV {
				t.Errorf("staged CSV:\n%s\nwant:\n%s", got, wantCSV)
			}
			return nil
		}}}
		if err := tx.loadEvents(ctx, b); err != nil {
			t.Fatal(err)
		}
		if len(stmts) != 1 || !strings.HasPrefix(stmts[0], "COPY events (event_id, event_type, ") ||
			!strings.Contains(stmts[0], "IAM_ROLE 'arn:aws:iam::123456789012:role/cw-copy'\nREGION 'us-east-1'\n") {
			t.Fatalf("statements: %q", stmts)
		}
		if keys := objectKeys(t, backend, "cw-stage"); len(keys) != 0 {
			t.Errorf("objects left after the COPY: %v", keys)
		}
	})

	t.Run("copy fails", func(t *testing.T) {
		boom := errors.New("COPY failed")
		tx := &pgTx{dialect: Redshift, s3: stager, tx: &fakeTx{exec: func(string, []any) error { return boom }}}
		if err := tx.loadEvents(ctx, b); !errors.Is(err, boom) {
			t.Fatalf("err %v, want the COPY's", err)
		}
		if keys := objectKeys(t, backend, "cw-stage"); len(keys) != 0 {
			t.Errorf("objects left after a failed COPY: %v", keys)
		}
	})

	insertOnly := func(t *testing.T, b *event.Batch) {
		t.Helper()
		var stmts []string
		tx := &pgTx{dialect: Redshift, s3: stager, tx: &fakeTx{exec: func(sql string, _ []any) error {
			stmts = append(stmts, sql)
			return nil
		}}}
		if err := tx.loadEvents(ctx, b); err != nil {
			t.Fatal(err)
		}
		if len(stmts) != 1 || !strings.HasPrefix(stmts[0], "INSERT INTO events ") {
			t.Errorf("statements: %q", stmts)
		}
		if keys := objectKeys(t, backend, "cw-stage"); len(keys) != 0 {
			t.Errorf("objects uploaded: %v", keys)
		}
	}
	t.Run("small batch inserts", func(t *testing.T) {
		small := *b
		small.Events = b.Events[:2]
		insertOnly(t, &small)
	})
	t.Run("unstageable value inserts", func(t *testing.T) {
		odd := *b
		odd.Events = append([]event.Event(nil), b.Events...)
		odd.Events[1].Device = copyNull
		insertOnly(t, &odd)
	})

	t.Run("missing bucket", func(t *testing.T) {
		s := testStager(t, endpoint, "1")
		s.cfg.bucket = "no-such-bucket"
		tx := &pgTx{dialect: Redshift, s3: s, tx: &fakeTx{exec: func(sql string, _ []any) error {
			t.Errorf("executed %s", sql)
			return nil
		}}}
		err := tx.loadEvents(ctx, b)
		if err == nil || event.IsTransient(err) || !strings.Contains(err.Error(), "S3 staging: upload") {
			t.Errorf("err %v (transient %v), want a permanent upload error", err, event.IsTransient(err))
		}
	})

	t.Run("unreachable endpoint is transient", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + l.Addr().String()
		l.Close()
		s := testStager(t, dead, "1", config.WithRetryMaxAttempts(1))
		tx := &pgTx{dialect: Redshift, s3: s, tx: &fakeTx{exec: func(string, []any) error { return nil }}}
		if err := tx.loadEvents(ctx, b); !event.IsTransient(err) {
			t.Errorf("err %v, want transient", err)
		}
	})
}

// TestRedshiftS3DSN covers the staging parameters of a redshift:// DSN:
// taken off before pgx sees them, validated with clear errors that never
// carry the password.
func TestRedshiftS3DSN(t *testing.T) {
	poolConfig := func(dsn string) (*pgxpool.Config, *s3Config, error) {
		d, err := ParseDSN(dsn)
		if err != nil {
			return nil, nil, err
		}
		return pgConfig(d)
	}
	const pw = "s3cr3t-pa55"
	base := "redshift://cw:" + pw + "@cluster.example.invalid:5439/dev"
	cfg, stage, err := poolConfig(base + "?application_name=cw&s3_bucket=my-bucket&s3_prefix=/load/cw/&s3_region=eu-west-1" +
		"&s3_endpoint=http://127.0.0.1:9000&iam_role=arn:aws:iam::123456789012:role/cw&s3_min_rows=10000")
	if err != nil {
		t.Fatal(err)
	}
	for k := range cfg.ConnConfig.RuntimeParams {
		if strings.HasPrefix(k, "s3_") || k == "iam_role" {
			t.Errorf("runtime parameter %s reaches the server", k)
		}
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] != "cw" || cfg.ConnConfig.Password != pw {
		t.Errorf("other parameters lost: %v", cfg.ConnConfig.RuntimeParams)
	}
	want := &s3Config{bucket: "my-bucket", prefix: "load/cw", region: "eu-west-1", endpoint: "http://127.0.0.1:9000",
		iamRole: "arn:aws:iam::123456789012:role/cw", minRows: 10000}
	if diff := cmp.Diff(want, stage, cmp.AllowUnexported(s3Config{})); diff != "" {
		t.Errorf("staging config (-want +got):\n%s", diff)
	}

	_, stage, err = poolConfig(base + "?iam_role=default&s3_bucket=b1b")
	if err != nil || stage.prefix != defaultS3Prefix || stage.minRows != defaultS3MinRows || stage.iamRole != "default" {
		t.Errorf("defaults: %+v, %v", stage, err)
	}
	if _, stage, err = poolConfig(base); err != nil || stage != nil {
		t.Errorf("no staging parameters: %+v, %v", stage, err)
	}

	for _, tc := range []struct{ dsn, want string }{
		{base + "?s3_bucket=my-bucket", "iam_role is required with s3_bucket"},
		{base + "?iam_role=arn:aws:iam::1:role/r", "s3_bucket is required"},
		{base + "?s3_bucket=my-bucket&iam_role=role/r", "must be an IAM role ARN"},
		{base + "?s3_bucket=my-bucket&iam_role=arn:aws:iam::1:role/r'%3B+DROP+TABLE+events--", "must be an IAM role ARN"},
		{base + "?s3_bucket=my+bucket&iam_role=arn:aws:iam::1:role/r", "not a bucket name"},
		{base + "?s3_bucket=b1b&iam_role=arn:aws:iam::1:role/r&s3_prefix=a'b", "s3_prefix may not hold quotes"},
		{base + "?s3_bucket=b1b&iam_role=arn:aws:iam::1:role/r&s3_region=EU+WEST", "not a region name"},
		{base + "?s3_bucket=b1b&iam_role=arn:aws:iam::1:role/r&s3_endpoint=http://k:" + pw + "@127.0.0.1:9", "without credentials"},
		{base + "?s3_bucket=b1b&iam_role=arn:aws:iam::1:role/r&s3_min_rows=0", "s3_min_rows must be a positive"},
		{"postgres://cw:" + pw + "@localhost/db?s3_bucket=b1b&iam_role=arn:aws:iam::1:role/r", "for redshift:// DSNs only"},
		{"redshift://cw:" + pw + "@host:port/db?s3_bucket=b1b", "invalid port"},
	} {
		_, _, err := poolConfig(tc.dsn)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", RedactDSN(tc.dsn), err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("the error carries the password: %v", err)
		}
	}

	// Through Open, the configuration error comes before any connection
	// and names the DSN without its password.
	_, err = Open(context.Background(), base+"?s3_bucket=my-bucket")
	if err == nil || !strings.Contains(err.Error(), "iam_role is required") || strings.Contains(err.Error(), pw) {
		t.Errorf("Open: %v", err)
	}
}
