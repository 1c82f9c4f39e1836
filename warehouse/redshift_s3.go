package warehouse

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cartwheel-analytics/cartwheel/event"
	"github.com/cartwheel-analytics/cartwheel/result"
)

// Optional S3 staging for Redshift loads.
//
// Without it, Redshift is loaded with multi-row INSERTs (insertStatements).
// With a bucket on the DSN, a batch of at least s3_min_rows rows is written
// as one gzip CSV object and loaded with COPY … FROM 's3://…', which is
// Redshift's fast path; smaller batches keep the INSERTs, since every COPY
// costs about a second whatever its size.
//
//	redshift://user@host:5439/db?s3_bucket=B&iam_role=arn:aws:iam::123456789012:role/R
//	    &s3_prefix=cartwheel/staging   key prefix (default "cartwheel")
//	    &s3_region=eu-west-1           the bucket's region (default: the AWS SDK's)
//	    &s3_endpoint=http://host:port  an S3-compatible endpoint, path-style
//	    &s3_min_rows=5000              the smallest batch worth a COPY
//
// iam_role is the role the cluster assumes to read the bucket (or
// "default", the cluster's default role). The uploader's credentials come
// from the AWS SDK's default chain (environment, shared config, instance or
// task role), never from the DSN.
//
// Exactly-once: the COPY runs inside the batch's transaction, so the rows,
// the offsets and the session state still commit or roll back together. A
// retried batch stages a new object.
//
// Cleanup: the object is deleted as soon as the COPY statement returns
// (COPY has read it by then, whether the transaction later commits or
// not). A process that dies between the upload and the delete leaves an
// orphan under the prefix: give the bucket a lifecycle rule that expires
// objects under s3_prefix after a day or so as the backstop.

// The DSN parameters of S3 staging; pgConfig takes them off the DSN, since
// pgx would send unknown parameters to the server as runtime parameters.
const (
	paramS3Bucket   = "s3_bucket"
	paramS3Prefix   = "s3_prefix"
	paramS3Region   = "s3_region"
	paramS3Endpoint = "s3_endpoint"
	paramIAMRole    = "iam_role"
	paramS3MinRows  = "s3_min_rows"
)

var s3Params = []string{paramS3Bucket, paramS3Prefix, paramS3Region, paramS3Endpoint, paramIAMRole, paramS3MinRows}

const (
	defaultS3Prefix  = "cartwheel"
	defaultS3MinRows = 5000
	// copyNull is the NULL AS marker of the staged CSV. A marker (rather
	// than an empty field) keeps NULL and the empty string apart, since
	// EMPTYASNULL would load "" as NULL too; it has no backslash, so that
	// no string-literal escaping rule can change its meaning. A batch with
	// a text value equal to it goes through INSERT instead.
	copyNull = "__CARTWHEEL_NULL__"
	// copyTimeFormat is the TIMESTAMP format of the staged CSV (UTC, no
	// zone): in COPY time formats HH24 (like HH) is the 24-hour clock and
	// SS takes fractional seconds to the microsecond.
	copyTimeFormat = "YYYY-MM-DD HH24:MI:SS"
	csvTimeLayout  = "2006-01-02 15:04:05.000000"
)

// s3Config is the staging configuration taken off a redshift:// DSN.
type s3Config struct {
	bucket   string
	prefix   string // without leading or trailing "/"; may be empty
	region   string // empty: the AWS SDK's default chain decides
	endpoint string // empty: AWS S3
	iamRole  string
	minRows  int
}

