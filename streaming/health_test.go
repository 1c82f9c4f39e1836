package streaming

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel-analytics/cartwheel/event"
)

func TestHealthReady(t *testing.T) {
	since := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		h    Health
		want string // "" means ready
	}{
		{"starting", Health{}, "has not joined"},
		{"restarting", Health{LastRestartErr: errors.New("fenced")}, "restarting from the stored checkpoints after: fenced"},
		{"joined, consuming", Health{Joined: true}, "no batch committed yet"},
		{"joined, caught up on an empty topic", Health{Joined: true, CaughtUp: true}, ""},
		{"committed", Health{Joined: true, LastCommit: since}, ""},
		{"consumer retrying", Health{Joined: true, LastCommit: since, Consumer: ConsumerHealth{Retrying: true, Kind: ErrorKindGroup,
			Since: since, Attempts: 3, Err: errors.New("unable to join group session")}}, "kafka consumer retrying a group error since 2026-12-01T10:00:00Z (3 attempts)"},
		{"commit retrying", Health{Joined: true, LastCommit: since, CommitRetrying: true, CommitSince: since,
			CommitErr: errors.New("connection refused")}, "commit to the warehouse retrying since 2026-12-01T10:00:00Z: connection refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.h.Ready()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("not ready: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Ready() = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestRestartable(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("commit batch: %w", &event.FencedError{Partition: 3}):              true,
		fmt.Errorf("load partition 2: %w", event.Transient(errors.New("conn reset"))): true,
		errors.New("decode: corrupt batch"):                                           false,
		fmt.Errorf("consume: %w", errors.New("OFFSET_OUT_OF_RANGE")):                  false,
	} {
		if got := restartable(err); got != want {
			t.Errorf("restartable(%v) = %v, want %v", err, got, want)
		}
	}
}
