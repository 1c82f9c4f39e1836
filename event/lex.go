package event

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The decoder is a hand-written scanner for the flat event object: the
// standard library's encoding/json alone would cap the pipeline at about
// 0.4M events/s/core. It accepts exactly RFC 8259 JSON (checked against
// encoding/json by FuzzDecode) and allocates only for strings with escapes.

// field indexes the known members of an event object.
type field uint8

const (
	fUnknown field = iota
	fEventID
	fEventType
	fUserID
	fEventTime
	fProductID
	fPrice
	fQuantity
	fSessionID
	fDevice
	fCountry
	fCategory
	fReferrer
	nFields
)

var fieldNames = [nFields]string{
	fEventID: "event_id", fEventType: "event_type", fUserID: "user_id", fEventTime: "event_time",
	fProductID: "product_id", fPrice: "price", fQuantity: "quantity", fSessionID: "session_id",
	fDevice: "device", fCountry: "country", fCategory: "category", fReferrer: "referrer",
}

func lookupField(name string) field {
	switch name {
	case "event_id":
		return fEventID
	case "event_type":
		return fEventType
	case "user_id":
		return fUserID
	case "event_time":
		return fEventTime
	case "product_id":
		return fProductID
	case "price":
		return fPrice
	case "quantity":
		return fQuantity
	case "session_id":
		return fSessionID
	case "device":
		return fDevice
	case "country":
		return fCountry
	case "category":
		return fCategory
	case "referrer":
		return fReferrer
	}
	return fUnknown
}

// kind is the JSON type of a member's value.
type kind uint8

const (
	kAbsent kind = iota
	kNull
	kString
	kNumber
	kOther // true, false, object, array
)

var kindNames = [...]string{kAbsent: "absent", kNull: "null", kString: "a string", kNumber: "a number", kOther: "not a string or number"}

// raw is one member as scanned: its kind, its text (the unescaped string, or
// the number literal) and whether the string held a NUL character.
type raw struct {
	kind kind
	text string
	nul  bool
}

type scanner struct {
	b      []byte
	i      int
	fields [nFields]raw
}

var errTruncated = reject(MalformedJSON, "unexpected end of input")

func (s *scanner) syntax(what string) *RejectError {
	if s.i >= len(s.b) {
		return errTruncated
	}
	return reject(MalformedJSON, "%s at byte %d", what, s.i)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object scans the top-level object and records the known members.
func (s *scanner) object() *RejectError {
	s.ws()
	if s.i >= len(s.b) {
		if len(s.b) == 0 {
			return reject(MalformedJSON, "empty record")
		}
		return errTruncated
	}
	if s.b[s.i] != '{' {
		return s.syntax("record is not a JSON object")
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return s.end()
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.syntax("expected a member name")
		}
		name, _, err := s.str()
		if err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.syntax("expected ':'")
		}
		s.i++
		s.ws()
		f := lookupField(name)
		if f == fUnknown {
			if err := s.skip(0); err != nil {
				return err
			}
		} else if err := s.member(f); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return errTruncated
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return s.end()
		default:
			return s.syntax("expected ',' or '}'")
		}
	}
}

func (s *scanner) end() *RejectError {
	s.ws()
	if s.i != len(s.b) {
		return s.syntax("unexpected data after the object")
	}
	return nil
}

// member scans the value of a known member; the last of repeated names wins,
// as with encoding/json.
func (s *scanner) member(f field) *RejectError {
	if s.i >= len(s.b) {
		return errTruncated
	}
	switch c := s.b[s.i]; {
	case c == '"':
		v, nul, err := s.str()
		if err != nil {
			return err
		}
		s.fields[f] = raw{kind: kString, text: v, nul: nul}
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.i
		if err := s.num(); err != nil {
			return err
		}
		s.fields[f] = raw{kind: kNumber, text: unsafe.String(&s.b[start], s.i-start)}
	case c == 'n':
		if err := s.lit("null"); err != nil {
			return err
		}
		s.fields[f] = raw{kind: kNull}
	default:
		if err := s.skip(0); err != nil {
			return err
		}
		s.fields[f] = raw{kind: kOther}
	}
	return nil
}

const maxDepth = 64

// skip scans any JSON value without keeping it.
func (s *scanner) skip(depth int) *RejectError {
	if depth > maxDepth {
		return s.syntax("nesting too deep")
	}
	if s.i >= len(s.b) {
		return errTruncated
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.num()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '{':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return nil
		}
		for {
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != '"' {
				return s.syntax("expected a member name")
			}
			if _, _, err := s.str(); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return s.syntax("expected ':'")
			}
			s.i++
			s.ws()
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.b) {
				return errTruncated
			}
			if s.b[s.i] == '}' {
				s.i++
				return nil
			}
			if s.b[s.i] != ',' {
				return s.syntax("expected ',' or '}'")
			}
			s.i++
		}
	case c == '[':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return nil
		}
		for {
			s.ws()
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.b) {
				return errTruncated
			}
			if s.b[s.i] == ']' {
				s.i++
				return nil
			}
			if s.b[s.i] != ',' {
				return s.syntax("expected ',' or ']'")
			}
			s.i++
		}
	}
	return s.syntax("unexpected character")
}

