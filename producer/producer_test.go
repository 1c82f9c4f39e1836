package producer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cartwheel-analytics/cartwheel/broker"
	"github.com/cartwheel-analytics/cartwheel/event"
	"github.com/cartwheel-analytics/cartwheel/generator"
)

const topic = "events"

// setup starts an embedded broker with topic (parts partitions) and returns
// it with a producing client configured like the product's.
func setup(t *testing.T, parts int32) (*broker.Broker, *kgo.Client) {
	t.Helper()
	b, err := broker.Start(broker.WithTopics(broker.Topic{Name: topic, Partitions: parts}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	cl, err := kgo.NewClient(append(ClientOptions(), kgo.SeedBrokers(b.Addrs()...))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return b, cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// consume reads the n records of topic from the start, in offset order per
// partition.
func consume(t *testing.T, ctx context.Context, b *broker.Broker, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(got), n)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("fetch: %v", errs[0].Err)
		}
		got = append(got, fs.Records()...)
	}
	return got
}

// checkEnd compares a Result's End with the broker's end offsets (only
// partitions that got records are in End) and with the records read back.
func checkEnd(t *testing.T, ctx context.Context, cl *kgo.Client, res Result, recs []*kgo.Record) {
	t.Helper()
	end, err := broker.EndOffsets(ctx, cl, topic)
	if err != nil {
		t.Fatal(err)
	}
	last := make(map[int32]int64)
	for _, r := range recs {
		last[r.Partition] = max(last[r.Partition], r.Offset+1)
	}
	var total int64
	for p, e := range end {
		total += e
		if e == 0 {
			if _, ok := res.End[p]; ok {
				t.Errorf("End has empty partition %d", p)
			}
			continue
		}
		if res.End[p] != e || last[p] != e {
			t.Errorf("partition %d: End %d, broker end offset %d, last record read +1 %d", p, res.End[p], e, last[p])
		}
	}
	if total != res.Records {
		t.Errorf("Records = %d, the broker holds %d", res.Records, total)
	}
}

func TestKeyOf(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"user id", `{"event_id":"e1","user_id":"u000123","event_type":"page_view"}`, "u000123"},
		{"surrounding whitespace", ` {"user_id":"u1"}` + "\t", "u1"},
		{"escaped quote", `{"user_id":"u\"1"}`, `u"1`},
		{"escaped backslash and comma", `{"user_id":"a\\b,c"}`, `a\b,c`},
		{"unicode escape", `{"user_id":"\u00e9l\u00e8ve"}`, "élève"},
		{"non-Latin", `{"user_id":"пользователь"}`, "пользователь"},
		{"lone surrogate like encoding/json", `{"user_id":"\ud800"}`, "\ufffd"},
		{"last of duplicate keys like encoding/json", `{"user_id":"a","user_id":"b"}`, "b"},
		{"nested user_id ignored", `{"user_id":"u1","x":[1,{"user_id":"z"}]}`, "u1"},
		{"blank user id is still an id", `{"user_id":" "}`, " "},
		{"user id of the spec's maximum length", `{"user_id":"` + strings.Repeat("u", 256) + `"}`, strings.Repeat("u", 256)},

		// No usable user id: the first 16 hex digits of the record's SHA-256.
		{"number", `{"user_id":5}`, digest(`{"user_id":5}`)},
		{"null", `{"user_id":null}`, digest(`{"user_id":null}`)},
		{"empty", `{"user_id":""}`, digest(`{"user_id":""}`)},
		{"missing", `{"event_id":"e1"}`, digest(`{"event_id":"e1"}`)},
		{"only nested", `{"x":{"user_id":"a"}}`, digest(`{"x":{"user_id":"a"}}`)},
		{"other case", `{"USER_ID":"a"}`, digest(`{"USER_ID":"a"}`)},
		{"not json", `not json`, digest(`not json`)},
		{"truncated", `{"user_id":"a"`, digest(`{"user_id":"a"`)},
		{"trailing garbage", `{"user_id":"a"} x`, digest(`{"user_id":"a"} x`)},
		{"array", `[{"user_id":"a"}]`, digest(`[{"user_id":"a"}]`)},
		{"raw control character", "{\"user_id\":\"a\tb\"}", digest("{\"user_id\":\"a\tb\"}")},
		{"empty line", ``, digest(``)},
		{"user id over the spec's maximum length", `{"user_id":"` + strings.Repeat("u", 257) + `"}`,
			digest(`{"user_id":"` + strings.Repeat("u", 257) + `"}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line := []byte(tc.line)
			orig := bytes.Clone(line)
			if got := string(KeyOf(line)); got != tc.want {
				t.Errorf("KeyOf(%q) = %q, want %q", tc.line, got, tc.want)
			}
			if !bytes.Equal(line, orig) {
				t.Errorf("KeyOf modified its input: %q", line)
			}
			// The key is the consumer's view of the user, if it has one.
			if u, ok := event.UserIDOf(line); ok && len(u) <= event.MaxUserIDBytes && u != tc.want ||
				(!ok || len(u) > event.MaxUserIDBytes) && tc.want != digest(tc.line) {
				t.Errorf("UserIDOf = %q, %v; KeyOf = %q", u, ok, tc.want)
			}
		})
	}
}

// digest is the key of a record without a usable user id.
func digest(line string) string {
	sum := sha256.Sum256([]byte(line))
	return hex.EncodeToString(sum[:])[:16]
}

// TestKeyOfDigestIsStable pins the key of a record without a user id: it
// must not change between versions, or a replayed file would partition
// differently.
func TestKeyOfDigestIsStable(t *testing.T) {
	tests := []struct{ line, want string }{
		{"not json", "7ccfa1fbf3940e6f"},
		{``, "e3b0c44298fc1c14"},
		{`{"user_id":5}`, digest(`{"user_id":5}`)},
	}
	for _, tc := range tests {
		if got := string(KeyOf([]byte(tc.line))); got != tc.want {
			t.Errorf("KeyOf(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
	long := bytes.Repeat([]byte("x"), 600<<10)
	if k := KeyOf(long); len(k) != 16 || !bytes.Equal(k, KeyOf(bytes.Clone(long))) {
		t.Errorf("KeyOf of a 600 kB malformed line = %q, want 16 stable hex digits", k)
	}
}

// TestKeyOfMatchesGeneratorKeys: a replayed file (KeyOf) partitions every
// record with a user id exactly like the live generator (its key), exotic
// user ids included.
func TestKeyOfMatchesGeneratorKeys(t *testing.T) {
	cfg := generator.DefaultConfig()
	cfg.Users = 300
	cfg.ExoticUserIDs = true
	cfg.Malformed, cfg.Duplicate, cfg.OutOfOrder = 0.05, 0.02, 0.02
	g, err := generator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	exotic := 0
	for i := range 20_000 {
		rec, key, _ := g.Next(nil)
		if _, ok := event.UserIDOf(rec); !ok {
			continue
		}
		if got := KeyOf(rec); !bytes.Equal(got, key) {
			t.Fatalf("record %d %s: KeyOf = %q, generator key = %q", i, rec, got, key)
		}
		if bytes.ContainsAny(key, `"\,`) || !isASCII(key) {
			exotic++
		}
	}
	if exotic == 0 {
		t.Error("no exotic user id among the records: the test does not cover them")
	}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func TestFile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		// want holds the produced records as key=value, in input order.
		want []string
	}{
		{"empty input", "", nil},
		{"only blank lines", "\n\n\n", nil},
		{"one line without newline", `{"user_id":"u1"}`, []string{`u1={"user_id":"u1"}`}},
		{"blank lines skipped", "\n" + `{"user_id":"u1","n":1}` + "\n\n\n" + `{"user_id":"u2"}` + "\n",
			[]string{`u1={"user_id":"u1","n":1}`, `u2={"user_id":"u2"}`}},
		{"CRLF line ends", `{"user_id":"u1"}` + "\r\n" + `{"user_id":"u2"}` + "\r\n",
			[]string{`u1={"user_id":"u1"}`, `u2={"user_id":"u2"}`}},
		{"malformed lines are produced, keyed by their digest",
			"not json\n" + `{"user_id":7}` + "\n" + `{"user_id":"u\"q"}` + "\n{\n",
			[]string{digest("not json") + `=not json`, digest(`{"user_id":7}`) + `={"user_id":7}`, `u"q={"user_id":"u\"q"}`, digest("{") + `={`}},
		{"whitespace-only lines skipped", " \n\t\n" + `{"user_id":"u1"}` + "\n \t \r\n\r\n" + `{"user_id":"u2"}` + "\n   ",
			[]string{`u1={"user_id":"u1"}`, `u2={"user_id":"u2"}`}},
		{"lines with other whitespace are records", "\f\n\u00a0\n",
			[]string{digest("\f") + "=\f", digest("\u00a0") + "=\u00a0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			b, cl := setup(t, 1) // one partition: the read-back order is the produce order
			res, err := File(ctx, cl, topic, strings.NewReader(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if res.Records != int64(len(tc.want)) {
				t.Fatalf("Records = %d, want %d", res.Records, len(tc.want))
			}
			if res.End == nil {
				t.Error("End is nil")
			}
			recs := consume(t, ctx, b, len(tc.want))
			var got []string
			for _, r := range recs {
				got = append(got, string(r.Key)+"="+string(r.Value))
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Errorf("records\n got %q\nwant %q", got, tc.want)
			}
			checkEnd(t, ctx, cl, res, recs)
		})
	}
}

// TestFileManyPartitions: a user's lines share a partition and keep their
// order; End covers every partition written.
func TestFileManyPartitions(t *testing.T) {
	ctx := testCtx(t)
	b, cl := setup(t, 4)
	var in strings.Builder
	const n = 2000
	for i := range n {
		fmt.Fprintf(&in, `{"user_id":"u%d","seq":%d}`+"\n", i%37, i)
		if i%100 == 0 {
			in.WriteString("\n")
		}
	}
	res, err := File(ctx, cl, topic, strings.NewReader(in.String()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != n {
		t.Fatalf("Records = %d, want %d", res.Records, n)
	}
	recs := consume(t, ctx, b, n)
	checkEnd(t, ctx, cl, res, recs)
	if len(res.End) < 2 {
		t.Errorf("37 users in %d partition(s) only: %v", len(res.End), res.End)
	}
	partOf := make(map[string]int32)
	lastSeq := make(map[string]int)
	for _, r := range recs {
		var v struct {
			UserID string `json:"user_id"`
			Seq    int    `json:"seq"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatal(err)
		}
		k, seq := string(r.Key), v.Seq
		if k != v.UserID {
			t.Fatalf("record %s has key %q", r.Value, k)
		}
		if p, ok := partOf[k]; ok && p != r.Partition {
			t.Fatalf("user %s in partitions %d and %d", k, p, r.Partition)
		}
		partOf[k] = r.Partition
		if last, ok := lastSeq[k]; ok && seq <= last {
			t.Fatalf("user %s: seq %d after %d", k, seq, last)
		}
		lastSeq[k] = seq
	}
	if len(partOf) != 37 {
		t.Errorf("%d keys, want 37", len(partOf))
	}
	// File partitions as franz-go's producer does (Kafka's murmur2 of the
	// key), so a replayed user lands where live traffic puts it.
	for k, p := range partOf {
		r := &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte("{}")}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if r.Partition != p {
			t.Errorf("user %s: File chose partition %d, franz-go %d", k, p, r.Partition)
		}
	}
}

// TestRecordBatchEncoding: a sealed batch is a valid v2 record batch —
// length, CRC-32C, offsets and records as Kafka's format has them.
func TestRecordBatchEncoding(t *testing.T) {
	var b recordBatch
	b.reset(nil)
	type rec struct{ key, value string }
	recs := []rec{{"u1", `{"a":1}`}, {"", "x"}, {"user-3", strings.Repeat("v", 300)}}
	for _, r := range recs {
		b.add([]byte(r.key), []byte(r.value))
	}
	raw := b.seal()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(raw); err != nil {
		t.Fatal(err)
	}
	if int(rb.Length) != len(raw)-12 || rb.Magic != 2 || rb.NumRecords != 3 || rb.LastOffsetDelta != 2 ||
		rb.ProducerID != -1 || rb.ProducerEpoch != -1 || rb.FirstSequence != -1 || rb.Attributes != 0 {
		t.Errorf("header %+v", rb)
	}
	if crc := int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli))); rb.CRC != crc {
		t.Errorf("CRC %x, want %x", rb.CRC, crc)
	}
	if ts := time.Now().UnixMilli(); rb.FirstTimestamp > ts || rb.FirstTimestamp < ts-60_000 || rb.MaxTimestamp != rb.FirstTimestamp {
		t.Errorf("timestamps %d %d, now %d", rb.FirstTimestamp, rb.MaxTimestamp, ts)
	}
	in := rb.Records
	for i, want := range recs {
		var r kmsg.Record
		if err := r.ReadFrom(in); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		n := int(r.Length) + kbin.VarintLen(r.Length)
		if r.OffsetDelta != int32(i) || string(r.Key) != want.key || string(r.Value) != want.value || len(r.Headers) != 0 {
			t.Errorf("record %d = %+v, want %+v", i, r, want)
		}
		in = in[n:]
	}
	if len(in) != 0 {
		t.Errorf("%d bytes after the records", len(in))
	}
}

func TestFileReadError(t *testing.T) {
	ctx := testCtx(t)
	_, cl := setup(t, 1)
	r := io.MultiReader(strings.NewReader(`{"user_id":"u1"}`+"\n"+`{"user_id":"u2"}`+"\n"), iotest.ErrReader(errors.New("disk on fire")))
	res, err := File(ctx, cl, topic, r)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("File = %+v, %v; want the read error at line 3", res, err)
	}
}

func TestFileLineTooLong(t *testing.T) {
	ctx := testCtx(t)
	_, cl := setup(t, 1)
	long := io.LimitReader(repeatReader('x'), 64<<20+1)
	r := io.MultiReader(strings.NewReader(`{"user_id":"u1"}`+"\n"), long, strings.NewReader("\n"))
	_, err := File(ctx, cl, topic, r)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("File with a line over 64 MiB = %v, want an error at line 2", err)
	}
}

type repeatReader byte

func (c repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

func TestFileCanceled(t *testing.T) {
	_, cl := setup(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := File(ctx, cl, topic, strings.NewReader(`{"user_id":"u1"}`+"\n"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("File with a canceled context = %+v, %v; want context.Canceled", res, err)
	}
}

// TestFileLargeMalformedLine: a line without a usable user id was keyed by
// itself, so it went to Kafka twice (key and value): a malformed line of
// 600 kB exceeded the 1 MiB batch limit of ClientOptions while a valid line
// of the same size was produced, and the whole File (and so a replay)
// failed on one bad record that the consumer should have rejected. It is
// keyed by its digest now.
func TestFileLargeMalformedLine(t *testing.T) {
	pad := strings.Repeat("x", 600<<10)
	valid := `{"user_id":"u1","pad":"` + pad + `"}`
	ctx := testCtx(t)
	_, cl := setup(t, 1)
	if _, err := File(ctx, cl, topic, strings.NewReader(valid+"\n")); err != nil {
		t.Fatalf("a valid 600 kB line: %v", err)
	}
	malformed := `{"pad":"` + pad + `"}`
	if _, err := File(ctx, cl, topic, strings.NewReader(malformed+"\n")); err != nil {
		t.Fatalf("a malformed 600 kB line: %v", err)
	}
	// A user id over the spec's 256 bytes is not a usable key either (the
	// consumer rejects the record): a 600 kB one does not fail the produce.
	longID := `{"user_id":"` + pad + `"}`
	if _, err := File(ctx, cl, topic, strings.NewReader(longID+"\n")); err != nil {
		t.Fatalf("a line with a 600 kB user id: %v", err)
	}
}

// TestFileRecordTooLarge: a line whose record exceeds MaxRecordBytes stops
// File with an error naming the line and the limit; the lines before it
// are produced, none after it. CheckFile finds the same line without
// producing anything.
func TestFileRecordTooLarge(t *testing.T) {
	short := `{"user_id":"u1"}`
	tests := []struct {
		name string
		line string // the oversized line 3
		size string // in the error
	}{
		{"valid record at the limit + 1", `{"user_id":"u1","pad":"` + strings.Repeat("x", MaxRecordBytes-len(`{"user_id":"u1","pad":""}`)-1) + `"}`,
			fmt.Sprintf("record of %d bytes", MaxRecordBytes+1)},
		{"valid record with the longest key", `{"user_id":"` + strings.Repeat("u", 256) + `","pad":"` +
			strings.Repeat("x", MaxRecordBytes-256-len(`{"user_id":"","pad":""}`)-256+1) + `"}`,
			fmt.Sprintf("record of %d bytes", MaxRecordBytes+1)},
		{"malformed line over the limit", strings.Repeat("x", MaxRecordBytes-10),
			fmt.Sprintf("record of %d bytes", MaxRecordBytes-10+16)},
		{"line longer than the limit", strings.Repeat("x", MaxRecordBytes+10), fmt.Sprintf("longer than %d bytes", MaxRecordBytes)},
		{"line far longer than the limit", strings.Repeat("x", 3<<20), fmt.Sprintf("longer than %d bytes", MaxRecordBytes)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			input := short + "\n\n" + tc.line + "\n" + short + "\n"
			if _, err := CheckFile(strings.NewReader(input)); !errors.Is(err, ErrRecordTooLarge) ||
				!strings.Contains(err.Error(), "line 3 ") || !strings.Contains(err.Error(), tc.size) ||
				!strings.Contains(err.Error(), fmt.Sprint(MaxRecordBytes)) {
				t.Errorf("CheckFile = %v, want line 3, %q and the limit", err, tc.size)
			}
			ctx := testCtx(t)
			b, cl := setup(t, 1)
			res, err := File(ctx, cl, topic, strings.NewReader(input))
			if !errors.Is(err, ErrRecordTooLarge) || !strings.Contains(err.Error(), "line 3 ") || !strings.Contains(err.Error(), tc.size) {
				t.Fatalf("File = %+v, %v; want line 3 too large", res, err)
			}
			// Line 1 was produced (and acknowledged), line 4 was not.
			end, err := broker.EndOffsets(ctx, cl, topic)
			if err != nil {
				t.Fatal(err)
			}
			if end[0] != 1 {
				t.Errorf("the broker holds %d records, want line 1 only", end[0])
			}
			if recs := consume(t, ctx, b, 1); string(recs[0].Value) != short {
				t.Errorf("record %s, want line 1", recs[0].Value)
			}
		})
	}
}

// TestFileRecordAtTheLimit: a record of exactly MaxRecordBytes is produced
// through the client configured by ClientOptions, so the limit is not too
// low for what it claims.
func TestFileRecordAtTheLimit(t *testing.T) {
	ctx := testCtx(t)
	b, cl := setup(t, 1)
	head := `{"user_id":"u1","pad":"`
	line := head + strings.Repeat("x", MaxRecordBytes-len(`{"user_id":"u1","pad":""}`)-2) + `"}`
	if n := len(line) + len("u1"); n != MaxRecordBytes {
		t.Fatalf("bad fixture: record of %d bytes", n)
	}
	if n, err := CheckFile(strings.NewReader(line + "\r\n")); err != nil || n != 1 {
		t.Fatalf("CheckFile = %d, %v; want 1 record", n, err)
	}
	res, err := File(ctx, cl, topic, strings.NewReader(line+"\r\n"))
	if err != nil {
		t.Fatalf("File of a record of MaxRecordBytes: %v", err)
	}
	if res.Records != 1 {
		t.Fatalf("Records = %d", res.Records)
	}
	if recs := consume(t, ctx, b, 1); len(recs[0].Value) != len(line) {
		t.Errorf("read back %d bytes, want %d", len(recs[0].Value), len(line))
	}
}

func TestCheckFile(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"", 0},
		{"\n \n", 0},
		{`{"user_id":"u1"}` + "\nnot json\n", 2},
		{"a\r\n\t\r\nb", 2},
		{strings.Repeat("x", 500<<10) + "\n" + `{"user_id":"` + strings.Repeat("u", 500<<10) + `"}`, 2},
	}
	for _, tc := range tests {
		if n, err := CheckFile(strings.NewReader(tc.in)); err != nil || n != tc.want {
			t.Errorf("CheckFile(%.40q…) = %d, %v; want %d records", tc.in, n, err, tc.want)
		}
	}
	r := io.MultiReader(strings.NewReader(`{"user_id":"u1"}`+"\n"), iotest.ErrReader(errors.New("disk on fire")))
	if _, err := CheckFile(r); err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("CheckFile with a read error = %v, want it at line 2", err)
	}
}

