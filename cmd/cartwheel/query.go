package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/cartwheel-analytics/cartwheel/appliance"
	"github.com/cartwheel-analytics/cartwheel/internal/english"
	"github.com/cartwheel-analytics/cartwheel/result"
)

func newQueryCmd(g *globals) *cobra.Command {
	var dsn, format string
	cmd := &cobra.Command{
		Use:   `query [--warehouse DSN] [--format csv|json|table] "SQL"`,
		Short: "Run a read-only SQL query against the warehouse",
		Long: `Run one read-only SQL statement (SELECT, WITH, EXPLAIN, SHOW, and on
DuckDB DESCRIBE) and print the result.

While 'cartwheel run' holds the DuckDB file, the query goes through the
running appliance's HTTP API; otherwise the warehouse is opened read-only.
Timestamps are UTC; money is exact.`,
		Example: `  cartwheel query "SELECT count(*) FROM events"
  cartwheel query --format csv "SELECT * FROM sessions ORDER BY session_start LIMIT 10"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := g.load()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("warehouse") {
				cfg.Warehouse = dsn
			}
			res, err := appliance.Query(cmd.Context(), cfg, args[0])
			if err != nil {
				return err
			}
			if err := writeResult(cmd.OutOrStdout(), res, format); err != nil {
				return err
			}
			if res.Truncated {
				// On stderr, so that the CSV or JSON on stdout stays clean.
				fmt.Fprintf(cmd.ErrOrStderr(), "cartwheel: result truncated to its first %d rows (query.max_rows)\n", res.RowLimit)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dsn, "warehouse", "", "warehouse DSN (default duckdb://data/cartwheel.duckdb)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	return cmd
}

// writeResult prints a result as an aligned table, CSV (RFC 4180, NULL as
// an empty field) or JSON (an array of objects).
func writeResult(w io.Writer, res *result.Set, format string) error {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		head := make([]string, len(res.Columns))
		for i, c := range res.Columns {
			head[i] = c.Name
		}
		cw.Write(head)
		for _, row := range res.Rows {
			rec := make([]string, len(row))
			for i, v := range row {
				rec[i] = text(v, res.Columns[i].Kind)
			}
			cw.Write(rec)
		}
		cw.Flush()
		return cw.Error()
	case "json":
		out := make([]map[string]any, len(res.Rows))
		for r, row := range res.Rows {
			m := make(map[string]any, len(row))
			for i, v := range row {
				if t, ok := v.(time.Time); ok && res.Columns[i].Kind == result.KindDate {
					v = t.Format(time.DateOnly)
				}
				m[res.Columns[i].Name] = v
			}
			out[r] = m
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "table":
		cells := make([][]string, len(res.Rows)+1)
		widths := make([]int, len(res.Columns))
		cells[0] = make([]string, len(res.Columns))
		for i, c := range res.Columns {
			cells[0][i] = c.Name
			widths[i] = utf8.RuneCountInString(c.Name)
		}
		for r, row := range res.Rows {
			cells[r+1] = make([]string, len(row))
			for i, v := range row {
				s := text(v, res.Columns[i].Kind)
				if v == nil {
					s = "NULL"
				}
				cells[r+1][i] = s
				widths[i] = max(widths[i], utf8.RuneCountInString(s))
			}
		}
		var b strings.Builder
		for r, row := range cells {
			for i, s := range row {
				if i > 0 {
					b.WriteString(" | ")
				}
				pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(s))
				if r > 0 && isNumeric(res.Columns[i].Kind) {
					b.WriteString(pad + s)
				} else {
					b.WriteString(s + pad)
				}
			}
			b.WriteString("\n")
			if r == 0 {
				for i, wd := range widths {
					if i > 0 {
						b.WriteString("-+-")
					}
					b.WriteString(strings.Repeat("-", wd))
				}
				b.WriteString("\n")
			}
		}
		fmt.Fprintf(&b, "(%d row%s)\n", len(res.Rows), english.Plural(len(res.Rows)))
		_, err := io.WriteString(w, b.String())
		return err
	}
	return fmt.Errorf("--format %q: want table, csv or json", format)
}

func isNumeric(k result.Kind) bool {
	return k == result.KindInt || k == result.KindDecimal || k == result.KindFloat
}

// text renders a value for CSV and tables: timestamps as ISO 8601 in UTC
// without a zone suffix, dates as YYYY-MM-DD, NULL as "".
func text(v any, k result.Kind) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		if k == result.KindDate {
			return x.Format(time.DateOnly)
		}
		return x.UTC().Format("2006-01-02 15:04:05.999999")
	case result.Decimal:
		return string(x)
	case float64:
		return fmt.Sprint(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return fmt.Sprint(v)
}
