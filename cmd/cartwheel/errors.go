package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
	"github.com/spf13/cobra"
)

// rejectUnknownSubcommands makes every command group under cmd (a command
// with subcommands and nothing to run of its own) fail on an argument that
// names none of its subcommands. Cobra itself checks this for the root only;
// below it, `cartwheel models frobnicate` would print help and exit 0.
func rejectUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		rejectUnknownSubcommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs // the RunE below judges them
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return unknownCommandError(cmd, args[0])
	}
}

// groupUsage keeps "cartwheel models [flags]" out of the usage of the
// groups that rejectUnknownSubcommands made runnable: they run nothing.
func groupUsage(root *cobra.Command) {
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(),
		"Usage:{{if .Runnable}}", "Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
}

// strictHelp replaces the run of root's help command: cobra's prints the
// root's usage and exits 0 on an unknown topic (`cartwheel help frobnicate`).
func strictHelp(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	for _, help := range root.Commands() {
		if help.Name() != "help" {
			continue
		}
		help.Run = nil
		help.RunE = func(help *cobra.Command, args []string) error {
			cmd, rest, err := help.Root().Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return unknownCommandError(cmd, rest[0])
			}
			cmd.InitDefaultHelpFlag() // so that help lists --help
			return cmd.Help()
		}
	}
}

// unknownCommandError is cobra's "unknown command" error on one line, with
// its suggestions ("Did you mean this?\n\tbuild\n") folded into the sentence.
func unknownCommandError(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, applied lazily by cobra
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		for i := range s {
			s[i] = strconv.Quote(s[i])
		}
		alternatives := s[len(s)-1]
		if len(s) > 1 {
			alternatives = strings.Join(s[:len(s)-1], ", ") + " or " + alternatives
		}
		msg += "; did you mean " + alternatives + "?"
	}
	return errors.New(msg)
}

// duckDBQuote is the line DuckDB appends to an error about a place in the
// query: "LINE 3: " and that line of the query (at most about 80
// characters of it around the place, "..." marking a cut). The next line
// has a caret under the place.
var duckDBQuote = regexp.MustCompile(`^LINE (\d+): (.*)$`)

// oneLine flattens an error message to one line for stderr. DuckDB's caret
// would point at nothing once flattened, so its quote and caret become an
// ending "at character N" (line 1 of the query), "at line L, character N",
// or, when DuckDB quoted only part of the line, `at line L near "…"`.
func oneLine(msg string) string {
	lines := strings.Split(msg, "\n")
	var parts []string
	for i := 0; i < len(lines); i++ {
		if m := duckDBQuote.FindStringSubmatch(lines[i]); m != nil && i+1 < len(lines) {
			if at, ok := caretPosition(m[1], m[2], lines[i+1], len(lines[i])-len(m[2])); ok {
				// Set off from what precedes it, which may be a list of
				// names ("Candidate bindings: "a", "b"").
				if k := len(parts) - 1; k >= 0 && !strings.ContainsAny(parts[k][len(parts[k])-1:], ".!?:;,") {
					parts[k] += ";"
				}
				parts = append(parts, at)
				i++
				continue
			}
		}
		if s := strings.TrimSpace(lines[i]); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

// caretPosition reads where DuckDB's caret points: quote is the quoted
// part of query line lineNo, caret the line under it, and indent the width
// of the "LINE n: " before the quote. DuckDB indents the caret by the
// display width of the grapheme clusters before the place (two columns for
// an East Asian character), as uniseg measures them.
func caretPosition(lineNo, quote, caret string, indent int) (string, bool) {
	col := strings.IndexByte(caret, '^') - indent
	if col < 0 || strings.TrimSpace(caret) != "^" {
		return "", false
	}
	cut := strings.HasPrefix(quote, "...")
	if cut {
		quote, col = quote[len("..."):], col-len("...")
	}
	n := 0 // characters of quote before the caret
	rest, state := quote, -1
	for col > 0 && rest != "" {
		var cluster string
		var width int
		cluster, rest, width, state = uniseg.FirstGraphemeClusterInString(rest, state)
		col -= width
		n += utf8.RuneCountInString(cluster)
	}
	if !cut {
		if lineNo == "1" {
			return fmt.Sprintf("at character %d", n+1), true
		}
		return fmt.Sprintf("at line %s, character %d", lineNo, n+1), true
	}
	// The quote starts somewhere inside the line: show the text at the caret.
	rest = strings.TrimSuffix(rest, "...")
	if r := []rune(rest); len(r) > 20 {
		rest = string(r[:20]) + "…"
	}
	return fmt.Sprintf("at line %s near %q", lineNo, rest), true
}
