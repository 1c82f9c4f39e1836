package broker

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// cuttable dials for one client and can cut every connection at once and
// refuse new ones: the client then neither heartbeats nor leaves its
// group, which is what a SIGKILLed consumer looks like to the coordinator.
type cuttable struct {
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func (c *cuttable) dial(ctx context.Context, network, host string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil, errors.New("cut")
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

func (c *cuttable) cutAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	for _, conn := range c.conns {
		conn.Close()
	}
}

// member is a group consumer that counts the partitions it owns.
type member struct {
	cl    *kgo.Client
	mu    sync.Mutex
	owned map[int32]bool
}

func (m *member) change(add bool) func(context.Context, *kgo.Client, map[string][]int32) {
	return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, p := range ps["events"] {
			if add {
				m.owned[p] = true
			} else {
				delete(m.owned, p)
			}
		}
	}
}

// waitOwned polls until the member owns n partitions or d passes, and
// reports whether it does.
func (m *member) waitOwned(n int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		m.cl.PollFetches(ctx)
		cancel()
		m.mu.Lock()
		got := len(m.owned)
		m.mu.Unlock()
		if got == n {
			return true
		}
	}
	return false
}

// TestSessionTimeout: a KIP-848 member that dies without leaving holds its
// partitions for the broker's session timeout, not Kafka's 45 s: a new
// member gets them within it (plus a heartbeat and the test's polling).
func TestSessionTimeout(t *testing.T) {
	const timeout = 2 * time.Second
	b := start(t, WithTopics(Topic{"events", 4}), WithSessionTimeout(timeout))
	ctx := testCtx(t)

	cfgs, err := kadm.NewClient(client(t, b)).DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"group.consumer.session.timeout.ms": "2000", "group.consumer.heartbeat.interval.ms": "400"}
	for _, rc := range cfgs {
		for _, c := range rc.Configs {
			if w, ok := want[c.Key]; ok {
				if c.MaybeValue() != w {
					t.Errorf("%s = %q, want %q", c.Key, c.MaybeValue(), w)
				}
				delete(want, c.Key)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("broker configs lack %v", want)
	}

	join := func(dial func(context.Context, string, string) (net.Conn, error)) *member {
		m := &member{owned: map[int32]bool{}}
		opts := []kgo.Opt{kgo.ConsumerGroup("g"), kgo.ConsumeTopics("events"), kgo.ServerSideBalancer(),
			kgo.OnPartitionsAssigned(m.change(true)), kgo.OnPartitionsRevoked(m.change(false)), kgo.OnPartitionsLost(m.change(false))}
		if dial != nil {
			opts = append(opts, kgo.Dialer(dial))
		}
		m.cl = client(t, b, opts...)
		return m
	}
	var dead cuttable
	if !join(dead.dial).waitOwned(4, 10*time.Second) {
		t.Fatal("the first member did not get every partition in 10s")
	}
	dead.cutAll()
	crashed := time.Now()
	if !join(nil).waitOwned(4, 30*time.Second) {
		t.Fatal("the second member did not get every partition in 30s")
	}
	// The dead member's session expires at most timeout after its last
	// heartbeat, which was before the cut.
	if waited := time.Since(crashed); waited > timeout+2*time.Second {
		t.Errorf("the second member waited %v for the dead member's partitions, want at most the session timeout %v plus 2s", waited, timeout)
	} else {
		t.Logf("the second member got every partition %v after the first died (session timeout %v)", waited.Round(10*time.Millisecond), timeout)
	}
}

func TestStartRefusesShortSessionTimeout(t *testing.T) {
	_, err := Start(WithSessionTimeout(100 * time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "session timeout must be at least 500ms") {
		t.Errorf("Start = %v, want the session timeout refused", err)
	}
}
