package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cartwheel-analytics/cartwheel/api"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// Query runs read-only SQL against a warehouse. A DuckDB file held by a
// running appliance is queried through that appliance's HTTP API (DuckDB
// lets one process open the file for writing); otherwise the warehouse is
// opened directly, read-only.
func Query(ctx context.Context, dsn, query string) (*warehouse.Result, error) {
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
	db, err := warehouse.Open(ctx, dsn, warehouse.ReadOnlyAccess())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.QueryReadOnly(ctx, query)
}

func queryHTTP(ctx context.Context, info runtimeInfo, query string) (*warehouse.Result, error) {
	body, _ := json.Marshal(api.QueryRequest{SQL: query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+info.HTTP+"/api/query", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the running appliance at %s: %w", info.HTTP, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e api.ErrorResponse
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("appliance at %s answered %s", info.HTTP, resp.Status)
	}
	return warehouse.DecodeResult(resp.Body)
}
