//go:build duckdb_arrow

package warehouse

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cartwheel-analytics/cartwheel/event"
)

// TestRecordsMatchBuilders checks the hand-built Arrow records against
// records built value by value with arrow-go's builders: every optional
// column null or set, empty and multi-byte strings, one row and none.
func TestRecordsMatchBuilders(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	opt := []uint16{event.HasProductID, event.HasPrice, event.HasClientSessionID,
		event.HasDevice, event.HasCountry, event.HasCategory, event.HasReferrer}
	for _, n := range []int{0, 1, 7, 8, 9, 1000} {
		b := &event.Batch{Stream: 3, IngestedAt: 1_760_000_000_123_456}
		for i := range n {
			e := event.Event{
				EventID: fmt.Sprintf("e-%d", i), UserID: []string{"", "u-1", "ünïcødé-user", "a very long user id that is not inlined"}[rng.IntN(4)],
				Time: rng.Int64N(1 << 50), Type: event.EventType(1 + rng.IntN(4)), Quantity: rng.Int32N(9),
				Price: rng.Int64N(1 << 40), ProductID: fmt.Sprintf("p-%d", rng.IntN(50)), ClientSessionID: "cs-€",
				Device: "mobile", Country: "", Category: "garden", Referrer: "newsletter",
				Late: rng.IntN(2) == 0, Partition: rng.Int32N(8), Offset: rng.Int64(),
			}
			for _, h := range opt {
				if rng.IntN(3) > 0 {
					e.Has |= h
				}
			}
			b.Events = append(b.Events, e)
			if i%3 == 0 {
				b.Sessions = append(b.Sessions, event.Session{SessionID: fmt.Sprintf("%032x", i), UserID: e.UserID,
					Start: e.Time, End: e.Time + 5, PageViews: 2, AddToCarts: 1, Purchases: 1, Revenue: e.Price, Partition: e.Partition})
			}
		}
		for _, c := range []struct {
			name      string
			got, want arrow.RecordBatch
		}{
			{"events", eventsRecord(b), builtEvents(b)},
			{"sessions", sessionsRecord(b), builtSessions(b)},
		} {
			if !array.RecordEqual(c.got, c.want) {
				t.Errorf("%d events: %s record differs from the builders'\n got: %v\nwant: %v", n, c.name, c.got, c.want)
			}
			c.got.Release()
			c.want.Release()
		}
	}
}

func builtEvents(b *event.Batch) arrow.RecordBatch {
	bld := array.NewRecordBuilder(memory.DefaultAllocator, eventsSchema)
	defer bld.Release()
	c := bld.Fields()
	str := func(i int, has bool, v string) {
		if has {
			c[i].(*array.StringBuilder).Append(v)
		} else {
			c[i].AppendNull()
		}
	}
	for i := range b.Events {
		e := &b.Events[i]
		str(0, true, e.EventID)
		str(1, true, e.Type.String())
		str(2, true, e.UserID)
		c[3].(*array.TimestampBuilder).Append(arrow.Timestamp(e.Time))
		str(4, e.Has&event.HasProductID != 0, e.ProductID)
		if e.Has&event.HasPrice != 0 {
			c[5].(*array.Decimal128Builder).Append(decimal128.FromI64(e.Price))
		} else {
			c[5].AppendNull()
		}
		c[6].(*array.Int32Builder).Append(e.Quantity)
		c[7].(*array.Decimal128Builder).Append(decimal128.FromI64(e.Revenue()))
		str(8, e.Has&event.HasClientSessionID != 0, e.ClientSessionID)
		str(9, e.Has&event.HasDevice != 0, e.Device)
		str(10, e.Has&event.HasCountry != 0, e.Country)
		str(11, e.Has&event.HasCategory != 0, e.Category)
		str(12, e.Has&event.HasReferrer != 0, e.Referrer)
		c[13].(*array.BooleanBuilder).Append(e.Late)
		c[14].(*array.Int32Builder).Append(b.Stream)
		c[15].(*array.Int32Builder).Append(e.Partition)
		c[16].(*array.Int64Builder).Append(e.Offset)
		c[17].(*array.TimestampBuilder).Append(arrow.Timestamp(b.IngestedAt))
	}
	return bld.NewRecordBatch()
}

func builtSessions(b *event.Batch) arrow.RecordBatch {
	return buildRecord(sessionsSchema, func(c []array.Builder) {
		for i := range b.Sessions {
			s := &b.Sessions[i]
			c[0].(*array.StringBuilder).Append(s.SessionID)
			c[1].(*array.StringBuilder).Append(s.UserID)
			c[2].(*array.TimestampBuilder).Append(arrow.Timestamp(s.Start))
			c[3].(*array.TimestampBuilder).Append(arrow.Timestamp(s.End))
			c[4].(*array.Int32Builder).Append(s.EventCount())
			c[5].(*array.Int32Builder).Append(s.PageViews)
			c[6].(*array.Int32Builder).Append(s.AddToCarts)
			c[7].(*array.Int32Builder).Append(s.Purchases)
			c[8].(*array.Decimal128Builder).Append(decimal128.FromI64(s.Revenue))
			c[9].(*array.Int32Builder).Append(b.Stream)
			c[10].(*array.Int32Builder).Append(s.Partition)
			c[11].(*array.TimestampBuilder).Append(arrow.Timestamp(b.IngestedAt))
		}
	})
}
