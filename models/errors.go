package models

import (
	"errors"
	"fmt"
	"strings"
)

// TemplateError is a Jinja error in a project file: a syntax error, an
// unknown ref or source, a failing macro call.
type TemplateError struct {
	File string // path within the project, e.g. models/marts/dim_users.sql
	Line int    // 1-based; 0 when unknown
	Col  int    // 1-based; 0 when unknown
	Msg  string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("%s: %s", position(e.File, e.Line, e.Col), e.Msg)
}

// ParseError is an invalid project file other than a template: bad YAML, an
// unreadable seed, an inconsistent property.
type ParseError struct {
	File string
	Line int // 1-based; 0 when unknown
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s: %s", position(e.File, e.Line, 0), e.Msg)
}

func position(file string, line, col int) string {
	switch {
	case line > 0 && col > 0:
		return fmt.Sprintf("%s:%d:%d", file, line, col)
	case line > 0:
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

// CycleError is a dependency cycle between nodes. Path starts and ends with
// the same node, e.g. [a b c a] for a → b → c → a (a depends on b ...).
type CycleError struct {
	Path []string
}

func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Path, " -> ")
}

// ErrFailed is returned (wrapped) by Run, Test and Build when a node ended
// in error or a test failed; the Report says which.
var ErrFailed = errors.New("models: one or more nodes failed")

// errorList joins several load errors into one, one per line.
type errorList []error

func (l errorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

func (l errorList) Unwrap() []error { return l }

func (l errorList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return l
}
