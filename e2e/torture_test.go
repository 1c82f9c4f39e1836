//go:build torture

package e2e

// The torture suite (`make torture`): the whole system under crashes,
// concurrent starts, outages, a full disk, hostile input and hostile
// clients. Each case prints one line,
//
//	TORTURE <case>: <figures>
//
// and fails on any lost, duplicated or changed row.

import (
	"fmt"
	"strings"
	"testing"
)

// tortureReport prints a case's one line of figures (and logs it, so that
// it shows with -v and in a failure's output).
func tortureReport(t *testing.T, name string, figures ...string) {
	t.Helper()
	line := fmt.Sprintf("TORTURE %s: %s", name, strings.Join(figures, ", "))
	fmt.Println(line)
	t.Log(line)
}
