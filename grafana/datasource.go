package grafana

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/cartwheel-analytics/cartwheel/warehouse"
)

// PasswordEnv is the environment variable of Grafana's process that holds
// the data source's password; the provisioning file names it and Grafana
// expands it when it reads the file, so no password is ever written.
const PasswordEnv = "CARTWHEEL_GRAFANA_DB_PASSWORD"

// DefaultEndpoint is the appliance's Postgres endpoint by default.
const DefaultEndpoint = "127.0.0.1:5433"

// EndpointDatabase is the database name the appliance's endpoint answers to.
const EndpointDatabase = "cartwheel"

// PluginType is the plugin id of Grafana's PostgreSQL data source since
// Grafana 10.2.3 ("postgres" is its alias).
const PluginType = "grafana-postgresql-datasource"

// DataSource is where Grafana reads the warehouse.
type DataSource struct {
	// Host and Port as Grafana dials them.
	Host, Port string
	Database   string
	User       string
	// SSLMode is Grafana's: disable, require, verify-ca or verify-full.
	SSLMode string
	// Password says the server wants one: the file then takes it from
	// PasswordEnv.
	Password bool
	// Appliance says this is the appliance's endpoint, not the warehouse.
	Appliance bool
	// Dialect is the warehouse's.
	Dialect warehouse.Dialect
}

// URL is the host:port Grafana dials.
func (d DataSource) URL() string { return net.JoinHostPort(d.Host, d.Port) }

// Endpoint is the appliance's Postgres endpoint.
type Endpoint struct {
	// Addr is its listen address (pg: in the config); "" is off. An
	// unspecified host (0.0.0.0, ::) is dialled on loopback.
	Addr string
	// TLS says it has a certificate (pg_tls: in the config).
	TLS bool
}

// DataSourceFor returns the data source Grafana uses for a warehouse DSN:
// for DuckDB the appliance's Postgres endpoint, for PostgreSQL and
// Redshift the warehouse itself. The DSN's password is never kept.
func DataSourceFor(dsn string, endpoint Endpoint) (DataSource, error) {
	d, err := warehouse.ParseDSN(dsn)
	if err != nil {
		return DataSource{}, err
	}
	if d.Dialect == warehouse.DuckDB {
		return applianceDataSource(endpoint)
	}
	// ParseDSN has checked the URL; parse it again for its parts (the
	// parsed form is the warehouse's own).
	u, err := url.Parse(dsn)
	if err != nil {
		return DataSource{}, fmt.Errorf("warehouse DSN %q: %w", warehouse.RedactDSN(dsn), errors.Unwrap(err))
	}
	ds := DataSource{Dialect: d.Dialect, Host: u.Hostname(), Port: u.Port(), Database: strings.TrimPrefix(u.Path, "/"), Password: true}
	if u.User != nil {
		ds.User = u.User.Username()
	}
	q := u.Query()
	if ds.Host == "" {
		ds.Host = q.Get("host")
	}
	if ds.Host == "" {
		ds.Host = "localhost"
	}
	if strings.Contains(ds.Host, ",") || strings.HasPrefix(ds.Host, "/") {
		return DataSource{}, fmt.Errorf("warehouse DSN %q: Grafana's data source takes one TCP host, not %q", warehouse.RedactDSN(dsn), ds.Host)
	}
	if ds.Port == "" {
		ds.Port = q.Get("port")
	}
	if ds.Port == "" {
		ds.Port = "5432"
		if d.Dialect == warehouse.Redshift {
			ds.Port = "5439"
		}
	}
	if ds.Database == "" {
		ds.Database = q.Get("dbname")
	}
	if ds.User == "" {
		ds.User = q.Get("user")
	}
	if ds.Database == "" || ds.User == "" {
		return DataSource{}, fmt.Errorf("warehouse DSN %q: Grafana needs the database and the user; name both in the DSN", warehouse.RedactDSN(dsn))
	}
	ds.SSLMode = sslMode(q.Get("sslmode"), ds.Host, d.Dialect)
	for what, v := range map[string]string{"host": ds.Host, "user": ds.User, "database": ds.Database} {
		// Grafana expands $NAME in provisioning values.
		if strings.ContainsAny(v, "$\n") {
			return DataSource{}, fmt.Errorf("warehouse DSN %q: the %s has a '$' or a line break, which Grafana's provisioning would misread", warehouse.RedactDSN(dsn), what)
		}
	}
	return ds, nil
}

func applianceDataSource(ep Endpoint) (DataSource, error) {
	endpoint := ep.Addr
	if endpoint == "" {
		return DataSource{}, errors.New(`the warehouse is DuckDB, which Grafana reads through the appliance's Postgres endpoint, and that is off (pg: ""); turn it on (pg: 127.0.0.1:5433) or name the address with --pg`)
	}
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return DataSource{}, fmt.Errorf("postgres endpoint %q: want HOST:PORT: %w", endpoint, err)
	}
	if port == "" {
		return DataSource{}, fmt.Errorf("postgres endpoint %q: no port", endpoint)
	}
	bound := host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1" // listening everywhere: loopback reaches it
	}
	ds := DataSource{Appliance: true, Dialect: warehouse.DuckDB, Host: host, Port: port, Database: EndpointDatabase, User: "cartwheel", SSLMode: "disable"}
	if ep.TLS {
		ds.SSLMode = "require"
	}
	// Off loopback the appliance wants its token as the password.
	ds.Password = !isLoopback(bound)
	return ds, nil
}

// sslMode maps the DSN's sslmode to one Grafana knows; prefer and allow
// (which Grafana lacks) become require off loopback and disable on it.
func sslMode(mode, host string, d warehouse.Dialect) string {
	switch mode {
	case "disable", "require", "verify-ca", "verify-full":
		return mode
	}
	if mode == "" && d == warehouse.Redshift {
		return "require"
	}
	if isLoopback(host) {
		return "disable"
	}
	return "require"
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
