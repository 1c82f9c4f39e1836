package appliance

import (
	"context"
	"errors"

	"github.com/cartwheel-analytics/cartwheel/api/client"
	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// Query runs read-only SQL against a warehouse. A DuckDB file held by a
// running appliance is queried through that appliance's HTTP API (DuckDB
// lets one process open the file for writing); otherwise the warehouse is
// opened directly, read-only.
func Query(ctx context.Context, cfg Config, query string) (*result.Set, error) {
	dsn := cfg.Warehouse
	if path := DuckDBPath(dsn); path != "" {
		info, lock, err := findAppliance(ctx, path)
		switch {
		case err == nil:
			return queryHTTP(ctx, info, query)
		case !errors.Is(err, errNoAppliance):
			return nil, err
		}
		if lock != nil {
			defer lock.Unlock()
		}
	}
	db, err := warehouse.Open(ctx, dsn, warehouse.ReadOnlyAccess(), warehouse.QueryLimits(cfg.Query.Limits()))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.QueryReadOnly(ctx, query)
}

// applianceClient is a client of the appliance that info describes.
func applianceClient(info runtimeInfo) *client.Client {
	return client.New(info.HTTP, client.WithToken(info.Token))
}

func queryHTTP(ctx context.Context, info runtimeInfo, query string) (*result.Set, error) {
	return applianceClient(info).Query(ctx, query)
}