// genConfig is a small, fast shop whose simulated time lies in the past,
// so Generated never waits for the wall clock.
func genConfig() generator.Config {
	cfg := generator.DefaultConfig()
	cfg.Users = 200
	cfg.Products = 50
	cfg.Malformed, cfg.Duplicate = 0.02, 0.01
	return cfg
}

type genRec struct {
	key, val string
	emitAt   time.Time
}

// expected returns the first n records of a generator of cfg.
func expected(t *testing.T, cfg generator.Config, n int) []genRec {
	t.Helper()
	g, err := generator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]genRec, n)
	for i := range out {
		rec, key, at := g.Next(nil)
		out[i] = genRec{string(key), string(rec), at}
	}
	return out
}

func TestGeneratedRecordsBound(t *testing.T) {
	for _, n := range []int64{1, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := testCtx(t)
			b, cl := setup(t, 1)
			g, err := generator.New(genConfig())
			if err != nil {
				t.Fatal(err)
			}
			res, err := Generated(ctx, cl, topic, g, Pace{Records: n})
			if err != nil {
				t.Fatal(err)
			}
			if res.Records != n {
				t.Fatalf("Records = %d, want %d", res.Records, n)
			}
			recs := consume(t, ctx, b, int(n))
			checkEnd(t, ctx, cl, res, recs)
			want := expected(t, genConfig(), int(n))
			for i, r := range recs {
				if string(r.Key) != want[i].key || string(r.Value) != want[i].val {
					t.Fatalf("record %d = %s=%s, want %s=%s", i, r.Key, r.Value, want[i].key, want[i].val)
				}
			}
			// Exactly n were drawn: the generator continues with record n.
			rec, _, _ := g.Next(nil)
			if next := expected(t, genConfig(), int(n)+1)[n]; string(rec) != next.val {
				t.Errorf("the generator was advanced past the bound: next %s, want %s", rec, next.val)
			}
		})
	}
}