func (s *scanner) lit(word string) *RejectError {
	if len(s.b)-s.i < len(word) {
		if string(s.b[s.i:]) == word[:len(s.b)-s.i] {
			return errTruncated
		}
		return s.syntax("invalid literal")
	}
	if string(s.b[s.i:s.i+len(word)]) != word {
		return s.syntax("invalid literal")
	}
	s.i += len(word)
	return nil
}

// num scans a number literal per RFC 8259 §6.
func (s *scanner) num() *RejectError {
	b := s.b
	if s.i < len(b) && b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(b) {
		return errTruncated
	}
	switch {
	case b[s.i] == '0':
		s.i++
	case b[s.i] >= '1' && b[s.i] <= '9':
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
	default:
		return s.syntax("invalid number")
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		start := s.i
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
		if s.i == start {
			return s.syntax("invalid number")
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		start := s.i
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
		if s.i == start {
			return s.syntax("invalid number")
		}
	}
	return nil
}

// str scans a string starting at the opening quote. Without escapes the
// result aliases the input. Invalid UTF-8 is malformed JSON (RFC 8259 §8.1);
// a lone surrogate escape becomes U+FFFD, as with encoding/json.
func (s *scanner) str() (string, bool, *RejectError) {
	b := s.b
	s.i++ // opening quote
	start := s.i
	for s.i < len(b) {
		if s.i+8 <= len(b) {
			// Eight bytes at a time: jump to the first quote, backslash,
			// control character or UTF-8 lead byte, if any.
			hits := specialBytes(binary.LittleEndian.Uint64(b[s.i:]))
			if hits == 0 {
				s.i += 8
				continue
			}
			s.i += bits.TrailingZeros64(hits) >> 3
		}
		c := b[s.i]
		switch {
		case c == '"':
			v := ""
			if s.i > start {
				v = unsafe.String(&b[start], s.i-start)
			}
			s.i++
			return v, false, nil
		case c == '\\':
			return s.strEscaped(start)
		case c < 0x20:
			return "", false, s.syntax("control character in string")
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, size := utf8.DecodeRune(b[s.i:])
			if r == utf8.RuneError && size <= 1 {
				return "", false, s.syntax("invalid UTF-8")
			}
			s.i += size
		}
	}
	return "", false, errTruncated
}

func (s *scanner) strEscaped(start int) (string, bool, *RejectError) {
	b := s.b
	out := make([]byte, 0, s.i-start+16)
	out = append(out, b[start:s.i]...)
	nul := false
	for s.i < len(b) {
		c := b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(out), nul, nil
		case c == '\\':
			s.i++
			if s.i >= len(b) {
				return "", false, errTruncated
			}
			e := b[s.i]
			s.i++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					return "", false, s.syntax("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					if s.i+1 < len(b) && b[s.i] == '\\' && b[s.i+1] == 'u' {
						save := s.i
						s.i += 2
						lo, ok := s.hex4()
						if !ok {
							return "", false, s.syntax("invalid \\u escape")
						}
						if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
							r2 = dec
						} else {
							s.i = save // the second escape stands alone
						}
					}
					r = r2
				}
				if r == 0 {
					nul = true
				}
				out = utf8.AppendRune(out, r)
			default:
				s.i--
				return "", false, s.syntax("invalid escape")
			}
		case c < 0x20:
			return "", false, s.syntax("control character in string")
		case c < utf8.RuneSelf:
			out = append(out, c)
			s.i++
		default:
			r, size := utf8.DecodeRune(b[s.i:])
			if r == utf8.RuneError && size <= 1 {
				return "", false, s.syntax("invalid UTF-8")
			}
			out = append(out, b[s.i:s.i+size]...)
			s.i += size
		}
	}
	return "", false, errTruncated
}

func (s *scanner) hex4() (rune, bool) {
	if len(s.b)-s.i < 4 {
		s.i = len(s.b)
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	s.i += 4
	return r, true
}

const (
	lsb8 = 0x0101010101010101
	msb8 = 0x8080808080808080
)

// specialBytes marks, with the high bit of each byte, the bytes of x that
// a string scan must look at: '"', '\\', below 0x20, above 0x7f. SWAR:
// (v - 0x01…) &^ v flags a zero byte of v, (x - 0x20…) &^ x one below 0x20,
// and a byte above 0x7f shows its own high bit. A borrow can flag a byte
// above a true hit, never below one, so the lowest flag is exact.
func specialBytes(x uint64) uint64 {
	quote := x ^ ('"' * lsb8)
	backslash := x ^ ('\\' * lsb8)
	return ((x-0x20*lsb8)&^x | (quote-lsb8)&^quote | (backslash-lsb8)&^backslash | x) & msb8
}
