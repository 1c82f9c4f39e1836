package models

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SnapshotVar is the template variable that bounds the streaming sources
// for one invocation (see "Snapshots" in the package doc).
const SnapshotVar = "snapshot_at"

// snapshotLayout is how snapshot_at is written: UTC, microseconds, the
// precision of the warehouse's TIMESTAMPs.
const snapshotLayout = "2006-01-02 15:04:05.000000"

// emptySnapshot is snapshot_at when every bounding source is empty: earlier
// than any load time, so rows committed during the run stay out of it.
const emptySnapshot = "1970-01-01 00:00:00.000000"

// snapshot is the snapshot an invocation reads.
type snapshot struct {
	at     any    // snapshot_at as templates see it: canonical text, or nil (no bound)
	origin string // how it was fixed, for the log
}

// describe is the log line of a snapshot.
func (s snapshot) describe() string {
	if s.at == nil {
		return fmt.Sprintf("Snapshot: none, the sources are read live (%s is null)", SnapshotVar)
	}
	return fmt.Sprintf("Snapshot: %s = %s (%s)", SnapshotVar, s.at, s.origin)
}

// snapshotSources are the source tables with a loaded_at_field, in
// unique-id order.
func (p *Project) snapshotSources() []*Node {
	var out []*Node
	for _, n := range p.sorted(SourceType) {
		if n.LoadedAtField != "" {
			out = append(out, n)
		}
	}
	return out
}

// fixSnapshot fixes snapshot_at for one invocation. A snapshot_at passed
// in vars (--vars), or else set in dbt_project.yml, is honoured, normalised
// to UTC text (null: no bound); otherwise it is the greatest
// loaded_at_field of the project's sources, read in one statement. It returns the vars the templates see (vars plus
// snapshot_at; vars itself is not changed) and the snapshot, or ok false
// when the project has no source with a loaded_at_field and no snapshot_at
// was passed.
func (p *Project) fixSnapshot(ctx context.Context, db DB, vars map[string]any) (out map[string]any, s snapshot, ok bool, err error) {
	v, given := vars[SnapshotVar]
	origin := "set with --vars"
	if !given {
		v, given = p.Vars[SnapshotVar]
		origin = "set in dbt_project.yml"
	}
	if given {
		at, err := normalizeSnapshot(v)
		if err != nil {
			return nil, s, false, err
		}
		s = snapshot{at: at, origin: origin}
	} else {
		srcs := p.snapshotSources()
		if len(srcs) == 0 || db == nil {
			return vars, s, false, nil
		}
		at, err := readSnapshot(ctx, db, srcs)
		if err != nil {
			return nil, s, false, err
		}
		var names []string
		for _, n := range srcs {
			names = append(names, n.Identifier+"."+n.LoadedAtField)
		}
		s = snapshot{at: at, origin: "the latest of " + strings.Join(names, ", ")}
		if at == emptySnapshot {
			s.origin = "the sources " + strings.Join(names, ", ") + " are empty"
		}
	}
	out = make(map[string]any, len(vars)+1)
	for k, v := range vars {
		out[k] = v
	}
	out[SnapshotVar] = s.at
	return out, s, true, nil
}

// readSnapshot returns the greatest loaded_at_field of the sources, or
// emptySnapshot when they are all empty. One statement reads them all, so
// on every warehouse they come from one consistent state.
func readSnapshot(ctx context.Context, db DB, srcs []*Node) (string, error) {
	cols := make([]string, len(srcs))
	for i, n := range srcs {
		cols[i] = fmt.Sprintf("(SELECT max(%s) FROM %s) AS bound_%d", n.LoadedAtField, n.relation(), i)
	}
	res, err := db.Query(ctx, "SELECT "+strings.Join(cols, ",\n\t"))
	if err != nil {
		return "", fmt.Errorf("fix the snapshot of the sources (pin it with --vars '{%s: ...}' to skip this): %w", SnapshotVar, err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != len(srcs) {
		return "", fmt.Errorf("fix the snapshot of the sources: unexpected result")
	}
	var latest time.Time
	found := false
	for i, v := range res.Rows[0] {
		if v == nil {
			continue
		}
		t, err := snapshotTime(v)
		if err != nil {
			return "", fmt.Errorf("fix the snapshot: max(%s) of %s: %w", srcs[i].LoadedAtField, srcs[i].relation(), err)
		}
		if !found || t.After(latest) {
			latest, found = t, true
		}
	}
	if !found {
		return emptySnapshot, nil
	}
	return latest.UTC().Format(snapshotLayout), nil
}

// snapshotLayouts are the accepted text forms of snapshot_at; a value with
// a UTC offset is converted to UTC, one without is UTC.
var snapshotLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05.999999999 -07:00",
	"2006-01-02 15:04:05.999999999 -0700",
	"2006-01-02",
}

// normalizeSnapshot turns a snapshot_at value (text, or a YAML timestamp)
// into the canonical UTC text; null (or "") means no bound.
func normalizeSnapshot(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return nil, nil
	}
	t, err := snapshotTime(v)
	if err != nil {
		return nil, fmt.Errorf("var %s: %w", SnapshotVar, err)
	}
	return t.UTC().Format(snapshotLayout), nil
}

// snapshotTime reads a time: a time.Time, or text in one of snapshotLayouts.
func snapshotTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Truncate(time.Microsecond), nil
	case string:
		s := strings.TrimSpace(x)
		for _, l := range snapshotLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t.UTC().Truncate(time.Microsecond), nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("want a UTC timestamp such as '2026-03-02 12:00:00.000000' (or null for no bound), got %v", v)
}
