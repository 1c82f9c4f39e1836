package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cartwheel-analytics/cartwheel/generator"
)

var quiet = slog.New(slog.DiscardHandler)

func TestDemoGeneratorStart(t *testing.T) {
	now := time.Date(2026, 12, 1, 15, 30, 0, 123456789, time.FixedZone("CET", 3600))
	gcfg := DefaultConfig().Generator
	gcfg.Rate = 100 // a small shop
	tests := []struct {
		name      string
		last      time.Time
		wantStart time.Time
	}{
		{"no history: the backfill", time.Time{}, now.Add(-24 * time.Hour)},
		{"history before the backfill", now.Add(-48 * time.Hour), now.Add(-24 * time.Hour)},
		{"history within the backfill", now.Add(-2 * time.Hour), now.Add(-2 * time.Hour)},
		{"history in the future: now", now.Add(time.Hour), now},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, clock, err := DemoGenerator(gcfg, now, History{Last: tc.last})
			if err != nil {
				t.Fatal(err)
			}
			gc := g.Config()
			want := tc.wantStart.UTC().Truncate(time.Microsecond)
			if !gc.Start.Equal(want) || gc.Start.Location() != time.UTC {
				t.Errorf("Start = %v, want %v in UTC", gc.Start, want)
			}
			if !clock.Start.Equal(gc.Start) || !clock.WallStart.Equal(now) || clock.Speedup != gcfg.Speedup {
				t.Errorf("clock = %+v, want Start %v, WallStart %v, Speedup %v", clock, gc.Start, now, gcfg.Speedup)
			}
			// No valid event is ever due ahead of the wall clock.
			if due := clock.Due(gc.Start); due.Before(now) {
				t.Errorf("the first record is due at %v, before now %v", due, now)
			}
			if gc.Seed != gcfg.Seed || gc.Speedup != gcfg.Speedup || gc.OutOfOrder != gcfg.OutOfOrder ||
				gc.Late != gcfg.Late || gc.Duplicate != gcfg.Duplicate || gc.Malformed != gcfg.Malformed {
				t.Errorf("generator config %+v does not carry %+v", gc, gcfg)
			}
		})
	}
}

// TestDemoGeneratorRate: the user population makes the compressed traffic
// come at about Rate records per second, within the clamp.
func TestDemoGeneratorRate(t *testing.T) {
	tests := []struct {
		rate, speedup float64
		wantUsers     int // 0: sized by the rate
	}{
		{2000, 60, 0},
		{500, 60, 0},
		{100, 1, 0},
		{0.5, 60, 100}, // at least 100 users
		{0.01, 1, 100},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("rate=%v,speedup=%v", tc.rate, tc.speedup), func(t *testing.T) {
			c := DefaultConfig().Generator
			c.Rate, c.Speedup = tc.rate, tc.speedup
			g, _, err := DemoGenerator(c, time.Now(), History{})
			if err != nil {
				t.Fatal(err)
			}
			users := g.Config().Users
			if tc.wantUsers != 0 {
				if users != tc.wantUsers {
					t.Errorf("Users = %d, want %d", users, tc.wantUsers)
				}
				return
			}
			got := g.RecordsPerSimSecond() * tc.speedup
			if math.Abs(got-tc.rate)/tc.rate > 0.01 {
				t.Errorf("%d users give %.1f records/s, want about %v", users, got, tc.rate)
			}
		})
	}
}

func TestDemoGeneratorRuns(t *testing.T) {
	c := DefaultConfig().Generator
	c.Rate = 100
	now := time.Now()
	g1, _, err := DemoGenerator(c, now, History{})
	if err != nil {
		t.Fatal(err)
	}
	g2, _, err := DemoGenerator(c, now, History{})
	if err != nil {
		t.Fatal(err)
	}
	id1, id2 := g1.Config().RunID, g2.Config().RunID
	if id1 == "" || id1 == id2 {
		t.Fatalf("run ids %q and %q: want fresh ones per call", id1, id2)
	}
	// Event ids carry the run id, so no two runs share one.
	for range 200 {
		rec, _, _ := g1.Next(nil)
		if strings.HasPrefix(string(rec), `{"event_id":"e-`) && !strings.Contains(string(rec), "-"+id1+"-") {
			t.Fatalf("event id of %s lacks the run id %s", rec, id1)
		}
	}
}

