package event

import (
	"bytes"
	"testing"
	"unsafe"
)

// TestUserIDBytes: the user id is a slice of the record when it is spelled
// without escapes, and a copy, unescaped, when it is not.
func TestUserIDBytes(t *testing.T) {
	rec := []byte(`{"event_id":"e1","user_id":"u42","x":1}`)
	u, ok := UserIDBytes(rec)
	if !ok || string(u) != "u42" {
		t.Fatalf("UserIDBytes = %q, %v", u, ok)
	}
	if &u[0] != &rec[bytes.Index(rec, []byte("u42"))] || cap(u) != len(u) {
		t.Error("an unescaped user id is not a capped slice of the record")
	}
	esc := []byte(`{"user_id":"u\u0034\u0032"}`)
	u, ok = UserIDBytes(esc)
	if !ok || string(u) != "u42" {
		t.Fatalf("UserIDBytes(escaped) = %q, %v", u, ok)
	}
	if p := uintptr(unsafe.Pointer(&u[0])); p >= uintptr(unsafe.Pointer(&esc[0])) && p < uintptr(unsafe.Pointer(&esc[0]))+uintptr(len(esc)) {
		t.Error("an escaped user id points into the record")
	}
	for _, bad := range []string{`{"user_id":""}`, `{"user_id":5}`, `[]`, `{"user_id":"a"} x`} {
		if u, ok := UserIDBytes([]byte(bad)); ok {
			t.Errorf("UserIDBytes(%s) = %q, want none", bad, u)
		}
	}
}

func BenchmarkUserIDOf(b *testing.B) {
	rec := []byte(`{"event_id":"e-1-000123456","event_type":"purchase","user_id":"u004211","event_time":"2026-11-01T10:00:00.123456Z","product_id":"p0042","price":19.99,"quantity":2,"session_id":"s-88","device":"mobile","country":"DE","category":"books","referrer":"google"}`)
	b.ReportAllocs()
	for b.Loop() {
		UserIDBytes(rec)
	}
}
