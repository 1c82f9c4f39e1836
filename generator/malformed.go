package generator

import (
	"slices"
	"strconv"
)

// Kinds of malformed records, the keys of Stats.Malformed. Each record has
// exactly one defect.
const (
	KindTruncated    = "truncated"          // a valid record cut short
	KindNotJSON      = "not_json"           // log lines, HTML, Python dicts, ...
	KindNotObject    = "not_object"         // valid JSON but an array, string, number or null
	KindMissingField = "missing_field"      // a required field left out
	KindUnknownType  = "unknown_event_type" // e.g. "refund"
	KindBadPrice     = "bad_price"          // negative or above 1,000,000
	KindBadQuantity  = "bad_quantity"       // 0, negative, above 1000 or fractional
	KindBadTimestamp = "bad_timestamp"      // not an RFC 3339 date-time
	KindFutureTime   = "future_time"        // 10–50 years after the simulated clock
	KindWrongType    = "wrong_type"         // a string where a number belongs or vice versa
	KindBadEventID   = "bad_event_id"       // empty or longer than 128 bytes
)

const (
	mTruncated = iota
	mNotJSON
	mNotObject
	mMissingField
	mUnknownType
	mBadPrice
	mBadQuantity
	mBadTimestamp
	mFutureTime
	mWrongType
	mBadEventID
	numMalformedKinds
)

var malformedKinds = [numMalformedKinds]string{
	KindTruncated, KindNotJSON, KindNotObject, KindMissingField, KindUnknownType,
	KindBadPrice, KindBadQuantity, KindBadTimestamp, KindFutureTime, KindWrongType, KindBadEventID,
}

// MalformedKinds lists the kinds of malformed records in a stable order.
func MalformedKinds() []string { return slices.Clone(malformedKinds[:]) }

// MalformedReason returns the rejection reason of the product spec (§1) that
// a consumer should give a malformed record of the given kind, or "".
func MalformedReason(kind string) string {
	switch kind {
	case KindTruncated, KindNotJSON, KindNotObject:
		return "malformed_json"
	case KindMissingField:
		return "missing_field"
	case KindUnknownType:
		return "unknown_event_type"
	case KindBadPrice, KindBadQuantity, KindBadTimestamp, KindWrongType, KindBadEventID:
		return "invalid_value"
	case KindFutureTime:
		return "future_event_time"
	}
	return ""
}

// MalformedKey is the record key of malformed records without a usable
// user id. Do not modify it.
var MalformedKey = []byte("malformed")

// Variants. None is empty or blank: a JSON-lines reader may skip such lines,
// which would lose a record.
var (
	notJSON = [...]string{
		`this is not json`,
		`<html><head><title>502 Bad Gateway</title></head></html>`,
		`event_type=purchase user_id=u000001 price=9.99`,
		`{'event_id': 'e-1', 'event_type': 'page_view'}`,
		`{"event_id":"e-1","event_type":"purchase",,}`,
		`{"event_id":"e-1","event_type":"purchase","price":NaN}`,
		`ERROR 500: upstream timeout`,
	}
	notObject = [...]string{
		`[{"event_type":"purchase"}]`,
		`"page_view"`,
		`null`,
		`42`,
		`true`,
	}
	unknownTypes = [...]string{`"refund"`, `"wishlist"`, `"checkout"`, `"PURCHASE"`, `"page-view"`, `""`}
	badQuantity  = [...]string{`0`, `-1`, `1001`, `2.5`, `100000`}
	badPrices    = [...]string{`1000000.01`, `2500000.00`, `-0.01`} // and the negated price
)

// recBuilder assembles a record from named raw JSON values, so that one
// value can be replaced or dropped before it is written out.
type recBuilder struct {
	arena  []byte
	fields []mfield
}

type mfield struct {
	name       string
	start, end int // value: arena[start:end]
	drop       bool
}

func (b *recBuilder) reset() {
	b.arena = b.arena[:0]
	b.fields = b.fields[:0]
}

// add ends a field whose value was appended to the arena from start on.
func (b *recBuilder) add(name string, start int) {
	b.fields = append(b.fields, mfield{name: name, start: start, end: len(b.arena)})
}

func (b *recBuilder) find(name string) *mfield {
	for i := range b.fields {
		if b.fields[i].name == name {
			return &b.fields[i]
		}
	}
	return nil
}

// set replaces the value of a field with raw JSON text.
func (b *recBuilder) set(name string, v string) {
	f := b.find(name)
	f.start = len(b.arena)
	b.arena = append(b.arena, v...)
	f.end = len(b.arena)
}

func (b *recBuilder) appendTo(dst []byte) []byte {
	dst = append(dst, '{')
	first := true
	for _, f := range b.fields {
		if f.drop {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, f.name...)
		dst = append(dst, '"', ':')
		dst = append(dst, b.arena[f.start:f.end]...)
	}
	return append(dst, '}')
}

