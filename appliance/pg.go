package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cartwheel-analytics/cartwheel/pgwire"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// DefaultPG is the default listen address of the Postgres endpoint.
const DefaultPG = "127.0.0.1:5433"

// PGTLSConfig names the certificate the Postgres endpoint offers to
// clients that ask for TLS (sslmode=require); both or neither.
type PGTLSConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// servePG runs the Postgres endpoint over db until ctx ends (pg: "" turns
// it off). It serves DuckDB only: a PostgreSQL or Redshift warehouse is
// itself the Postgres server clients should use (with its own roles and
// read-only users), so there it logs that and returns. On the default
// address a port already taken only warns, so that several appliances (a
// test suite) can run side by side; an address set in the configuration
// or with --pg must be free.
func servePG(ctx context.Context, cfg Config, db *warehouse.DB, token string, reg prometheus.Registerer, log *slog.Logger, extra ...pgwire.Option) error {
	if cfg.PG == "" {
		return nil
	}
	if db.Dialect() != warehouse.DuckDB {
		log.Info("postgres endpoint off: clients connect to the warehouse itself", "warehouse", string(db.Dialect()))
		return nil
	}
	opts := append([]pgwire.Option{pgwire.WithPassword(token), pgwire.WithLogger(log), pgwire.WithRegisterer(reg)}, extra...)
	if cfg.PGTLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.PGTLS.Cert, cfg.PGTLS.Key)
		if err != nil {
			return fmt.Errorf("pg_tls: %w", err)
		}
		opts = append(opts, pgwire.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}
	ln, err := net.Listen("tcp", cfg.PG)
	if err != nil {
		if cfg.PG == DefaultPG && errors.Is(err, syscall.EADDRINUSE) {
			log.Warn("postgres endpoint off: its default address is taken (set pg: or --pg)", "addr", cfg.PG, "err", err)
			return nil
		}
		return fmt.Errorf("pg listen: %w", err)
	}
	srv := pgwire.New(db, opts...)
	defer srv.Close()
	return srv.Serve(ctx, ln)
}
