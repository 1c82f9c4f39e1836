package grafana_test

import (
	"flag"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/cartwheel-analytics/cartwheel/internal/pgtest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	pgtest.Terminate()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/duckdb/duckdb-go/v2.(*Connector).Connect.func1")); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
