package models

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// projectFile is dbt_project.yml. Keys other tools add (dags:, dashboards:)
// are ignored.
type projectFile struct {
	Name          string         `yaml:"name"`
	Version       any            `yaml:"version"`
	ConfigVersion int            `yaml:"config-version"`
	ModelPaths    []string       `yaml:"model-paths"`
	SeedPaths     []string       `yaml:"seed-paths"`
	TestPaths     []string       `yaml:"test-paths"`
	MacroPaths    []string       `yaml:"macro-paths"`
	Vars          map[string]any `yaml:"vars"`
	Models        map[string]any `yaml:"models"`
	Seeds         map[string]any `yaml:"seeds"`
	Tests         map[string]any `yaml:"tests"`
	DataTests     map[string]any `yaml:"data_tests"`
}

// propertiesFile is a schema.yml / sources.yml file.
type propertiesFile struct {
	Version any           `yaml:"version"`
	Models  []nodeProps   `yaml:"models"`
	Seeds   []nodeProps   `yaml:"seeds"`
	Sources []sourceProps `yaml:"sources"`
}

type nodeProps struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	Config      map[string]any `yaml:"config"`
	Columns     []columnProps  `yaml:"columns"`
	Tests       []yaml.Node    `yaml:"tests"`
	DataTests   []yaml.Node    `yaml:"data_tests"`
	Line        int            `yaml:"-"`
}

func (n *nodeProps) UnmarshalYAML(v *yaml.Node) error {
	type plain nodeProps
	if err := v.Decode((*plain)(n)); err != nil {
		return err
	}
	n.Line = v.Line
	return nil
}

type columnProps struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	DataType    string         `yaml:"data_type"`
	Meta        map[string]any `yaml:"meta"`
	Tests       []yaml.Node    `yaml:"tests"`
	DataTests   []yaml.Node    `yaml:"data_tests"`
	Line        int            `yaml:"-"`
}

func (c *columnProps) UnmarshalYAML(v *yaml.Node) error {
	type plain columnProps
	if err := v.Decode((*plain)(c)); err != nil {
		return err
	}
	c.Line = v.Line
	return nil
}

type sourceProps struct {
	Name          string       `yaml:"name"`
	Description   string       `yaml:"description"`
	Schema        string       `yaml:"schema"`
	LoadedAtField string       `yaml:"loaded_at_field"` // the default of its tables
	Tables        []tableProps `yaml:"tables"`
	Line          int          `yaml:"-"`
}

func (s *sourceProps) UnmarshalYAML(v *yaml.Node) error {
	type plain sourceProps
	if err := v.Decode((*plain)(s)); err != nil {
		return err
	}
	s.Line = v.Line
	return nil
}

type tableProps struct {
	Name          string        `yaml:"name"`
	Identifier    string        `yaml:"identifier"`
	Description   string        `yaml:"description"`
	LoadedAtField *string       `yaml:"loaded_at_field"` // "" turns the source's default off
	Columns       []columnProps `yaml:"columns"`
	Tests         []yaml.Node   `yaml:"tests"`
	DataTests     []yaml.Node   `yaml:"data_tests"`
	Line          int           `yaml:"-"`
}

func (t *tableProps) UnmarshalYAML(v *yaml.Node) error {
	type plain tableProps
	if err := v.Decode((*plain)(t)); err != nil {
		return err
	}
	t.Line = v.Line
	return nil
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

// decodeYAML decodes one YAML document, reporting errors with their line.
func decodeYAML(file string, data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(out); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
		msg = strings.TrimSpace(msg)
		pe := &ParseError{File: file, Msg: "invalid YAML: " + msg}
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			pe.Line, _ = strconv.Atoi(m[1])
			pe.Msg = "invalid YAML: " + strings.TrimSpace(strings.Replace(msg, m[0], "", 1))
			if i := strings.Index(pe.Msg, "\n"); i > 0 {
				pe.Msg = pe.Msg[:i] // the first of several errors
			}
			if l := syntaxErrorLine(data, err); l > 0 {
				pe.Line = l
			}
		}
		return pe
	}
	return nil
}

// syntaxErrorLine finds the line of a YAML syntax error: yaml.v3 reports
// the line where the enclosing block starts, not the offending line. It is
// the last line of the shortest prefix of the file that fails the same way.
func syntaxErrorLine(data []byte, full error) int {
	var te *yaml.TypeError
	if errors.As(full, &te) {
		return 0 // a type error's line is right
	}
	want := yamlLine.ReplaceAllString(full.Error(), "")
	lines := bytes.SplitAfter(data, []byte("\n"))
	for k := 1; k <= len(lines); k++ {
		var v any
		err := yaml.Unmarshal(bytes.Join(lines[:k], nil), &v)
		if err != nil && yamlLine.ReplaceAllString(err.Error(), "") == want {
			return k
		}
	}
	return 0
}

// testSpec is one entry of a tests: list in a properties file.
type testSpec struct {
	name   string         // not_null, unique, accepted_values, relationships
	args   map[string]any // the test's arguments
	config map[string]any // severity, where, enabled, tags
	line   int
}

// parseTests reads the tests of a model, column or source table. An entry
// is a test name, or a one-key mapping from the name to its arguments
// (arguments may also sit under `arguments:` and settings under `config:`).
func parseTests(file string, nodes ...[]yaml.Node) ([]testSpec, error) {
	var out []testSpec
	for _, list := range nodes {
		for _, n := range list {
			t := testSpec{line: n.Line, args: map[string]any{}, config: map[string]any{}}
			switch n.Kind {
			case yaml.ScalarNode:
				t.name = n.Value
			case yaml.MappingNode:
				if len(n.Content) != 2 {
					return nil, &ParseError{File: file, Line: n.Line, Msg: "a test is a name or a mapping with a single key (the test name)"}
				}
				t.name = n.Content[0].Value
				var raw map[string]any
				if err := n.Content[1].Decode(&raw); err != nil {
					return nil, &ParseError{File: file, Line: n.Content[1].Line, Msg: fmt.Sprintf("test %s: %v", t.name, err)}
				}
				for k, v := range raw {
					switch k {
					case "config":
						m, ok := v.(map[string]any)
						if !ok {
							return nil, &ParseError{File: file, Line: n.Line, Msg: fmt.Sprintf("test %s: config must be a mapping", t.name)}
						}
						for ck, cv := range m {
							t.config[ck] = cv
						}
					case "arguments":
						m, ok := v.(map[string]any)
						if !ok {
							return nil, &ParseError{File: file, Line: n.Line, Msg: fmt.Sprintf("test %s: arguments must be a mapping", t.name)}
						}
						for ak, av := range m {
							t.args[ak] = av
						}
					case "severity", "where", "enabled", "tags", "warn_if", "error_if", "store_failures", "limit":
						t.config[k] = v
					default:
						t.args[k] = v
					}
				}
			default:
				return nil, &ParseError{File: file, Line: n.Line, Msg: "a test is a name or a mapping with a single key (the test name)"}
			}
			out = append(out, t)
		}
	}
	return out, nil
}