// malformed appends a record with one defect of a random kind. Apart from
// the defect it looks like a real event at the current simulated time.
func (g *Generator) malformed(dst []byte) ([]byte, []byte) {
	r, w := g.noise, g.w
	k := r.IntN(numMalformedKinds)
	g.c.malformed[k]++
	switch k {
	case mNotJSON:
		return append(dst, notJSON[r.IntN(len(notJSON))]...), MalformedKey
	case mNotObject:
		return append(dst, notObject[r.IntN(len(notObject))]...), MalformedKey
	}

	u := w.userPick.pick(r)
	p := w.prodPick.pick(r)
	typ := typeAddToCart + uint8(r.IntN(2))
	switch k {
	case mTruncated, mUnknownType, mBadTimestamp, mFutureTime, mBadEventID:
		if r.Float64() < 0.4 {
			typ = typePageView
		}
	}
	t := g.simNow
	if k == mFutureTime {
		// Far enough ahead to be rejected by any consumer whose clock is
		// not decades off, yet a valid date.
		t += 10*365*usPerDay + r.Int64N(40*365*usPerDay)
	}
	g.malSeq++

	b := &g.mb
	b.reset()
	s := len(b.arena)
	b.arena = append(b.arena, g.malPrefix...)
	b.arena = strconv.AppendUint(b.arena, g.malSeq, 10)
	b.arena = append(b.arena, '"')
	b.add("event_id", s)
	s = len(b.arena)
	b.arena = append(append(append(b.arena, '"'), typeNames[typ]...), '"')
	b.add("event_type", s)
	s = len(b.arena)
	id := w.ref(u)
	b.arena = append(b.arena, w.quoted(id)...)
	b.add("user_id", s)
	s = len(b.arena)
	b.arena = append(b.arena, '"')
	b.arena = g.tf.append(b.arena, t)
	b.arena = append(b.arena, '"')
	b.add("event_time", s)
	s = len(b.arena)
	b.arena = append(b.arena, w.productID(p)...)
	b.add("product_id", s)
	if typ != typePageView {
		s = len(b.arena)
		b.arena = append(b.arena, w.price(p)...)
		b.add("price", s)
		s = len(b.arena)
		b.arena = append(b.arena, '1')
		b.add("quantity", s)
	}
	s = len(b.arena)
	b.arena = append(b.arena, '"')
	b.arena = appendHex16(b.arena, r.Uint64())
	b.arena = append(b.arena, '"')
	b.add("session_id", s)
	s = len(b.arena)
	b.arena = append(b.arena, deviceFrag[w.users[u].device][len(`,"device":`):]...)
	b.add("device", s)
	s = len(b.arena)
	b.arena = append(b.arena, countryFrag[w.users[u].country][len(`,"country":`):]...)
	b.add("country", s)
	s = len(b.arena)
	b.arena = append(b.arena, categoryFrag[w.prodCat[p]][len(`,"category":`):]...)
	b.add("category", s)
	s = len(b.arena)
	b.arena = append(b.arena, referrerFrag[w.referrerPick.pick(r)][len(`,"referrer":`):]...)
	b.add("referrer", s)

	key := w.raw(id)
	switch k {
	case mTruncated:
		n := len(dst)
		dst = b.appendTo(dst)
		cut := n + 1 + r.IntN(len(dst)-n-1)
		for cut > n+1 && dst[cut]&0xc0 == 0x80 { // keep the text valid UTF-8
			cut--
		}
		return dst[:cut], MalformedKey
	case mMissingField:
		names := [...]string{"event_id", "event_type", "user_id", "event_time", "product_id", "price"}
		f := b.find(names[r.IntN(len(names))])
		f.drop = true
		if f.name == "user_id" {
			key = MalformedKey
		}
	case mUnknownType:
		b.set("event_type", unknownTypes[r.IntN(len(unknownTypes))])
	case mBadPrice:
		if v := r.IntN(len(badPrices) + 1); v < len(badPrices) {
			b.set("price", badPrices[v])
		} else {
			b.set("price", "-"+string(w.price(p)))
		}
	case mBadQuantity:
		b.set("quantity", badQuantity[r.IntN(len(badQuantity))])
	case mBadTimestamp:
		f := b.find("event_time")
		valid := string(b.arena[f.start:f.end]) // "2006-01-02T15:04:05.000000Z"
		switch r.IntN(6) {
		case 0:
			b.set("event_time", `"yesterday"`)
		case 1:
			b.set("event_time", `""`)
		case 2:
			b.set("event_time", `"2026-13-45T25:61:00Z"`)
		case 3: // day/month/year
			b.set("event_time", `"`+valid[9:11]+"/"+valid[6:8]+"/"+valid[1:5]+" "+valid[12:20]+`"`)
		case 4: // an offset of 25 hours
			b.set("event_time", valid[:len(valid)-2]+`+25:00"`)
		default: // epoch milliseconds as a string
			b.set("event_time", `"`+strconv.FormatInt(t/1000, 10)+`"`)
		}
	case mWrongType:
		switch r.IntN(5) {
		case 0:
			b.set("price", `"`+string(w.price(p))+`"`)
		case 1:
			b.set("quantity", `"2"`)
		case 2:
			b.set("user_id", strconv.Itoa(int(u)))
			key = MalformedKey
		case 3:
			b.set("event_time", strconv.FormatInt(t/1000, 10))
		default:
			b.set("product_id", strconv.Itoa(int(p)))
		}
	case mBadEventID:
		if r.IntN(2) == 0 {
			b.set("event_id", `""`)
		} else {
			f := b.find("event_id")
			id := string(b.arena[f.start : f.end-1])
			pad := make([]byte, 130+r.IntN(170)-len(id)+1)
			for i := range pad {
				pad[i] = 'x'
			}
			b.set("event_id", id+"-"+string(pad)+`"`)
		}
	}
	return b.appendTo(dst), key
}
