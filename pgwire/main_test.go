package pgwire

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testWarehouse is an in-memory DuckDB warehouse with the streaming
// schema and a few rows of every type the endpoint encodes.
func testWarehouse(t *testing.T, limits warehouse.Limits) *warehouse.DB {
	t.Helper()
	ctx := context.Background()
	db, err := warehouse.Open(ctx, "duckdb://:memory:", warehouse.QueryLimits(limits))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		`INSERT INTO sessions (session_id, user_id, session_start, session_end, event_count, page_views, add_to_carts, purchases, revenue, stream_id, kafka_partition, closed_at)
		 VALUES ('s1', 'ünïcødé-用户', TIMESTAMP '2026-11-20 10:00:00.123456', TIMESTAMP '2026-11-20 10:30:00', 5, 3, 1, 1, 40.50, 1, 0, TIMESTAMP '2026-11-20 11:00:00'),
		        ('s2', 'u2', TIMESTAMP '2026-11-20 11:00:00', TIMESTAMP '2026-11-20 11:05:00', 2, 2, 0, 0, 0.00, 1, 0, TIMESTAMP '2026-11-20 12:00:00')`,
	} {
		if err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// serve runs a server over wh on a loopback port and returns its address.
func serve(t *testing.T, wh Warehouse, opts ...Option) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(wh, append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return srv, ln.Addr().String()
}
