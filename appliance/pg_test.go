package appliance

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

func TestPGConfig(t *testing.T) {
	for _, tc := range []struct {
		pg, cert, key, err string
	}{
		{pg: DefaultPG},
		{pg: ""},
		{pg: "0.0.0.0:5433"},
		{pg: "5433", err: `pg: "5433" is not a host:port address`},
		{pg: DefaultPG, cert: "c.pem", err: "pg_tls: cert and key go together"},
	} {
		c := DefaultConfig()
		c.PG, c.PGTLS = tc.pg, PGTLSConfig{Cert: tc.cert, Key: tc.key}
		err := c.Validate()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("pg %q cert %q: %v, want %q", tc.pg, tc.cert, err, tc.err)
		}
	}
	if DefaultConfig().PG != "127.0.0.1:5433" {
		t.Errorf("default pg %q", DefaultConfig().PG)
	}
}

// TestServePG: off with pg: "", a taken default address only warns, a
// taken configured address is an error, and it stops with its context.
func TestServePG(t *testing.T) {
	ctx := context.Background()
	db, err := warehouse.Open(ctx, "duckdb://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := DefaultConfig()
	cfg.PG = ""
	if err := servePG(ctx, cfg, db, "tok", prometheus.NewRegistry(), log); err != nil {
		t.Fatalf("pg off: %v", err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg.PG = taken.Addr().String()
	if err := servePG(ctx, cfg, db, "tok", prometheus.NewRegistry(), log); err == nil {
		t.Fatal("a taken configured address was not an error")
	}
	if l, err := net.Listen("tcp", DefaultPG); err == nil {
		defer l.Close() // now the default address is taken by this test
	}
	cfg.PG = DefaultPG
	if err := servePG(ctx, cfg, db, "tok", prometheus.NewRegistry(), log); err != nil {
		t.Fatalf("a taken default address: %v, want a warning only", err)
	}
	free := taken.Addr().String()
	taken.Close()
	cfg.PG = free
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := servePG(cctx, cfg, db, "tok", prometheus.NewRegistry(), log); err != nil {
		t.Fatalf("serve until the context ends: %v", err)
	}
}
