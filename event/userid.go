package event

import "unsafe"

// UserIDOf returns the user_id of a record that is a JSON object with a
// non-empty string user_id. Producers key records by it.
func UserIDOf(value []byte) (string, bool) {
	u, ok := UserIDBytes(value)
	return string(u), ok
}

// UserIDBytes is UserIDOf without a copy: the user_id is a slice of value
// when value spells it without escapes (as it nearly always does), and a
// new slice otherwise.
func UserIDBytes(value []byte) ([]byte, bool) {
	s := scanner{b: value}
	if err := s.object(); err != nil {
		return nil, false
	}
	f := s.fields[fUserID]
	if f.kind != kString || f.text == "" {
		return nil, false
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(f.text)))
	if base := uintptr(unsafe.Pointer(unsafe.SliceData(value))); p >= base && p < base+uintptr(len(value)) {
		off := int(p - base)
		return value[off : off+len(f.text) : off+len(f.text)], true
	}
	return []byte(f.text), true
}
