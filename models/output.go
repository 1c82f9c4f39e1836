package models

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cartwheel-analytics/cartwheel/internal/english"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// printer writes dbt-like log lines: "HH:MM:SS  message".
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	now   func() time.Time
	total int
}

func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	ts := p.now().Format("15:04:05")
	for _, l := range strings.Split(msg, "\n") {
		if l == "" {
			fmt.Fprintln(p.w, ts)
		} else {
			fmt.Fprintf(p.w, "%s  %s\n", ts, l)
		}
	}
}

const lineWidth = 80

// result prints the line of a finished node, e.g.
// "1 of 7 OK created sql table model main.dim_users ...... [OK 2,345 rows in 0.12s]".
func (p *printer) result(res *NodeResult, d warehouse.Dialect) {
	n := res.Node
	rel := n.relation()
	if rel.Schema == "" {
		rel.Schema = defaultSchema(d)
	}
	secs := fmt.Sprintf("%.2fs", res.Duration.Seconds())
	var msg, status string
	switch n.ResourceType {
	case TestType:
		switch res.Status {
		case StatusPass:
			msg, status = "PASS "+n.Name, "PASS in "+secs
		case StatusWarn:
			msg, status = fmt.Sprintf("WARN %d %s", res.Rows, n.Name), fmt.Sprintf("WARN %d in %s", res.Rows, secs)
		case StatusFail:
			msg, status = fmt.Sprintf("FAIL %d %s", res.Rows, n.Name), fmt.Sprintf("FAIL %d in %s", res.Rows, secs)
		case StatusError:
			msg, status = "ERROR "+n.Name, "ERROR in "+secs
		case StatusSkipped:
			msg, status = "SKIP test "+n.Name, "SKIP"
		}
	default:
		what := "sql " + n.Config.Materialized + " model " + rel.String()
		verb := "created"
		if n.ResourceType == SeedType {
			what, verb = "seed file "+rel.String(), "loaded"
		}
		switch res.Status {
		case StatusSuccess:
			msg = "OK " + verb + " " + what
			if res.Rows >= 0 {
				status = fmt.Sprintf("OK %s row%s in %s", thousands(res.Rows), english.Plural(res.Rows), secs)
			} else {
				status = "OK in " + secs
			}
		case StatusError:
			msg, status = "ERROR creating "+what, "ERROR in "+secs
		case StatusSkipped:
			msg, status = "SKIP relation "+rel.String(), "SKIP"
		}
	}
	head := fmt.Sprintf("%d of %d %s ", res.Index, p.total, msg)
	dots := max(3, lineWidth-len(head))
	p.line("%s%s [%s]", head, strings.Repeat(".", dots), status)
}

// thousands formats 2345 as "2,345".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func (r *runner) header(cmd string, rep *Report) {
	counts := map[ResourceType]int{}
	for _, id := range r.pl.order {
		counts[r.p.Nodes[id].ResourceType]++
	}
	sources := 0
	for _, n := range r.p.Nodes {
		if n.ResourceType == SourceType {
			sources++
		}
	}
	for _, w := range rep.Warnings {
		r.out.line("Warning: %s", w)
	}
	r.out.line("Running cartwheel models %s on %s with %d thread%s: %s, %s", cmd, r.dialect, r.o.threads, english.Plural(r.o.threads),
		nodeCounts(counts), count(sources, "source"))
	if r.snapshot != "" {
		r.out.line("%s", r.snapshot)
	}
	r.out.line("")
	if len(r.pl.order) == 0 {
		r.out.line("Nothing to do: the selection matches no node to %s.", cmd)
	}
}

func nodeCounts(c map[ResourceType]int) string {
	var parts []string
	for _, t := range []ResourceType{ModelType, SeedType, TestType} {
		if c[t] > 0 {
			parts = append(parts, count(c[t], string(t)))
		}
	}
	if len(parts) == 0 {
		return "0 nodes"
	}
	return strings.Join(parts, ", ")
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func (r *runner) footer(rep *Report) {
	pass, warn, errs, skip, total := rep.Counts()
	counts := map[ResourceType]int{}
	for _, res := range rep.Results {
		counts[res.Node.ResourceType]++
	}
	r.out.line("")
	r.out.line("Finished running %s in %.2fs.", nodeCounts(counts), rep.Elapsed.Seconds())
	r.out.line("")
	switch {
	case errs > 0 || warn > 0:
		r.out.line("Completed with %s and %s:", count(errs, "error"), count(warn, "warning"))
		for _, res := range rep.Results {
			n := res.Node
			file, _, _ := strings.Cut(n.Path, "#")
			if n.PatchPath != "" && n.ResourceType == TestType {
				file = n.PatchPath
			}
			var title string
			switch res.Status {
			case StatusError:
				kind := "Database Error"
				if strings.Contains(res.Message, ".sql:") || strings.Contains(res.Message, ".yml:") {
					kind = "Compilation Error"
				}
				title = fmt.Sprintf("%s in %s %s (%s)", kind, n.ResourceType, n.Name, file)
			case StatusFail:
				title = fmt.Sprintf("Failure in test %s (%s)", n.Name, file)
			case StatusWarn:
				title = fmt.Sprintf("Warning in test %s (%s)", n.Name, file)
			default:
				continue
			}
			r.out.line("")
			r.out.line("%s", title)
			r.out.line("  %s", strings.ReplaceAll(res.Message, "\n", "\n  "))
		}
		r.out.line("")
	default:
		r.out.line("Completed successfully")
		r.out.line("")
	}
	r.out.line("Done. PASS=%d WARN=%d ERROR=%d SKIP=%d TOTAL=%d", pass, warn, errs, skip, total)
}
