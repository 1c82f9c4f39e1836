package warehouse

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// Instances started at once race to register their stream: the loser's
// unique violation is worth retrying (TestTortureScaleOut's i1 exited on
// it), a lost checkpoint insert is a fence, any other violation is final.
func TestClassifyUniqueViolations(t *testing.T) {
	for _, tc := range []struct {
		constraint        string
		transient, fenced bool
	}{
		{"streams_pkey", true, false},
		{"streams_name_key", true, false},
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
