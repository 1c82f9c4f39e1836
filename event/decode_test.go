package event

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var testNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC).UnixMicro()

func us(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMicro()
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Event
	}{
		{"page view minimal", `{"event_id":"e1","event_type":"page_view","user_id":"u1","event_time":"2026-11-01T10:00:00Z"}`,
			Event{EventID: "e1", UserID: "u1", Type: PageView, Time: us("2026-11-01T10:00:00Z"), Quantity: 1}},
		{"purchase with everything", `{"event_id":"e2","event_type":"purchase","user_id":"u1","event_time":"2026-11-01T10:00:00.123456Z",
			"product_id":"p1","price":19.99,"quantity":3,"session_id":"s","device":"mobile","country":"DE","category":"books","referrer":"google"}`,
			Event{EventID: "e2", UserID: "u1", Type: Purchase, Time: us("2026-11-01T10:00:00.123456Z"), ProductID: "p1", Price: 1999,
				Quantity: 3, ClientSessionID: "s", Device: "mobile", Country: "DE", Category: "books", Referrer: "google",
				Has: HasProductID | HasPrice | HasClientSessionID | HasDevice | HasCountry | HasCategory | HasReferrer}},
		{"offset is normalised to UTC", `{"event_id":"e3","event_type":"page_view","user_id":"u","event_time":"2026-11-01T11:01:00+01:00"}`,
			Event{EventID: "e3", UserID: "u", Type: PageView, Time: us("2026-11-01T10:01:00Z"), Quantity: 1}},
		{"no offset means UTC, space separator, nanoseconds truncated", `{"event_id":"e4","event_type":"page_view","user_id":"u","event_time":"2026-11-01 10:01:00.1234569"}`,
			Event{EventID: "e4", UserID: "u", Type: PageView, Time: us("2026-11-01T10:01:00.123456Z"), Quantity: 1}},
		{"escapes and non-Latin user", `{"event_id":"e\u0035","event_type":"page_view","user_id":"bob, \"the builder\" 用户","event_time":"2026-11-01T10:00:00-0530"}`,
			Event{EventID: "e5", UserID: `bob, "the builder" 用户`, Type: PageView, Time: us("2026-11-01T15:30:00Z"), Quantity: 1}},
		{"unknown fields and nulls ignored", `{"x":{"a":[1,2,{"b":null}]},"event_id":"e6","event_type":"add_to_cart","user_id":"u","event_time":"2026-11-01T10:00:00Z","product_id":"p","price":1e2,"device":null}`,
			Event{EventID: "e6", UserID: "u", Type: AddToCart, Time: us("2026-11-01T10:00:00Z"), ProductID: "p", Price: 10000, Quantity: 1, Has: HasProductID | HasPrice}},
		{"price rounds half up to cents", `{"event_id":"e7","event_type":"purchase","user_id":"u","event_time":"2026-11-01T10:00:00Z","product_id":"p","price":0.005,"quantity":2.0}`,
			Event{EventID: "e7", UserID: "u", Type: Purchase, Time: us("2026-11-01T10:00:00Z"), ProductID: "p", Price: 1, Quantity: 2, Has: HasProductID | HasPrice}},
		{"last repeated member wins", `{"event_id":"a","event_id":"b","event_type":"page_view","user_id":"u","event_time":"2026-11-01T10:00:00Z"}`,
			Event{EventID: "b", UserID: "u", Type: PageView, Time: us("2026-11-01T10:00:00Z"), Quantity: 1}},
		{"max price and quantity", `{"event_id":"e8","event_type":"purchase","user_id":"u","event_time":"2026-11-01T10:00:00Z","product_id":"p","price":1000000,"quantity":1000}`,
			Event{EventID: "e8", UserID: "u", Type: Purchase, Time: us("2026-11-01T10:00:00Z"), ProductID: "p", Price: 100000000, Quantity: 1000, Has: HasProductID | HasPrice}},
		{"just under 24h ahead", `{"event_id":"e9","event_type":"page_view","user_id":"u","event_time":"2026-11-02T12:00:00Z"}`,
			Event{EventID: "e9", UserID: "u", Type: PageView, Time: us("2026-11-02T12:00:00Z"), Quantity: 1}},
	}
	d := NewDecoder()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Decode([]byte(tt.in), testNow)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeRevenue(t *testing.T) {
	d := NewDecoder()
	e, err := d.Decode([]byte(`{"event_id":"e","event_type":"purchase","user_id":"u","event_time":"2026-11-01T10:00:00Z","product_id":"p","price":20.00,"quantity":2}`), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if e.Revenue() != 4000 {
		t.Errorf("revenue %d cents, want 4000", e.Revenue())
	}
	e.Type = AddToCart
	if e.Revenue() != 0 {
		t.Errorf("add_to_cart revenue %d, want 0", e.Revenue())
	}
}

func TestDecodeRejects(t *testing.T) {
	const base = `"event_id":"e","event_type":"page_view","user_id":"u","event_time":"2026-11-01T10:00:00Z"`
	tests := []struct {
		in     string
		reason Reason
		detail string // a substring of the detail
	}{
		{``, MalformedJSON, "empty"},
		{`not json`, MalformedJSON, "not a JSON object"},
		{`{` + base, MalformedJSON, "end of input"},
		{`{` + base + `}}`, MalformedJSON, "after the object"},
		{`[1]`, MalformedJSON, "not a JSON object"},
		{`{` + base + `,"x":01}`, MalformedJSON, "byte"},
		{`{` + base + `,"x":"a` + "\x01" + `"}`, MalformedJSON, "control character"},
		{`{` + base + `,"x":"` + "\xff" + `"}`, MalformedJSON, "UTF-8"},
		{`{` + base + `,"x":tru}`, MalformedJSON, "literal"},
		{`{"event_type":"page_view","user_id":"u","event_time":"2026-11-01T10:00:00Z"}`, MissingField, "event_id"},
		{`{"event_id":"e","event_type":"page_view","user_id":null,"event_time":"2026-11-01T10:00:00Z"}`, MissingField, "user_id"},
		{`{"event_id":"e","event_type":"purchase","user_id":"u","event_time":"2026-11-01T10:00:00Z","price":1}`, MissingField, "product_id is required for purchase"},
		{`{"event_id":"e","event_type":"add_to_cart","user_id":"u","event_time":"2026-11-01T10:00:00Z","product_id":"p"}`, MissingField, "price"},
		{`{"event_id":"e","event_type":"refund","user_id":"u","event_time":"2026-11-01T10:00:00Z"}`, UnknownEventType, `"refund"`},
		{`{"event_id":"e","event_type":7,"user_id":"u","event_time":"2026-11-01T10:00:00Z"}`, InvalidValue, "event_type must be a string"},
		{`{"event_id":"","event_type":"page_view","user_id":"u","event_time":"2026-11-01T10:00:00Z"}`, InvalidValue, "event_id is empty"},
		{`{"event_id":"` + strings.Repeat("x", 129) + `","event_type":"page_view","user_id":"u","event_time":"2026-11-01T10:00:00Z"}`, InvalidValue, "129 bytes"},
		{`{"event_id":"e","event_type":"page_view","user_id":"` + strings.Repeat("é", 129) + `","event_time":"2026-11-01T10:00:00Z"}`, InvalidValue, "258 bytes"},
		{`{"event_id":"e","event_type":"page_view","user_id":"a\u0000b","event_time":"2026-11-01T10:00:00Z"}`, InvalidValue, "NUL"},
		{`{"event_id":"e","event_type":"page_view","user_id":"u","event_time":"2026-13-01T10:00:00Z"}`, InvalidValue, "event_time"},
		{`{"event_id":"e","event_type":"page_view","user_id":"u","event_time":"2026-02-29T10:00:00Z"}`, InvalidValue, "event_time"},
		{`{"event_id":"e","event_type":"page_view","user_id":"u","event_time":"2026-11-01"}`, InvalidValue, "event_time"},
		{`{"event_id":"e","event_type":"page_view","user_id":"u","event_time":1700000000}`, InvalidValue, "event_time must be a string"},
		{`{` + base + `,"price":-1}`, InvalidValue, "price"},
		{`{` + base + `,"price":-0.001}`, InvalidValue, "price"},
		{`{` + base + `,"price":1000000.01}`, InvalidValue, "price"},
		{`{` + base + `,"price":"20.00"}`, InvalidValue, "price must be a number"},
		{`{` + base + `,"quantity":0}`, InvalidValue, "quantity"},
		{`{` + base + `,"quantity":1001}`, InvalidValue, "quantity"},
		{`{` + base + `,"quantity":1.5}`, InvalidValue, "quantity"},
		{`{` + base + `,"device":true}`, InvalidValue, "device must be a string"},
		{`{"event_id":"e","event_type":"page_view","user_id":"u","event_time":"2026-11-02T12:00:00.000001Z"}`, FutureEventTime, "24h"},
	}
	d := NewDecoder()
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := d.Decode([]byte(tt.in), testNow)
			re, ok := err.(*RejectError)
			if !ok {
				t.Fatalf("err = %v, want a rejection %s", err, tt.reason)
			}
			if re.Reason != tt.reason || !strings.Contains(re.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s containing %q", re.Reason, re.Detail, tt.reason, tt.detail)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	for in, want := range map[string]string{
		"1970-01-01T00:00:00Z":          "1970-01-01T00:00:00Z",
		"0001-01-01T00:00:00Z":          "0001-01-01T00:00:00Z",
		"2024-02-29T23:59:59.999999Z":   "2024-02-29T23:59:59.999999Z",
		"2026-11-01t10:00z":             "2026-11-01T10:00:00Z",
		"2026-11-01T10:00:00+05":        "2026-11-01T05:00:00Z",
		"2026-11-01T00:30:00-02:30":     "2026-11-01T03:00:00Z",
		"1969-12-31T23:59:59.5Z":        "1969-12-31T23:59:59.5Z",
		"2026-11-01T10:00:00,25+00:00":  "2026-11-01T10:00:00.25Z",
		"9999-12-31T23:59:59.999999999": "9999-12-31T23:59:59.999999Z",
	} {
		got, ok := parseTimestamp(in)
		if !ok || got != us(want) {
			t.Errorf("parseTimestamp(%q) = %v %v, want %v", in, TimeOf(got), ok, want)
		}
	}
	for _, in := range []string{"2026-11-01T24:00:00Z", "2026-11-01T10:60:00Z", "2026-11-01T10:00:60Z", "2026-04-31T10:00:00Z",
		"2026-11-01T10:00:00+24:00", "2026-11-01T10:00:00.Z", "2026-11-01X10:00:00Z", "2026-11-01T10:00:00 Z", "2026-11-1T10:00:00Z",
		"+2026-11-01T10:00:00Z", "2026-11-01T10:00:00+1"} {
		if _, ok := parseTimestamp(in); ok {
			t.Errorf("parseTimestamp(%q) accepted", in)
		}
	}
}

func TestParseCents(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "-0": 0, "19.99": 1999, "19.994": 1999, "19.995": 2000, "1e2": 10000,
		"1.5E-1": 15, "0.0049999": 0, "1000000": 100000000, "00012": -1, "123456789012345": -1, "1e400": -1, "1e-400": 0} {
		if in == "00012" {
			continue // not a JSON number; the scanner rejects it first
		}
		got, ok := parseCents(in)
		if want < 0 {
			if ok && got <= MaxPriceCents {
				t.Errorf("parseCents(%q) = %d, want out of range", in, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("parseCents(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
}

// FuzzDecode checks the scanner against encoding/json: whatever the input,
// Decode must not panic; JSON that encoding/json rejects must be
// malformed_json; an accepted record must carry the values encoding/json
// sees.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"event_id":"e1","event_type":"page_view","user_id":"u1","event_time":"2026-11-01T10:00:00Z"}`,
		`{"event_id":"e2","event_type":"purchase","user_id":"o'brien","event_time":"2026-11-01T10:00:00.5+01:00","product_id":"p","price":19.99,"quantity":2,"device":"mobile"}`,
		`{"event_id":"\ud83d\ude00","event_type":"add_to_cart","user_id":"用户","event_time":"2026-11-01 10:00:00","product_id":"p","price":1e1,"extra":[{"a":null},true,false,-0.5e-3]}`,
		`{"event_id":"e","event_type":"page_view","user_id":"\ud800","event_time":"2026-11-01T10:00:00Z"}`,
		`not json`, `{"a":`, `{}`, `[]`, `"x"`, `{"event_id":1}`, "{\"event_id\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	d := NewDecoder()
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := d.Decode(in, testNow)
		valid := json.Valid(in) && utf8.Valid(in)
		if !valid {
			if ReasonOf(err) != MalformedJSON {
				t.Fatalf("invalid JSON %q: got %v, want malformed_json", in, err)
			}
			return
		}
		if err != nil {
			if ReasonOf(err) == MalformedJSON {
				// Valid JSON is refused only when it is not an object or
				// nests deeper than we scan.
				if !strings.Contains(err.Error(), "nesting") && !strings.Contains(err.Error(), "not a JSON object") {
					t.Fatalf("valid JSON %q rejected as malformed: %v", in, err)
				}
			}
			return
		}
		var m map[string]any
		if err := json.Unmarshal(in, &m); err != nil {
			t.Fatalf("accepted %q but encoding/json says %v", in, err)
		}
		for name, got := range map[string]string{"event_id": e.EventID, "user_id": e.UserID, "event_type": e.Type.String()} {
			if m[name] != got {
				t.Fatalf("%s: got %q, encoding/json %q (input %q)", name, got, m[name], in)
			}
		}
		if p, ok := m["price"].(float64); ok && math.Abs(p*100-float64(e.Price)) > 0.5000001 {
			t.Fatalf("price %v decoded as %d cents", p, e.Price)
		}
		if q, ok := m["quantity"].(float64); ok && float64(e.Quantity) != q {
			t.Fatalf("quantity %v decoded as %d", q, e.Quantity)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	rec := []byte(`{"event_id":"e-1-000123456","event_type":"purchase","user_id":"u004211","event_time":"2026-11-01T10:00:00.123456Z","product_id":"p0042","price":19.99,"quantity":2,"session_id":"s-88","device":"mobile","country":"DE","category":"books","referrer":"google"}`)
	d := NewDecoder()
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(rec, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSpecialBytes(t *testing.T) {
	// slow returns the index of the first special byte, or 8.
	slow := func(b []byte) int {
		for i, c := range b {
			if c == '"' || c == '\\' || c < 0x20 || c > 0x7f {
				return i
			}
		}
		return 8
	}
	rng := rand.New(rand.NewPCG(1, 2))
	special := []byte{'"', '\\', 0, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xff, 'a', '#', ']', '[', 0x5b, 0x5d, 0x23}
	b := make([]byte, 8)
	for range 200_000 {
		for i := range b {
			if rng.IntN(3) == 0 {
				b[i] = special[rng.IntN(len(special))]
			} else {
				b[i] = byte(rng.IntN(256))
			}
		}
		first := 8
		if h := specialBytes(binary.LittleEndian.Uint64(b)); h != 0 {
			first = bits.TrailingZeros64(h) >> 3
		}
		if want := slow(b); first != want {
			t.Fatalf("first special byte of %q: %d, want %d", b, first, want)
		}
	}
}
