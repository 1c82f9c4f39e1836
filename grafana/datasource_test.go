package grafana_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cartwheel-analytics/cartwheel/grafana"
	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

func TestDataSourceFor(t *testing.T) {
	for _, c := range []struct {
		name, dsn string
		ep        grafana.Endpoint
		want      grafana.DataSource
	}{
		{"duckdb: the appliance's endpoint", "duckdb://data/cartwheel.duckdb", grafana.Endpoint{Addr: "127.0.0.1:5433"},
			grafana.DataSource{Host: "127.0.0.1", Port: "5433", Database: "cartwheel", User: "cartwheel", SSLMode: "disable", Appliance: true, Dialect: warehouse.DuckDB}},
		{"duckdb, endpoint on all interfaces: dialled on loopback, with the token", "duckdb://w.duckdb", grafana.Endpoint{Addr: "0.0.0.0:6000"},
			grafana.DataSource{Host: "127.0.0.1", Port: "6000", Database: "cartwheel", User: "cartwheel", SSLMode: "disable", Password: true, Appliance: true, Dialect: warehouse.DuckDB}},
		{"duckdb, endpoint with TLS off loopback", "duckdb://w.duckdb", grafana.Endpoint{Addr: "192.168.1.20:5433", TLS: true},
			grafana.DataSource{Host: "192.168.1.20", Port: "5433", Database: "cartwheel", User: "cartwheel", SSLMode: "require", Password: true, Appliance: true, Dialect: warehouse.DuckDB}},
		{"duckdb, [::1]", "duckdb://:memory:", grafana.Endpoint{Addr: "[::1]:5433"},
			grafana.DataSource{Host: "::1", Port: "5433", Database: "cartwheel", User: "cartwheel", SSLMode: "disable", Appliance: true, Dialect: warehouse.DuckDB}},
		{"postgres: the warehouse", "postgres://reader:hunter2@db.internal:6432/analytics?sslmode=verify-full", grafana.Endpoint{Addr: "127.0.0.1:5433"},
			grafana.DataSource{Host: "db.internal", Port: "6432", Database: "analytics", User: "reader", SSLMode: "verify-full", Password: true, Dialect: warehouse.Postgres}},
		{"postgresql:// on loopback, default port, prefer", "postgresql://reader@localhost/analytics?sslmode=prefer", grafana.Endpoint{},
			grafana.DataSource{Host: "localhost", Port: "5432", Database: "analytics", User: "reader", SSLMode: "disable", Password: true, Dialect: warehouse.Postgres}},
		{"postgres, remote, no sslmode", "postgres://reader@10.0.0.5/analytics?password=hunter2", grafana.Endpoint{},
			grafana.DataSource{Host: "10.0.0.5", Port: "5432", Database: "analytics", User: "reader", SSLMode: "require", Password: true, Dialect: warehouse.Postgres}},
		{"redshift: port 5439, require", "redshift://reader:hunter2@cluster.example.com/dev", grafana.Endpoint{},
			grafana.DataSource{Host: "cluster.example.com", Port: "5439", Database: "dev", User: "reader", SSLMode: "require", Password: true, Dialect: warehouse.Redshift}},
		{"user and database as parameters", "postgres://db.internal?user=reader&dbname=analytics", grafana.Endpoint{},
			grafana.DataSource{Host: "db.internal", Port: "5432", Database: "analytics", User: "reader", SSLMode: "require", Password: true, Dialect: warehouse.Postgres}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := grafana.DataSourceFor(c.dsn, c.ep)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDataSourceForRefuses(t *testing.T) {
	for _, c := range []struct {
		dsn  string
		ep   grafana.Endpoint
		want string
	}{
		{"duckdb://w.duckdb", grafana.Endpoint{}, `that is off (pg: "")`},
		{"duckdb://w.duckdb", grafana.Endpoint{Addr: "5433"}, "want HOST:PORT"},
		{"postgres://reader:hunter2@db.internal/", grafana.Endpoint{}, "needs the database and the user"},
		{"postgres://db.internal/analytics", grafana.Endpoint{}, "needs the database and the user"},
		{"postgres://reader:hunter2@a,b/analytics", grafana.Endpoint{}, "one TCP host"},
		{"postgres://re$der:hunter2@db/analytics", grafana.Endpoint{}, "'$'"},
		{"mysql://x", grafana.Endpoint{}, "unknown scheme"},
	} {
		_, err := grafana.DataSourceFor(c.dsn, c.ep)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DataSourceFor(%q): %v, want %q", c.dsn, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("DataSourceFor(%q): the error shows the password: %v", c.dsn, err)
		}
	}
}

// The password of a DSN is in none of the files; the data source names
// the environment variable instead.
func TestNoPasswordInFiles(t *testing.T) {
	d := goldenProject(t)
	for _, dsn := range []string{
		"postgres://reader:hunter2@db.internal/analytics",
		"postgres://reader@db.internal/analytics?password=hunter2",
		"redshift://reader:hunter2@cluster.example.com/dev",
		"postgresql://reader:hunter2@localhost:5432/analytics?sslmode=disable&sslpassword=hunter2",
	} {
		files := export(t, d, dsn)
		for path, data := range files {
			if strings.Contains(string(data), "hunter2") {
				t.Errorf("%s: %s holds the password", dsn, path)
			}
		}
		if !strings.Contains(string(files[grafana.DataSourceFile]), "password: $"+grafana.PasswordEnv+"\n") {
			t.Errorf("%s: the data source does not take the password from %s:\n%s", dsn, grafana.PasswordEnv, files[grafana.DataSourceFile])
		}
	}
	// On loopback the appliance wants no password: the file has none.
	files := export(t, d, "duckdb://x.duckdb")
	if strings.Contains(string(files[grafana.DataSourceFile]), "secureJsonData") {
		t.Errorf("a loopback endpoint's data source asks for a password:\n%s", files[grafana.DataSourceFile])
	}
}
