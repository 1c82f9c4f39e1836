// Package result is the portable, JSON-ready form of a query result, shared
// by the warehouse, the HTTP API and its clients without linking a driver.
package result

import (
	"errors"
	"math/big"
	"strings"
)

// ErrReadOnly is the error of a read-only query whose statement may write:
// the warehouse refuses it, and the API answers it with 403 Forbidden.
var ErrReadOnly = errors.New("only a single read-only statement (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE) is allowed")

// ErrExternalAccess is the error of user SQL that tried to reach a file,
// the network or an extension; the API answers it with 403 Forbidden.
var ErrExternalAccess = errors.New("user SQL cannot reach files, the network or extensions")

// ErrTimeLimit is the error of a user query stopped at its time limit.
var ErrTimeLimit = errors.New("query stopped at its time limit")

// Kind is the portable type of a result column.
type Kind string

// Column kinds.
const (
	KindText      Kind = "text"
	KindInt       Kind = "int"
	KindDecimal   Kind = "decimal"
	KindFloat     Kind = "float"
	KindBool      Kind = "bool"
	KindTimestamp Kind = "timestamp"
	KindDate      Kind = "date"
	KindOther     Kind = "other"
)

// Column describes a result column.
type Column struct {
	Name string `json:"name"`
	Kind Kind   `json:"type"`
}

// Set is a fully read query result. Values are nil, string, int64,
// float64, bool, Decimal, or time.Time in UTC (for timestamps and dates).
type Set struct {
	Columns []Column `json:"columns"`
	Rows    [][]any  `json:"rows"`
	// Truncated says the query returned more rows than RowLimit, the row
	// limit of user queries, and Rows holds the first RowLimit of them.
	Truncated bool `json:"truncated,omitempty"`
	RowLimit  int  `json:"row_limit,omitempty"`
}

// Decimal is an exact decimal number in its canonical text form, e.g.
// "40.00". It marshals to JSON as a number.
type Decimal string

// MarshalJSON writes the decimal as a JSON number.
func (d Decimal) MarshalJSON() ([]byte, error) { return []byte(d), nil }

// DecimalFromCents renders cents with two decimals.
func DecimalFromCents(c int64) Decimal {
	return Decimal(FormatScaled(big.NewInt(c), 2))
}

// FormatScaled renders the unscaled integer v with scale decimals, e.g.
// (4000, 2) → "40.00".
func FormatScaled(v *big.Int, scale int) string {
	s := new(big.Int).Abs(v).String()
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if v.Sign() < 0 {
		s = "-" + s
	}
	return s
}
