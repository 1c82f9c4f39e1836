package models

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// folderConfig merges the config of the folder tree of dbt_project.yml
// (models: / seeds: / data_tests:) along dirs, under the project's name.
func folderConfig(tree map[string]any, project string, dirs []string) map[string]any {
	out := map[string]any{}
	level, ok := tree[project].(map[string]any)
	if !ok {
		return out
	}
	for i := 0; ; i++ {
		for k, v := range level {
			key, plus := strings.CutPrefix(k, "+")
			if _, isMap := v.(map[string]any); plus || (knownConfig[key] && !isMap) || key == "meta" || key == "column_types" {
				mergeConfigValue(out, key, v)
			}
		}
		if i >= len(dirs) {
			return out
		}
		next, ok := level[dirs[i]].(map[string]any)
		if !ok {
			return out
		}
		level = next
	}
}

func mergeConfigValue(m map[string]any, k string, v any) {
	if k == "tags" {
		m[k] = append(toStrings(m[k]), toStrings(v)...)
		return
	}
	m[k] = v
}

var knownConfig = map[string]bool{
	"enabled": true, "materialized": true, "unique_key": true, "incremental_strategy": true,
	"schema": true, "alias": true, "tags": true, "severity": true, "where": true,
	"column_types": true, "full_refresh": true, "meta": true, "docs": true,
	"on_schema_change": true, "persist_docs": true, "contract": true, "grants": true,
	"pre-hook": true, "post-hook": true, "pre_hook": true, "post_hook": true,
	"warn_if": true, "error_if": true, "store_failures": true, "limit": true, "quote_columns": true,
}

func toStrings(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// applyConfig applies one layer of configuration.
func applyConfig(c *Config, m map[string]any) error {
	keys := slices.Sorted(maps.Keys(m))
	for _, k := range keys {
		v := m[k]
		str := func() (string, error) {
			s, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("%s must be a string, got %v", k, v)
			}
			return s, nil
		}
		var err error
		switch strings.TrimPrefix(k, "+") {
		case "enabled":
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("enabled must be true or false, got %v", v)
			}
			c.Enabled = b
		case "materialized":
			c.Materialized, err = str()
		case "unique_key":
			c.UniqueKey = toStrings(v)
		case "incremental_strategy":
			c.IncrementalStrategy, err = str()
		case "schema":
			c.Schema, err = str()
		case "alias":
			c.Alias, err = str()
		case "tags":
			for _, t := range toStrings(v) {
				if !slices.Contains(c.Tags, t) {
					c.Tags = append(c.Tags, t)
				}
			}
		case "severity":
			var s string
			s, err = str()
			c.Severity = strings.ToLower(s)
		case "where":
			c.Where, err = str()
		case "full_refresh":
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("full_refresh must be true or false, got %v", v)
			}
			c.FullRefresh = &b
		case "column_types":
			mm, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("column_types must be a mapping of column to type")
			}
			if c.ColumnTypes == nil {
				c.ColumnTypes = map[string]string{}
			}
			for ck, cv := range mm {
				c.ColumnTypes[ck] = fmt.Sprint(cv)
			}
		case "meta":
			mm, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("meta must be a mapping")
			}
			if c.Meta == nil {
				c.Meta = map[string]any{}
			}
			maps.Copy(c.Meta, mm)
		case "pre-hook", "post-hook", "pre_hook", "post_hook":
			return fmt.Errorf("%s is not supported", k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