var (
	bucketName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{1,254}$`)
	regionName = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	// safeLiteral is what may go between the quotes of a COPY string
	// literal: no quote, no backslash, no control character.
	safeLiteral = regexp.MustCompile(`^[^'\\\x00-\x1f\x7f]*$`)
)

// takeS3Params removes the staging parameters from q and returns their
// configuration, nil when the DSN has none. Its errors name parameters and
// never echo the DSN, so they cannot carry its password.
func takeS3Params(q url.Values, d Dialect) (*s3Config, error) {
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	c := &s3Config{bucket: get(paramS3Bucket), prefix: defaultS3Prefix, region: get(paramS3Region),
		endpoint: get(paramS3Endpoint), iamRole: get(paramIAMRole), minRows: defaultS3MinRows}
	has := false
	for _, k := range s3Params {
		has = has || q.Has(k)
	}
	prefix, hasPrefix := get(paramS3Prefix), q.Has(paramS3Prefix)
	minRows, hasMinRows := get(paramS3MinRows), q.Has(paramS3MinRows)
	for _, k := range s3Params {
		q.Del(k)
	}
	if !has {
		return nil, nil
	}
	if d != Redshift {
		return nil, fmt.Errorf("the S3 staging parameters (%s …) are for redshift:// DSNs only", paramS3Bucket)
	}
	if c.bucket == "" {
		return nil, fmt.Errorf("S3 staging: %s is required with %s, %s, %s, %s or %s",
			paramS3Bucket, paramIAMRole, paramS3Prefix, paramS3Region, paramS3Endpoint, paramS3MinRows)
	}
	if !bucketName.MatchString(c.bucket) {
		return nil, fmt.Errorf("S3 staging: %s %q is not a bucket name", paramS3Bucket, c.bucket)
	}
	if c.iamRole == "" {
		return nil, fmt.Errorf("S3 staging: %s is required with %s: the ARN of the IAM role that Redshift assumes to read the bucket "+
			"(e.g. %s=arn:aws:iam::123456789012:role/cartwheel-copy, or %s=default)", paramIAMRole, paramS3Bucket, paramIAMRole, paramIAMRole)
	}
	if c.iamRole != "default" && (!strings.HasPrefix(c.iamRole, "arn:") || !safeLiteral.MatchString(c.iamRole)) {
		return nil, fmt.Errorf("S3 staging: %s must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME) or default", paramIAMRole)
	}
	if hasPrefix {
		c.prefix = strings.Trim(prefix, "/")
		if !safeLiteral.MatchString(c.prefix) || !utf8.ValidString(c.prefix) {
			return nil, fmt.Errorf("S3 staging: %s may not hold quotes, backslashes or control characters", paramS3Prefix)
		}
	}
	if c.region != "" && !regionName.MatchString(c.region) {
		return nil, fmt.Errorf("S3 staging: %s %q is not a region name", paramS3Region, c.region)
	}
	if c.endpoint != "" {
		u, err := url.Parse(c.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("S3 staging: %s must be an http:// or https:// URL without credentials", paramS3Endpoint)
		}
	}
	if hasMinRows {
		n, err := strconv.Atoi(minRows)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("S3 staging: %s must be a positive number of rows", paramS3MinRows)
		}
		c.minRows = n
	}
	return c, nil
}

// s3Stager uploads batches to S3 and loads them with COPY.
type s3Stager struct {
	cfg    s3Config
	client *s3.Client
}

// newS3Stager builds the S3 client. It resolves the region but does not
// touch the network: credentials are fetched at the first upload.
func newS3Stager(ctx context.Context, c *s3Config, opts ...func(*config.LoadOptions) error) (*s3Stager, error) {
	if c.region != "" {
		opts = append([]func(*config.LoadOptions) error{config.WithRegion(c.region)}, opts...)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("S3 staging: load the AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("S3 staging: no AWS region: set %s on the DSN or AWS_REGION", paramS3Region)
	}
	cfg := *c
	cfg.region = awsCfg.Region
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.endpoint)
			o.UsePathStyle = true
		}
	})
	return &s3Stager{cfg: cfg, client: client}, nil
}

// errNotStageable says that a batch holds a value the staged CSV cannot
// carry faithfully (see csvValue); the batch is loaded with INSERT.
var errNotStageable = errors.New("value not representable in the staged CSV")

// load stages rows as one gzip CSV object and runs exec (the batch
// transaction's Exec) with the COPY statement that loads it.
func (s *s3Stager) load(ctx context.Context, table string, cols []column, n int, row func(i int) []any,
	exec func(ctx context.Context, sql string) error) error {
	body, err := encodeCSVGzip(len(cols), n, row)
	if err != nil {
		return err
	}
	key, err := s.objectKey(table)
	if err != nil {
		return err
	}
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(s.cfg.bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(body),
		ContentType: aws.String("application/gzip"),
	}); err != nil {
		return s3Error("upload s3://"+s.cfg.bucket+"/"+key, err)
	}
	defer s.remove(ctx, key)
	return exec(ctx, s.copySQL(table, cols, key))
}

// remove deletes a staged object once its COPY has returned. A failure is
// left to the bucket's lifecycle rule: the rows are loaded (or the batch is
// retried with a new object), so an orphan costs storage, not correctness.
func (s *s3Stager) remove(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.bucket), Key: aws.String(key)})
}

