package generator

import (
	"strconv"
	"time"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. It escapes what RFC 8259
// requires (quote, backslash, control characters) and replaces invalid UTF-8,
// so that the output is valid whatever s holds.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(dst []byte, v uint64, width int) []byte {
	var buf [20]byte
	b := strconv.AppendUint(buf[:0], v, 10)
	for range width - len(b) {
		dst = append(dst, '0')
	}
	return append(dst, b...)
}

// appendCents appends an amount of cents with exactly two decimals.
func appendCents(dst []byte, cents int64) []byte {
	if cents < 0 {
		dst = append(dst, '-')
		cents = -cents
	}
	dst = strconv.AppendInt(dst, cents/100, 10)
	c := cents % 100
	return append(dst, '.', byte('0'+c/10), byte('0'+c%10))
}

// appendHex16 appends v as 16 lowercase hex digits.
func appendHex16(dst []byte, v uint64) []byte {
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return append(dst, b[:]...)
}

// timeFormatter formats microsecond timestamps as RFC 3339 UTC with six
// fractional digits. It caches the date part: events arrive day by day.
type timeFormatter struct {
	day  int64
	date [11]byte // "2006-01-02T"
	ok   bool
}

func (f *timeFormatter) append(dst []byte, us int64) []byte {
	day := floorDiv(us, usPerDay)
	if !f.ok || day != f.day {
		f.day, f.ok = day, true
		copy(f.date[:], time.Unix(day*86400, 0).UTC().AppendFormat(f.date[:0], "2006-01-02T"))
	}
	dst = append(dst, f.date[:]...)
	rem := us - day*usPerDay
	sec := rem / usPerSec
	frac := rem % usPerSec
	h, m, s := sec/3600, sec/60%60, sec%60
	dst = append(dst,
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+m/10), byte('0'+m%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+frac/100000), byte('0'+frac/10000%10), byte('0'+frac/1000%10),
		byte('0'+frac/100%10), byte('0'+frac/10%10), byte('0'+frac%10), 'Z')
	return dst
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
