package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2" // the "duckdb" database/sql driver
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// run executes a command line as main does.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = execute(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestUnknownSubcommands: an argument that names no subcommand fails with
// one clean line at every level, help topics included; suggestions are
// part of the sentence.
func TestUnknownSubcommands(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "cartwheel"`},
		{[]string{"modles"}, `unknown command "modles" for "cartwheel"; did you mean "models"?`},
		{[]string{"--log-level", "warn", "frobnicate"}, `unknown command "frobnicate" for "cartwheel"`},
		{[]string{"models", "frobnicate"}, `unknown command "frobnicate" for "cartwheel models"`},
		{[]string{"models", "buidl"}, `unknown command "buidl" for "cartwheel models"; did you mean "build"?`},
		{[]string{"models", "t"}, `unknown command "t" for "cartwheel models"; did you mean "ls" or "test"?`},
		{[]string{"completion", "frobnicate"}, `unknown command "frobnicate" for "cartwheel completion"`},
		{[]string{"completion", "tcsh"}, `unknown command "tcsh" for "cartwheel completion"; did you mean "bash", "fish" or "zsh"?`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate" for "cartwheel"`},
		{[]string{"help", "models", "frobnicate"}, `unknown command "frobnicate" for "cartwheel models"`},
	} {
		code, stdout, stderr := run(t, c.args...)
		if want := "cartwheel: " + c.want + "\n"; code == 0 || stderr != want || stdout != "" {
			t.Errorf("cartwheel %s: exit %d, stdout %q, stderr %q; want exit 1, stderr %q",
				strings.Join(c.args, " "), code, stdout, stderr, want)
		}
	}
}

// TestGroupsWithoutArgumentsPrintHelp: a command group alone, and help on
// a real command, still print help and succeed.
func TestGroupsWithoutArgumentsPrintHelp(t *testing.T) {
	for _, args := range [][]string{{}, {"models"}, {"completion"}, {"help"}, {"help", "models"}, {"help", "models", "build"}, {"models", "--help"}} {
		code, stdout, stderr := run(t, args...)
		// A group runs nothing of its own: no "cartwheel models [flags]".
		if code != 0 || !strings.Contains(stdout, "Usage:") || strings.Contains(stdout, "models [flags]") || stderr != "" {
			t.Errorf("cartwheel %s: exit %d, stderr %q, stdout %q", strings.Join(args, " "), code, stderr, stdout)
		}
	}
}

// TestFlagArgumentNames: no flag's help takes back-quoted text of its
// usage for the argument's name ("--project cartwheel init"); the
// project flags read --project DIR.
func TestFlagArgumentNames(t *testing.T) {
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			name, _ := pflag.UnquoteUsage(f)
			if strings.Contains(name, " ") || (f.Name == "project" && name != "DIR") {
				t.Errorf("%s --%s: argument named %q", cmd.CommandPath(), f.Name, name)
			}
		})
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(newRootCmd())
	_, stdout, _ := run(t, "models", "build", "--help")
	if !strings.Contains(stdout, "--project DIR ") {
		t.Errorf("models build --help:\n%s", stdout)
	}
}

// TestRunHasProject: `cartwheel run --project DIR`, which the README and
// init's hint suggest, exists.
func TestRunHasProject(t *testing.T) {
	for _, path := range [][]string{{"run"}, {"replay"}, {"models", "build"}, {"models", "docs"}} {
		cmd, _, err := newRootCmd().Find(path)
		if err != nil || cmd.Flags().Lookup("project") == nil {
			t.Errorf("cartwheel %s has no --project (%v)", strings.Join(path, " "), err)
		}
	}
}

func TestInitHint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my-project")
	code, stdout, stderr := run(t, "init", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"cartwheel run --project " + dir, "project: " + dir + " in the config", "cartwheel models build --project " + dir} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the hint does not say %q:\n%s", want, stdout)
		}
	}
}

func TestQueryHelpListsStatements(t *testing.T) {
	_, stdout, _ := run(t, "query", "--help")
	for _, kw := range []string{"SELECT", "WITH", "EXPLAIN", "SHOW", "DESCRIBE"} {
		if !strings.Contains(stdout, kw) {
			t.Errorf("query --help does not mention %s", kw)
		}
	}
}

// TestOneLine: DuckDB's quote of the query and its caret become a position
// in the one-line message.
func TestOneLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"two\nlines\n", "two lines"},
		{"Binder Error: Referenced column \"x\" not found in FROM clause!\n\nLINE 1: SELECT x FROM t\n               ^",
			`Binder Error: Referenced column "x" not found in FROM clause! at character 8`},
		{"Parser Error: syntax error at or near \"FORM\"\n\nLINE 2: x FORM t\n          ^",
			`Parser Error: syntax error at or near "FORM"; at line 2, character 3`},
		{"Binder Error: no\n\nLINE 1: ...0123456789 nosuch, 0123456789...\n                      ^",
			`Binder Error: no; at line 1 near "nosuch, 0123456789"`},
		{"Binder Error: é\nLINE 1: SELECT 'é', x\n                    ^", `Binder Error: é; at character 13`},
		// Not DuckDB's caret: left as is.
		{"LINE 1: text\nmore", "LINE 1: text more"},
	} {
		if got := oneLine(c.in); got != c.want {
			t.Errorf("oneLine(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// TestOneLineOnDuckDBErrors checks oneLine against the errors of the
// DuckDB linked in: on a short line, a later line, wide characters, and a
// line too long for DuckDB to quote whole.
func TestOneLineOnDuckDBErrors(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	long := "SELECT " + strings.Repeat("1 AS a, ", 30) + "nosuch, " + strings.Repeat("2 AS b, ", 30) + "3"
	for _, c := range []struct{ query, want string }{
		{"SELECT nosuch", "at character 8"},
		{"SELECT 1,\n  2,\n  nosuch", "at line 3, character 3"},
		{"SELECT '日本語', 'é', nosuch", "at character 20"},
		{long, `at line 1 near "nosuch, 2 AS b, 2 AS…"`},
	} {
		_, err := db.Exec(c.query)
		if err == nil {
			t.Fatalf("%q: no error", c.query)
		}
		got := oneLine(err.Error())
		if !strings.HasSuffix(got, c.want) || !strings.Contains(got, "nosuch") || strings.Contains(got, "^") {
			t.Errorf("%q: DuckDB says\n%s\none line: %q, want it to end %q", c.query, err, got, c.want)
		}
	}
	// Through the command: the one line on stderr.
	dsn := "duckdb://" + filepath.Join(t.TempDir(), "w.duckdb")
	w, err := warehouse.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	code, _, stderr := run(t, "query", "--warehouse", dsn, "SELECT nosuch FROM events")
	if code == 0 || !strings.HasSuffix(stderr, " at character 8\n") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("query: exit %d, stderr %q", code, stderr)
	}
}