// objectKey names a new object PREFIX/TABLE/TIME-RANDOM.csv.gz. COPY reads
// every object whose key starts with the path it is given: the random part
// keeps one batch's key from being the prefix of another's.
func (s *s3Stager) objectKey(table string) (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	name := table + "/" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b) + ".csv.gz"
	if s.cfg.prefix != "" {
		name = s.cfg.prefix + "/" + name
	}
	return name, nil
}

// copySQL renders the COPY of one staged object. CSV quoting carries
// commas, quotes and newlines; NULL AS keeps NULL apart from ""; the
// timestamps are UTC with microseconds; MAXERROR stays 0, so one bad row
// fails the statement and the transaction. COMPUPDATE and STATUPDATE are
// off: a micro-batch is no sample to choose encodings or statistics from.
func (s *s3Stager) copySQL(table string, cols []column, key string) string {
	role := "'" + s.cfg.iamRole + "'"
	if s.cfg.iamRole == "default" {
		role = "default"
	}
	var sb strings.Builder
	sb.WriteString("COPY " + table + " (" + strings.Join(names(cols), ", ") + ")\n")
	sb.WriteString("FROM 's3://" + s.cfg.bucket + "/" + key + "'\n")
	sb.WriteString("IAM_ROLE " + role + "\n")
	if s.cfg.region != "" {
		sb.WriteString("REGION '" + s.cfg.region + "'\n")
	}
	sb.WriteString("FORMAT AS CSV GZIP\n")
	sb.WriteString("NULL AS '" + copyNull + "'\n")
	sb.WriteString("TIMEFORMAT '" + copyTimeFormat + "'\n")
	sb.WriteString("COMPUPDATE OFF STATUPDATE OFF")
	return sb.String()
}

// encodeCSVGzip renders n rows of ncols values as gzip-compressed CSV.
func encodeCSVGzip(ncols, n int, row func(i int) []any) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if err := writeCSV(zw, ncols, n, row); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeCSV writes rows as CSV: every text value quoted (quotes doubled),
// NULL as the bare marker, other values bare. One line per row, "\n".
func writeCSV(w io.Writer, ncols, n int, row func(i int) []any) error {
	line := make([]byte, 0, 512)
	for i := 0; i < n; i++ {
		vals := row(i)
		if len(vals) != ncols {
			return fmt.Errorf("row %d has %d values for %d columns", i, len(vals), ncols)
		}
		line = line[:0]
		for j, v := range vals {
			if j > 0 {
				line = append(line, ',')
			}
			var err error
			if line, err = appendCSVValue(line, v); err != nil {
				return err
			}
		}
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// appendCSVValue appends one field. It returns errNotStageable for a value
// that COPY would not load as INSERT does: text with NUL (COPY ends the
// record there) or invalid UTF-8, text equal to the NULL marker, a
// timestamp outside years 1–9999, a NaN or infinite decimal.
func appendCSVValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, copyNull...), nil
	case string:
		if x == copyNull || strings.IndexByte(x, 0) >= 0 || !utf8.ValidString(x) {
			return b, errNotStageable
		}
		b = append(b, '"')
		for k := 0; k < len(x); k++ {
			if x[k] == '"' {
				b = append(b, '"')
			}
			b = append(b, x[k])
		}
		return append(b, '"'), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case time.Time:
		x = x.UTC()
		if y := x.Year(); y < 1 || y > 9999 {
			return b, errNotStageable
		}
		return x.AppendFormat(b, csvTimeLayout), nil
	case pgtype.Numeric:
		if !x.Valid {
			return append(b, copyNull...), nil
		}
		if x.NaN || x.InfinityModifier != pgtype.Finite || x.Int == nil {
			return b, errNotStageable
		}
		if x.Exp >= 0 {
			i := new(big.Int).Mul(x.Int, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Exp)), nil))
			return i.Append(b, 10), nil
		}
		return append(b, result.FormatScaled(x.Int, int(-x.Exp))...), nil
	}
	return b, fmt.Errorf("staged CSV: unsupported value type %T", v)
}

// s3Error marks S3 failures worth retrying as transient: no answer (the
// network), throttling and server errors. Access denied, a missing bucket
// and the like are not.
func s3Error(op string, err error) error {
	err = fmt.Errorf("S3 staging: %s: %w", op, err)
	var ne net.Error
	if errors.As(err, &ne) {
		return event.Transient(err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		if c := re.HTTPStatusCode(); c >= 500 || c == 429 || c == 408 {
			return event.Transient(err)
		}
	}
	return err
}
