package warehouse

import (
	"context"
	"errors"
)

// openPostgres connects to PostgreSQL or Redshift through pgx.
func openPostgres(ctx context.Context, dsn string, d Dialect, o options) (adapter, error) {
	return nil, errors.New("not implemented yet")
}
