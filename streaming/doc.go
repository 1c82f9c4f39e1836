// Package streaming turns raw event records into validated events and
// event-time sessions, and commits them exactly once to a Store.
//
// # Data flow
//
// A Kafka record's value is decoded and validated (event.Decoder); accepted
// events are de-duplicated and handed to the partition's sessionizer;
// rejected records keep their raw payload and a reason. A Pipeline owns the state of
// every assigned partition, cuts micro-batches by size and time, and commits
// each batch — events, rejections, closed sessions and a checkpoint per
// partition — in one Store transaction. On (re)assignment it rebuilds a
// partition's state from the Store and seeks to the stored offset, so a crash
// anywhere loses and duplicates nothing.
//
// # Semantics
//
// Sessions follow Spark's session_window: a user's on-time events, ordered by
// event time, split where the gap is at least the session gap. The watermark
// of a partition is its maximum accepted event time minus the allowed
// lateness; an event older than the watermark is late: it is stored but joins
// no session. A session closes once the watermark reaches its end plus the
// gap, and closed sessions are never rewritten.
package streaming
