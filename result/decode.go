package result

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Decode reads a Set written as JSON (by the HTTP API) and restores its
// value types from the column kinds: exact decimals, int64s, UTC times.
func Decode(r io.Reader) (*Set, error) {
	var raw struct {
		Columns   []Column `json:"columns"`
		Rows      [][]any  `json:"rows"`
		Truncated bool     `json:"truncated"`
		RowLimit  int      `json:"row_limit"`
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	res := &Set{Columns: raw.Columns, Rows: raw.Rows, Truncated: raw.Truncated, RowLimit: raw.RowLimit}
	if res.Rows == nil {
		res.Rows = [][]any{}
	}
	for _, row := range res.Rows {
		if len(row) != len(res.Columns) {
			return nil, fmt.Errorf("decode result: a row has %d values for %d columns", len(row), len(res.Columns))
		}
		for i, v := range row {
			row[i] = retype(v, res.Columns[i].Kind)
		}
	}
	return res, nil
}

func retype(v any, k Kind) any {
	switch x := v.(type) {
	case json.Number:
		switch k {
		case KindInt:
			if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
				return n
			}
			return Decimal(x)
		case KindDecimal:
			return Decimal(x)
		}
		f, _ := x.Float64()
		return f
	case string:
		if k == KindTimestamp || k == KindDate {
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return t.UTC()
			}
		}
	}
	return v
}
