// Package grafanatest expands Grafana's PostgreSQL macros as Grafana's
// server does before it sends a panel's SQL, so that tests can run the
// exported SQL exactly as Grafana would.
package grafanatest

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// macro is Grafana's own pattern: $name(args), args without ')'.
var macro = regexp.MustCompile(`\$([_a-zA-Z0-9]+)\(([^\)]*)\)`)

// Expand returns sql as Grafana's PostgreSQL data source sends it over
// the range [from, to] with the panel interval: first the global
// substitutions ($__interval_ms, $__interval, $__unixEpochFrom(),
// $__unixEpochTo()), then the macros ($__time, $__timeEpoch,
// $__timeFilter, $__timeFrom, $__timeTo, $__timeGroup, $__timeGroupAlias,
// $__unixEpochFilter, $__unixEpochNanoFilter, $__unixEpochNanoFrom,
// $__unixEpochNanoTo, $__unixEpochGroup, $__unixEpochGroupAlias). An
// unknown macro is an error, as in Grafana.
func Expand(sql string, from, to time.Time, interval time.Duration) (string, error) {
	from, to = from.UTC(), to.UTC()
	sql = strings.ReplaceAll(sql, "$__interval_ms", strconv.FormatInt(interval.Milliseconds(), 10))
	sql = strings.ReplaceAll(sql, "$__interval", FormatInterval(interval))
	sql = strings.ReplaceAll(sql, "$__unixEpochFrom()", strconv.FormatInt(from.Unix(), 10))
	sql = strings.ReplaceAll(sql, "$__unixEpochTo()", strconv.FormatInt(to.Unix(), 10))

	var firstErr error
	var b strings.Builder
	last := 0
	for _, m := range macro.FindAllStringSubmatchIndex(sql, -1) {
		whole, name, rawArgs := sql[m[0]:m[1]], sql[m[2]:m[3]], sql[m[4]:m[5]]
		// Before Grafana 5.3 $__timeGroup added the alias; a ',' right
		// after it still means that.
		if name == "__timeGroup" {
			if i := strings.Index(sql, whole); i >= 0 && i+len(whole) < len(sql) && sql[i+len(whole)] == ',' {
				name = "__timeGroupAlias"
			}
		}
		args := strings.Split(rawArgs, ",")
		for i := range args {
			args[i] = strings.Trim(args[i], " ")
		}
		res, err := evaluate(name, args, from, to)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		b.WriteString(sql[last:m[0]])
		b.WriteString(res)
		last = m[1]
	}
	b.WriteString(sql[last:])
	if firstErr != nil {
		return "", firstErr
	}
	return b.String(), nil
}

func evaluate(name string, args []string, from, to time.Time) (string, error) {
	col := func() (string, error) {
		if len(args) == 0 || args[0] == "" {
			return "", fmt.Errorf("missing time column argument for macro %v", name)
		}
		return args[0], nil
	}
	switch name {
	case "__time":
		c, err := col()
		return c + ` AS "time"`, err
	case "__timeEpoch":
		c, err := col()
		return fmt.Sprintf(`extract(epoch from %s) as "time"`, c), err
	case "__timeFilter":
		c, err := col()
		return fmt.Sprintf("%s BETWEEN '%s' AND '%s'", c, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano)), err
	case "__timeFrom":
		return "'" + from.Format(time.RFC3339Nano) + "'", nil
	case "__timeTo":
		return "'" + to.Format(time.RFC3339Nano) + "'", nil
	case "__timeGroup", "__unixEpochGroup":
		if len(args) < 2 {
			return "", fmt.Errorf("macro %v needs time column and interval and optional fill value", name)
		}
		iv, err := ParseInterval(strings.Trim(args[1], `'`))
		if err != nil {
			return "", fmt.Errorf("error parsing interval %v", args[1])
		}
		s := strconv.FormatFloat(iv.Seconds(), 'f', -1, 64)
		if name == "__unixEpochGroup" {
			return fmt.Sprintf("floor((%s)/%s)*%s", args[0], s, s), nil
		}
		return fmt.Sprintf("floor(extract(epoch from %s)/%s)*%s", args[0], s, s), nil
	case "__timeGroupAlias", "__unixEpochGroupAlias":
		g, err := evaluate(strings.TrimSuffix(name, "Alias"), args, from, to)
		return g + ` AS "time"`, err
	case "__unixEpochFilter":
		c, err := col()
		return fmt.Sprintf("%s >= %d AND %s <= %d", c, from.Unix(), c, to.Unix()), err
	case "__unixEpochNanoFilter":
		c, err := col()
		return fmt.Sprintf("%s >= %d AND %s <= %d", c, from.UnixNano(), c, to.UnixNano()), err
	case "__unixEpochNanoFrom":
		return strconv.FormatInt(from.UnixNano(), 10), nil
	case "__unixEpochNanoTo":
		return strconv.FormatInt(to.UnixNano(), 10), nil
	}
	return "", fmt.Errorf("unknown macro %q", name)
}

// ParseInterval reads an interval as Grafana writes one: a number and
// ms, s, m, h, d, w or y ("5m", "300ms"); a bare number is seconds.
func ParseInterval(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || i == 0 {
		return 0, fmt.Errorf("interval %q", s)
	}
	unit := map[string]time.Duration{"": time.Second, "ms": time.Millisecond, "s": time.Second, "m": time.Minute,
		"h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}
	u, ok := unit[s[i:]]
	if !ok {
		return 0, errors.New("unknown interval unit in " + strconv.Quote(s))
	}
	return time.Duration(n * float64(u)), nil
}

// FormatInterval writes an interval as Grafana's $__interval does: in the
// largest unit that leaves a whole number of at least 1.
func FormatInterval(d time.Duration) string {
	ms := d.Milliseconds()
	switch {
	case ms >= 365*24*3600*1000:
		return fmt.Sprintf("%dy", ms/(365*24*3600*1000))
	case ms >= 24*3600*1000:
		return fmt.Sprintf("%dd", ms/(24*3600*1000))
	case ms >= 3600*1000:
		return fmt.Sprintf("%dh", ms/(3600*1000))
	case ms >= 60*1000:
		return fmt.Sprintf("%dm", ms/(60*1000))
	case ms >= 1000:
		return fmt.Sprintf("%ds", ms/1000)
	}
	return fmt.Sprintf("%dms", ms)
}
