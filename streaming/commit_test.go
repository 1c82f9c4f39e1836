package streaming

import (
	"bytes"
	"testing"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// A dead-letter record always fits the producer's batch: a record of about
// 1 MiB (the most the events topic holds) would otherwise be refused by
// the producer at every retry, and hold the pipeline for good.
func TestDLQRecordFits(t *testing.T) {
	p := &Pipeline{cfg: config{topic: "events", dlq: "events.dlq"}}
	small := &event.Rejected{Payload: []byte(`{"x":1}`), Key: []byte("u"), Reason: event.MalformedJSON, Detail: "bad", Partition: 3, Offset: 7}
	rec := p.dlqRecord(small)
	if !bytes.Equal(rec.Value, small.Payload) || len(rec.Headers) != 3 || string(rec.Headers[2].Value) != "events/3/7" {
		t.Fatalf("small record changed: %q %v", rec.Value, rec.Headers)
	}
	big := &event.Rejected{Payload: bytes.Repeat([]byte("x"), dlqBatchMaxBytes), Key: bytes.Repeat([]byte("k"), 256),
		Reason: event.InvalidValue, Detail: "user_id is 1048576 bytes, more than 256"}
	rec = p.dlqRecord(big)
	size := len(rec.Key) + len(rec.Value)
	for _, h := range rec.Headers {
		size += len(h.Key) + len(h.Value)
	}
	if size > dlqMaxRecordBytes || len(rec.Value) < dlqMaxRecordBytes-2048 {
		t.Fatalf("large record: %d bytes with a value of %d, want at most %d and not much less", size, len(rec.Value), dlqMaxRecordBytes)
	}
	if h := rec.Headers[len(rec.Headers)-1]; h.Key != "truncated" || string(h.Value) != "1048576" {
		t.Fatalf("last header %s=%s, want truncated=1048576", h.Key, h.Value)
	}
	if !bytes.HasPrefix(big.Payload, rec.Value) {
		t.Fatal("the value is not the head of the payload")
	}
}
