package warehouse

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// A lost checkpoint insert is a fence; any other unique violation is final
// (the stream registration race is retried by Stream itself).
func TestClassifyUniqueViolations(t *testing.T) {
	for _, tc := range []struct {
		constraint        string
		transient, fenced bool
	}{
		{"streams_pkey", false, false},
		{"stream_checkpoints_pkey", false, true},
		{"cartwheel_meta_pkey", false, false},
	} {
		err := classify(&pgconn.PgError{Code: "23505", ConstraintName: tc.constraint})
		if event.IsTransient(err) != tc.transient || event.IsFenced(err) != tc.fenced {
			t.Errorf("%s: %v: transient %v fenced %v, want %v %v", tc.constraint, err,
				event.IsTransient(err), event.IsFenced(err), tc.transient, tc.fenced)
		}
	}
}
