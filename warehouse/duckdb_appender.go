//go:build !duckdb_arrow

package warehouse

import (
	"context"
	"database/sql/driver"
	"math/big"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// The row Appender loader, used when the binary is built without the
// duckdb_arrow tag (plain `go build`); `make build` uses the faster Arrow
// loader in duckdb_arrow.go. Both load the same rows.

// BulkLoader names the DuckDB bulk-load path compiled in.
const BulkLoader = "appender"

func (t *duckTx) appendRows(table string, n int, row func(i int) []driver.Value) error {
	return t.classify(t.conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", table)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := a.AppendRow(row(i)...); err != nil {
				a.Close()
				return err
			}
		}
		return a.Close()
	}))
}

func money(cents int64, width uint8) duckdb.Decimal {
	return duckdb.Decimal{Width: width, Scale: 2, Value: big.NewInt(cents)}
}

func opt(has bool, v string) driver.Value {
	if has {
		return v
	}
	return nil
}

func (t *duckTx) loadEvents(_ context.Context, b *event.Batch) error {
	ingested := ts(b.IngestedAt)
	return t.appendRows("events", len(b.Events), func(i int) []driver.Value {
		e := &b.Events[i]
		var price driver.Value
		if e.Has&event.HasPrice != 0 {
			price = money(e.Price, 12)
		}
		return []driver.Value{
			e.EventID, e.Type.String(), e.UserID, ts(e.Time),
			opt(e.Has&event.HasProductID != 0, e.ProductID), price, e.Quantity, money(e.Revenue(), 12),
			opt(e.Has&event.HasClientSessionID != 0, e.ClientSessionID),
			opt(e.Has&event.HasDevice != 0, e.Device),
			opt(e.Has&event.HasCountry != 0, e.Country),
			opt(e.Has&event.HasCategory != 0, e.Category),
			opt(e.Has&event.HasReferrer != 0, e.Referrer),
			e.Late, b.Stream, e.Partition, e.Offset, ingested,
		}
	})
}

func (t *duckTx) loadSessions(_ context.Context, b *event.Batch) error {
	closed := ts(b.IngestedAt)
	return t.appendRows("sessions", len(b.Sessions), func(i int) []driver.Value {
		s := &b.Sessions[i]
		return []driver.Value{
			s.SessionID, s.UserID, ts(s.Start), ts(s.End), s.EventCount(), s.PageViews, s.AddToCarts,
			s.Purchases, money(s.Revenue, 18), b.Stream, s.Partition, closed,
		}
	})
}

func (t *duckTx) loadActivity(_ context.Context, rows []activity) error {
	return t.appendRows("user_activity", len(rows), func(i int) []driver.Value {
		return []driver.Value{rows[i].width, ts(rows[i].bucket), rows[i].user}
	})
}

func (t *duckTx) loadRejected(_ context.Context, b *event.Batch) error {
	received := ts(b.IngestedAt)
	return t.appendRows("rejected_events", len(b.Rejected), func(i int) []driver.Value {
		r := &b.Rejected[i]
		return []driver.Value{payloadText(r.Payload), r.Reason.String(), cleanText(r.Detail), b.Stream, r.Partition, r.Offset, received}
	})
}
