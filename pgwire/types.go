package pgwire

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cartwheel-analytics/cartwheel/result"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// oidOf returns the PostgreSQL type OID for a warehouse SQL type name
// (warehouse.TypedColumn.Type). Types PostgreSQL lacks are sent as the
// nearest one that holds every value: unsigned and huge integers as
// numeric, everything else without a match as text.
func oidOf(typ string) uint32 {
	t := strings.ToUpper(typ)
	switch {
	case t == "BOOLEAN":
		return pgtype.BoolOID
	case t == "TINYINT" || t == "SMALLINT" || t == "UTINYINT":
		return pgtype.Int2OID
	case t == "INTEGER" || t == "USMALLINT":
		return pgtype.Int4OID
	case t == "BIGINT" || t == "UINTEGER":
		return pgtype.Int8OID
	case t == "UBIGINT" || t == "HUGEINT" || t == "UHUGEINT" || strings.HasPrefix(t, "DECIMAL") || t == "NUMERIC":
		return pgtype.NumericOID
	case t == "FLOAT" || t == "REAL":
		return pgtype.Float4OID
	case t == "DOUBLE":
		return pgtype.Float8OID
	case t == "DATE":
		return pgtype.DateOID
	case t == "TIME":
		return pgtype.TimeOID
	case t == "TIMESTAMPTZ" || t == "TIMESTAMP WITH TIME ZONE":
		return pgtype.TimestamptzOID
	case strings.HasPrefix(t, "TIMESTAMP"):
		return pgtype.TimestampOID
	case t == "INTERVAL":
		return pgtype.IntervalOID
	case t == "BLOB":
		return pgtype.ByteaOID
	case t == "UUID":
		return pgtype.UUIDOID
	}
	return pgtype.TextOID
}

// typeName is the PostgreSQL name of an OID, as format_type prints it.
func typeName(oid uint32) string {
	switch oid {
	case pgtype.BoolOID:
		return "boolean"
	case pgtype.Int2OID:
		return "smallint"
	case pgtype.Int4OID:
		return "integer"
	case pgtype.Int8OID:
		return "bigint"
	case pgtype.NumericOID:
		return "numeric"
	case pgtype.Float4OID:
		return "real"
	case pgtype.Float8OID:
		return "double precision"
	case pgtype.DateOID:
		return "date"
	case pgtype.TimeOID:
		return "time without time zone"
	case pgtype.TimestampOID:
		return "timestamp without time zone"
	case pgtype.TimestamptzOID:
		return "timestamp with time zone"
	case pgtype.IntervalOID:
		return "interval"
	case pgtype.ByteaOID:
		return "bytea"
	case pgtype.UUIDOID:
		return "uuid"
	}
	return "text"
}

// typeSize is pg_type.typlen of an OID (-1: variable).
func typeSize(oid uint32) int16 {
	switch oid {
	case pgtype.BoolOID:
		return 1
	case pgtype.Int2OID:
		return 2
	case pgtype.Int4OID, pgtype.Float4OID, pgtype.DateOID:
		return 4
	case pgtype.Int8OID, pgtype.Float8OID, pgtype.TimestampOID, pgtype.TimestamptzOID, pgtype.TimeOID:
		return 8
	case pgtype.IntervalOID, pgtype.UUIDOID:
		return 16
	}
	return -1
}

// appendText appends v in PostgreSQL's text output format for oid.
func appendText(b []byte, oid uint32, v any) []byte {
	switch x := v.(type) {
	case string:
		return append(b, x...)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		bits := 64
		if oid == pgtype.Float4OID {
			bits = 32
		}
		switch {
		case math.IsInf(x, 1):
			return append(b, "Infinity"...)
		case math.IsInf(x, -1):
			return append(b, "-Infinity"...)
		case math.IsNaN(x):
			return append(b, "NaN"...)
		}
		// As PostgreSQL 12+ prints floats: the shortest exact digits,
		// in fixed notation from 1e-4 up to 1e15, else with an exponent.
		if a := math.Abs(x); a == 0 || a >= 1e-4 && a < 1e15 {
			return strconv.AppendFloat(b, x, 'f', -1, bits)
		}
		return strconv.AppendFloat(b, x, 'e', -1, bits)
	case bool:
		if x {
			return append(b, 't')
		}
		return append(b, 'f')
	case result.Decimal:
		return append(b, x...)
	case time.Time:
		x = x.UTC()
		switch oid {
		case pgtype.DateOID:
			return x.AppendFormat(b, "2006-01-02")
		case pgtype.TimeOID:
			return x.AppendFormat(b, "15:04:05.999999")
		case pgtype.TimestamptzOID:
			return x.AppendFormat(b, "2006-01-02 15:04:05.999999-07")
		}
		return x.AppendFormat(b, "2006-01-02 15:04:05.999999")
	case warehouse.Interval:
		return appendInterval(b, x)
	case []byte:
		if oid == pgtype.ByteaOID {
			b = append(b, `\x`...)
			return hex.AppendEncode(b, x)
		}
		return append(b, x...)
	}
	return fmt.Append(b, v)
}

// appendInterval writes an interval as PostgreSQL's default
// (IntervalStyle postgres) output does: "1 year 2 mons 3 days 04:05:06.5".
func appendInterval(b []byte, iv warehouse.Interval) []byte {
	parts := 0
	unit := func(n int64, one, many string) {
		if n == 0 {
			return
		}
		if parts > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, n, 10)
		if n == 1 || n == -1 {
			b = append(b, one...)
		} else {
			b = append(b, many...)
		}
		parts++
	}
	unit(int64(iv.Months/12), " year", " years")
	unit(int64(iv.Months%12), " mon", " mons")
	unit(int64(iv.Days), " day", " days")
	if iv.Micros != 0 || parts == 0 {
		if parts > 0 {
			b = append(b, ' ')
		}
		us := iv.Micros
		if us < 0 {
			b = append(b, '-')
			us = -us
		}
		h, m, s, frac := us/3_600_000_000, us/60_000_000%60, us/1_000_000%60, us%1_000_000
		b = fmt.Appendf(b, "%02d:%02d:%02d", h, m, s)
		if frac != 0 {
			b = append(b, strings.TrimRight(fmt.Sprintf(".%06d", frac), "0")...)
		}
	}
	return b
}

// binaryValue converts a cursor value into what pgtype encodes in binary
// for oid.
func binaryValue(oid uint32, v any) (any, error) {
	switch x := v.(type) {
	case result.Decimal:
		var n pgtype.Numeric
		if err := n.Scan(string(x)); err != nil {
			return nil, err
		}
		return n, nil
	case warehouse.Interval:
		return pgtype.Interval{Months: x.Months, Days: x.Days, Microseconds: x.Micros, Valid: true}, nil
	case time.Time:
		if oid == pgtype.TimeOID {
			us := int64(x.Hour())*3_600_000_000 + int64(x.Minute())*60_000_000 + int64(x.Second())*1_000_000 + int64(x.Nanosecond()/1000)
			return pgtype.Time{Microseconds: us, Valid: true}, nil
		}
		return x, nil
	case int64:
		if oid == pgtype.NumericOID {
			return pgtype.Numeric{Int: bigInt(x), Valid: true}, nil
		}
	}
	if oid == pgtype.TextOID {
		if _, ok := v.(string); !ok {
			return string(appendText(nil, oid, v)), nil
		}
	}
	return v, nil
}

func bigInt(x int64) *big.Int { return big.NewInt(x) }
