package warehouse

import (
	"strings"
	"unicode/utf8"
)

// MaxPayloadBytes bounds the text of a rejected record's payload: Redshift's
// widest VARCHAR is 65535 bytes. The dead-letter topic keeps every byte.
const MaxPayloadBytes = 65000

// payloadText renders a raw record as storable text: invalid UTF-8 and NUL
// characters (which PostgreSQL's text cannot hold) become U+FFFD, and an
// oversized payload is cut at a character boundary.
func payloadText(b []byte) string {
	s := cleanText(string(b))
	if len(s) > MaxPayloadBytes {
		cut := MaxPayloadBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

func cleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
