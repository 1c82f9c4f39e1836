package event

// Batch is the unit of an exactly-once commit.
type Batch struct {
	Stream      int32
	Events      []Event
	Rejected    []Rejected
	Sessions    []Session
	Checkpoints []Checkpoint
	// IngestedAt is the wall-clock time of the batch cut, µs: the events'
	// ingested_at and the rejections' received_at.
	IngestedAt int64
	// Prepared is the store's own encoding of the rows, made by Prepare or
	// by Commit, and kept for a retry of the commit.
	Prepared any
}

// Rejected is a record that ended in rejected_events.
type Rejected struct {
	Payload   []byte // the raw record value
	Key       []byte
	Reason    Reason
	Detail    string
	Partition int32
	Offset    int64
}

// Checkpoint is the per-partition bookkeeping committed with the rows it
// covers. Together with the committed events it is the partition's whole
// state: open sessions are rebuilt from the on-time events at or after
// OpenFrom, and the de-duplication sets from the events at or after
// DedupeStarts[0].
type Checkpoint struct {
	Partition int32
	// PrevOffset is the NextOffset the store must hold before this commit,
	// or -1 when the partition has never been committed.
	PrevOffset int64
	NextOffset int64
	// MaxEventTime is the partition's maximum accepted event time (µs), or
	// NoTime; the watermark is MaxEventTime minus the allowed lateness.
	MaxEventTime int64
	// OpenFrom is at or before the start of every open session (µs), or
	// NoTime when no session is open.
	OpenFrom     int64
	DedupeGen    int64
	DedupeStarts [3]int64
}

// NoTime marks an absent time in a Checkpoint (stored as NULL).
const NoTime int64 = -1 << 63

// Snapshot is a partition's committed state.
type Snapshot struct {
	Checkpoint *Checkpoint
	// OpenEvents are the on-time events of the partition with event_time
	// at or after OpenFrom.
	OpenEvents []StoredEvent
	// ClosedSessions are the partition's closed sessions that end at or after
	// OpenFrom; the open events inside them are not open.
	ClosedSessions []SessionSpan
	// RecentIDs are the accepted event ids at or after DedupeStarts[0].
	RecentIDs []StoredID
}

// StoredEvent is what rebuilding a session needs of an event.
type StoredEvent struct {
	UserID  string
	Time    int64
	Type    EventType
	Revenue int64
}

// SessionSpan is a closed session's user and time span.
type SessionSpan struct {
	UserID     string
	Start, End int64
}

// StoredID is an accepted event id and its offset.
type StoredID struct {
	EventID string
	Offset  int64
}