func TestDemoGeneratorContinuesUsers(t *testing.T) {
	c := DefaultConfig().Generator
	c.Rate, c.OutOfOrder, c.Late, c.Duplicate, c.Malformed = 100, 0, 0, 0, 0
	now := time.Now()
	// Users active in a run of the shop (the users come from the seed,
	// the clickstream from the run).
	probe, _, err := DemoGenerator(c, now, History{})
	if err != nil {
		t.Fatal(err)
	}
	last := probe.Config().Start.Add(time.Hour)
	seen := map[string]time.Time{"not-a-user": last}
	for range 20_000 {
		_, key, _ := probe.Next(nil)
		seen[string(key)] = last
	}
	// Told they were active at last, none of them comes back within the
	// session spacing of the demo.
	g, _, err := DemoGenerator(c, now, History{Last: last, LastSeen: seen})
	if err != nil {
		t.Fatal(err)
	}
	if !g.Config().Start.Equal(last.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("Start = %v, want the history's end %v", g.Config().Start, last)
	}
	returning := 0
	for range 5000 {
		rec, key, at := g.Next(nil)
		if _, ok := seen[string(key)]; !ok {
			continue
		}
		returning++
		if at.Sub(last) < demoSpacing() {
			t.Fatalf("user %s back %v after it was last seen: %s", key, at.Sub(last), rec)
		}
	}
	if returning == 0 {
		t.Error("no known user came back: the test checks nothing")
	}
}

func TestDemoSpacing(t *testing.T) {
	if got := demoSpacing(); got != generator.DefaultConfig().SessionGap+time.Minute {
		t.Errorf("demoSpacing = %v", got)
	}
}

// TestBroker runs the standalone broker of `cartwheel broker`.
func TestBroker(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Kafka.Partitions = 3
	cfg.Kafka.Topic, cfg.Kafka.DLQTopic = "clicks", "clicks.dlq"
	dir := filepath.Join(t.TempDir(), "kafka")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Broker(ctx, cfg, "127.0.0.1:0", dir, func(a string) { addrc <- a }, quiet) }()

	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("Broker = %v before it started", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Broker did not start")
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") || addr == "127.0.0.1:0" {
		t.Errorf("started with address %q", addr)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	mctx, mcancel := context.WithTimeout(ctx, 10*time.Second)
	defer mcancel()
	topics, err := kadm.NewClient(cl).ListTopics(mctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]int)
	for name, td := range topics {
		got[name] = len(td.Partitions)
	}
	if fmt.Sprint(got) != "map[clicks:3 clicks.dlq:3]" {
		t.Errorf("topics = %v", got)
	}

	// A second broker on the same data dir is refused.
	if err := Broker(ctx, cfg, "127.0.0.1:0", dir, nil, quiet); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Broker on the data dir = %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Broker = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Broker did not stop")
	}
	cl.Close()
}

// Only a stop asked for through ctx is a clean exit: a component's own
// failure that wraps context.Canceled (the pipeline's "load partition 0:
// context canceled") must reach the exit status.
func TestExitErr(t *testing.T) {
	live := context.Background()
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	timedOut, cancel2 := context.WithTimeout(context.Background(), 0)
	defer cancel2()
	own := fmt.Errorf("load partition 0: %w", context.Canceled)
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		err   error
		clean bool
	}{
		{"no error", live, nil, true},
		{"stopped by ctx", stopped, fmt.Errorf("serve: %w", context.Canceled), true},
		{"--duration over", timedOut, fmt.Errorf("poll: %w", context.DeadlineExceeded), true},
		{"own cancellation", live, own, false},
		{"own failure while stopping", stopped, fmt.Errorf("commit: disk full"), false},
	} {
		if got := exitErr(tc.ctx, tc.err); (got == nil) != tc.clean {
			t.Errorf("%s: exitErr = %v, want clean %v", tc.name, got, tc.clean)
		}
	}
}
