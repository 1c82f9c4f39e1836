package dashboard_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Terminate()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/duckdb/duckdb-go/v2.(*Connector).Connect.func1")); err != nil {
			// Leaks are reported, not ignored.
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