func TestGeneratedManyPartitions(t *testing.T) {
	ctx := testCtx(t)
	b, cl := setup(t, 8)
	g, err := generator.New(genConfig())
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	res, err := Generated(ctx, cl, topic, g, Pace{Records: n})
	if err != nil {
		t.Fatal(err)
	}
	recs := consume(t, ctx, b, n)
	checkEnd(t, ctx, cl, res, recs)
	partOf := make(map[string]int32)
	for _, r := range recs {
		k := string(r.Key)
		if p, ok := partOf[k]; ok && p != r.Partition {
			t.Fatalf("key %q in partitions %d and %d", k, p, r.Partition)
		}
		partOf[k] = r.Partition
	}
	if len(res.End) < 4 {
		t.Errorf("%d users over only %d partitions: %v", len(partOf), len(res.End), res.End)
	}
}

func TestGeneratedUntil(t *testing.T) {
	ctx := testCtx(t)
	b, cl := setup(t, 1)
	cfg := genConfig()
	until := cfg.Start.Add(6 * time.Hour)
	var want []genRec
	for _, r := range expected(t, cfg, 100_000) {
		if r.emitAt.After(until) {
			break
		}
		want = append(want, r)
	}
	if len(want) == 0 || len(want) == 100_000 {
		t.Fatalf("bad fixture: %d records before Until", len(want))
	}
	g, err := generator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Generated(ctx, cl, topic, g, Pace{Until: until})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != int64(len(want)) {
		t.Fatalf("Records = %d, want the %d records due by Until", res.Records, len(want))
	}
	recs := consume(t, ctx, b, len(want))
	checkEnd(t, ctx, cl, res, recs)
	if last := recs[len(recs)-1]; string(last.Value) != want[len(want)-1].val {
		t.Errorf("last record %s, want %s", last.Value, want[len(want)-1].val)
	}
}

