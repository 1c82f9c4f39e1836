package appliance

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// KafkaTLSConfig turns on TLS to an external cluster (the embedded broker
// is always plaintext).
type KafkaTLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of the CAs to trust; empty: the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key (mTLS);
	// both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked against the brokers'
	// certificates (and sent as SNI); empty: each broker's host.
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// KafkaSASLConfig authenticates to an external cluster. The password never
// comes from the configuration file: it is read from KafkaPasswordEnv or
// the file KafkaPasswordFileEnv names.
type KafkaSASLConfig struct {
	// Mechanism is "" (no SASL), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
}

// KafkaPasswordEnv and KafkaPasswordFileEnv supply the SASL password.
const (
	KafkaPasswordEnv     = "CARTWHEEL_KAFKA_PASSWORD"
	KafkaPasswordFileEnv = "CARTWHEEL_KAFKA_PASSWORD_FILE"
)

// saslMechanisms are the valid values of kafka.sasl.mechanism (besides "").
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// validateSecurity reports invalid kafka.tls and kafka.sasl settings that
// need no file or environment (those are checked by SecurityOptions).
func (k KafkaConfig) validateSecurity(bad func(string, ...any)) {
	t := k.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify) {
		bad("kafka.tls settings are given but kafka.tls.enabled is false")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("kafka.tls.cert_file and kafka.tls.key_file go together: give both or neither")
	}
	s := k.SASL
	switch {
	case s.Mechanism == "":
		if s.Username != "" {
			bad("kafka.sasl.username is set but kafka.sasl.mechanism is empty (want one of %s)", strings.Join(saslMechanisms, ", "))
		}
	case !slices.Contains(saslMechanisms, s.Mechanism):
		bad("kafka.sasl.mechanism %q is not supported: want one of %s (or empty for none)", s.Mechanism, strings.Join(saslMechanisms, ", "))
	case s.Username == "":
		bad("kafka.sasl.username must not be empty with kafka.sasl.mechanism %s", s.Mechanism)
	}
}

// SecurityOptions returns the franz-go options (TLS dialer, SASL) of every
// client of an external cluster, reading the TLS files and the SASL
// password now, so that a missing or unreadable one fails at start with
// its name. Without TLS and SASL it returns none. It never puts the
// password in an error.
func (k KafkaConfig) SecurityOptions() ([]kgo.Opt, error) {
	var bads []string
	k.validateSecurity(func(format string, args ...any) { bads = append(bads, fmt.Sprintf(format, args...)) })
	if len(bads) > 0 {
		return nil, errors.New("invalid config: " + strings.Join(bads, "; "))
	}
	var opts []kgo.Opt
	if k.TLS.Enabled {
		tc, err := k.TLS.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if k.SASL.Mechanism != "" {
		m, err := k.SASL.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// WarnInsecure logs a warning when SASL credentials would cross the
// network without TLS.
func (k KafkaConfig) WarnInsecure(log *slog.Logger) {
	if k.SASL.Mechanism != "" && !k.TLS.Enabled {
		log.Warn("kafka: SASL without TLS: credentials sent in clear; set kafka.tls.enabled", "mechanism", k.SASL.Mechanism)
	}
	if k.TLS.Enabled && k.TLS.InsecureSkipVerify {
		log.Warn("kafka: kafka.tls.insecure_skip_verify is set: the brokers' certificates are not verified")
	}
}

func (t KafkaTLSConfig) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // the user's explicit choice
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file %s: no PEM certificate in it", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		for _, f := range []struct{ key, path string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
			if _, err := os.ReadFile(f.path); err != nil {
				return nil, fmt.Errorf("kafka.tls.%s: %w", f.key, err)
			}
		}
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file %s and key_file %s: %w", t.CertFile, t.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// kafkaPassword reads the SASL password from the environment.
func kafkaPassword() (string, error) {
	if p := os.Getenv(KafkaPasswordEnv); p != "" {
		return p, nil
	}
	f := os.Getenv(KafkaPasswordFileEnv)
	if f == "" {
		return "", fmt.Errorf("kafka.sasl: no password: set %s or %s", KafkaPasswordEnv, KafkaPasswordFileEnv)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		// The *PathError names the file, never its content.
		return "", fmt.Errorf("kafka.sasl password (%s): %w", KafkaPasswordFileEnv, err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("kafka.sasl password file %s (%s) is empty", f, KafkaPasswordFileEnv)
	}
	return p, nil
}

func (s KafkaSASLConfig) mechanism() (sasl.Mechanism, error) {
	pass, err := kafkaPassword()
	if err != nil {
		return nil, err
	}
	switch s.Mechanism {
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism %q is not supported: want one of %s", s.Mechanism, strings.Join(saslMechanisms, ", "))
}