// TestGeneratedPacedStopsWithContext: with a rate cap the run waits between
// records and ends cleanly, with what was acknowledged, when ctx is
// canceled.
func TestGeneratedPacedStopsWithContext(t *testing.T) {
	_, cl := setup(t, 1)
	g, err := generator.New(genConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := time.AfterFunc(350*time.Millisecond, cancel)
	defer stop.Stop()
	start := time.Now()
	res, err := Generated(ctx, cl, topic, g, Pace{Rate: 10}) // one record every 100 ms, unbounded
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Generated = %v, want nil once its context is canceled", err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("Generated took %v to stop", elapsed)
	}
	// Records at 0, 100, 200 and 300 ms: never a burst.
	if res.Records < 2 || res.Records > 4 {
		t.Errorf("Records = %d in %v at 10/s, want 2 to 4", res.Records, elapsed)
	}
	if s := sum(res.End); s != res.Records {
		t.Errorf("End %v does not add up to Records %d", res.End, res.Records)
	}
}

// TestGeneratedUnpacedStopsWithContext: without any bound the run goes on
// as fast as the broker takes records until ctx is canceled; the records
// still buffered then fail, and the result counts the acknowledged ones.
func TestGeneratedUnpacedStopsWithContext(t *testing.T) {
	b, cl := setup(t, 2)
	g, err := generator.New(genConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the broker holds records.
	watcher, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		defer cancel()
		for ctx.Err() == nil {
			if end, err := broker.EndOffsets(ctx, watcher, topic); err == nil && sum(end) > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	res, err := Generated(ctx, cl, topic, g, Pace{})
	<-watched
	if err != nil {
		t.Fatalf("Generated = %v, want nil once its context is canceled", err)
	}
	if res.Records == 0 {
		t.Fatal("Records = 0 though the broker holds records")
	}
	rctx := testCtx(t)
	checkEnd(t, rctx, cl, res, consume(t, rctx, b, int(res.Records)))
}

// TestGeneratedStopsWhileRecordsWait: records that wait for a topic that
// does not exist fail when ctx is canceled; a cancel is a normal end.
func TestGeneratedStopsWhileRecordsWait(t *testing.T) {
	_, cl := setup(t, 1)
	g, err := generator.New(genConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := time.AfterFunc(200*time.Millisecond, cancel)
	defer stop.Stop()
	res, err := Generated(ctx, cl, "missing", g, Pace{Records: 5})
	if err != nil {
		t.Fatalf("Generated = %v, want nil once its context is canceled", err)
	}
	if res.Records != 0 || len(res.End) != 0 {
		t.Errorf("Result = %+v, want nothing acknowledged", res)
	}
}

// TestGeneratedDeadline: a context that ends by its deadline is as normal
// an end as a cancel (appliance.Run's --duration is one). Generated once
// passed over context.Canceled only: records still buffered at the
// deadline made it fail with "produce to …: context deadline exceeded".
func TestGeneratedDeadline(t *testing.T) {
	_, cl := setup(t, 1)
	g, err := generator.New(genConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Generated(ctx, cl, "missing", g, Pace{Records: 5}); err != nil {
		t.Fatalf("Generated = %v, want nil at the end of its context", err)
	}
}

func sum(m map[int32]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

// TestGeneratedClockHoldsRecords: with a live clock a record waits until
// the simulated clock reaches its emit time.
func TestGeneratedClockHoldsRecords(t *testing.T) {
	_, cl := setup(t, 1)
	cfg := genConfig()
	now := time.Now()
	cfg.Start = now.Add(-time.Hour)
	g, err := generator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A clock far behind: the simulated time reaches the first records
	// only after years, so nothing may be sent.
	clock := generator.Clock{Start: cfg.Start.Add(-24 * 365 * time.Hour), WallStart: now, Speedup: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err := Generated(ctx, cl, topic, g, Pace{Clock: &clock})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 0 || len(res.End) != 0 {
		t.Errorf("sent %d records ahead of the clock (End %v)", res.Records, res.End)
	}
}

func TestGeneratedCanceledBeforeStart(t *testing.T) {
	_, cl := setup(t, 1)
	g, err := generator.New(genConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Generated(ctx, cl, topic, g, Pace{Records: 100})
	if err != nil {
		t.Fatalf("Generated = %v, want nil for a canceled context", err)
	}
	if res.Records != 0 {
		t.Errorf("Records = %d after a cancel before the start", res.Records)
	}
}
