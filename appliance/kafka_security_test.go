package appliance

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	caFile, clientCert, clientKey string
	caPool                        *x509.CertPool
	server                        tls.Certificate
}

func newTestPKI(t *testing.T, dir, name string) testPKI {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost", "kafka.test"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	pemOf := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	keyPEM := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pemOf("EC PRIVATE KEY", b)
	}
	write := func(file string, b []byte) string {
		p := filepath.Join(dir, name+"-"+file)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := testPKI{caPool: x509.NewCertPool()}
	p.caPool.AddCert(ca)
	p.caFile = write("ca.pem", pemOf("CERTIFICATE", caDER))
	srvDER, srvKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	if p.server, err = tls.X509KeyPair(pemOf("CERTIFICATE", srvDER), keyPEM(srvKey)); err != nil {
		t.Fatal(err)
	}
	cliDER, cliKey := issue(3, "cartwheel", x509.ExtKeyUsageClientAuth)
	p.clientCert = write("client.pem", pemOf("CERTIFICATE", cliDER))
	p.clientKey = write("client-key.pem", keyPEM(cliKey))
	return p
}

// secureCluster starts a kfake cluster on 127.0.0.1 with TLS and SCRAM-SHA-256
// user u / password p, and topic "t".
func secureCluster(t *testing.T, pki testPKI, clientAuth tls.ClientAuthType, extra ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	tc := &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12, ClientAuth: clientAuth, ClientCAs: pki.caPool}
	opts := append([]kfake.Opt{kfake.NumBrokers(1), kfake.TLS(tc), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "u", "p"),
		kfake.SeedTopics(1, "t")}, extra...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, a := range c.ListenAddrs() {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("kfake listens on %s, want 127.0.0.1", a)
		}
	}
	return c
}

func TestKafkaSecurityValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*KafkaConfig)
		want []string // substrings of the error; none: valid
	}{
		{"defaults", func(*KafkaConfig) {}, nil},
		{"tls with system roots", func(k *KafkaConfig) { k.TLS.Enabled = true }, nil},
		{"tls everything", func(k *KafkaConfig) {
			k.TLS = KafkaTLSConfig{Enabled: true, CAFile: "ca", CertFile: "c", KeyFile: "k", ServerName: "s", InsecureSkipVerify: true}
		}, nil},
		{"plain", func(k *KafkaConfig) { k.SASL = KafkaSASLConfig{Mechanism: "PLAIN", Username: "u"} }, nil},
		{"scram 256", func(k *KafkaConfig) { k.SASL = KafkaSASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u"} }, nil},
		{"scram 512 over tls", func(k *KafkaConfig) {
			k.TLS.Enabled = true
			k.SASL = KafkaSASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u"}
		}, nil},
		{"unknown mechanism", func(k *KafkaConfig) { k.SASL = KafkaSASLConfig{Mechanism: "GSSAPI", Username: "u"} },
			[]string{`kafka.sasl.mechanism "GSSAPI" is not supported: want one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`}},
		{"lower-case mechanism", func(k *KafkaConfig) { k.SASL = KafkaSASLConfig{Mechanism: "plain", Username: "u"} },
			[]string{`kafka.sasl.mechanism "plain" is not supported`}},
		{"mechanism without user", func(k *KafkaConfig) { k.SASL.Mechanism = "PLAIN" },
			[]string{"kafka.sasl.username must not be empty with kafka.sasl.mechanism PLAIN"}},
		{"user without mechanism", func(k *KafkaConfig) { k.SASL.Username = "u" },
			[]string{"kafka.sasl.username is set but kafka.sasl.mechanism is empty"}},
		{"tls settings while disabled", func(k *KafkaConfig) { k.TLS.CAFile = "ca.pem" },
			[]string{"kafka.tls settings are given but kafka.tls.enabled is false"}},
		{"cert without key", func(k *KafkaConfig) { k.TLS = KafkaTLSConfig{Enabled: true, CertFile: "c"} },
			[]string{"kafka.tls.cert_file and kafka.tls.key_file go together"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Kafka.Brokers = []string{"k1:9092"}
			tc.mod(&c.Kafka)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %v, want %q", err, w)
				}
			}
		})
	}
}

func TestKafkaSecurityLoadConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	yml := "kafka:\n  brokers: [k:9093]\n  tls:\n    enabled: true\n    ca_file: /etc/ca.pem\n    cert_file: c.pem\n    key_file: k.pem\n" +
		"    server_name: kafka.example\n    insecure_skip_verify: true\n  sasl:\n    mechanism: SCRAM-SHA-512\n    username: cartwheel\n"
	if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	want := KafkaTLSConfig{Enabled: true, CAFile: "/etc/ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "kafka.example", InsecureSkipVerify: true}
	if c.Kafka.TLS != want {
		t.Errorf("tls = %+v, want %+v", c.Kafka.TLS, want)
	}
	if c.Kafka.SASL.Mechanism != "SCRAM-SHA-512" || c.Kafka.SASL.Username != "cartwheel" {
		t.Errorf("sasl = %+v", c.Kafka.SASL)
	}
	// The password is never a configuration key.
	if err := os.WriteFile(p, []byte("kafka:\n  sasl:\n    mechanism: PLAIN\n    username: u\n    password: secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), "field password not found") {
		t.Errorf("LoadConfig with sasl.password = %v, want an unknown key", err)
	}
}

func TestKafkaSecurityOptions(t *testing.T) {
	dir := t.TempDir()
	pki := newTestPKI(t, dir, "a")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	scram := KafkaSASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u"}
	tests := []struct {
		name   string
		k      KafkaConfig
		env    map[string]string
		n      int      // options on success
		errHas []string // substrings of the error
	}{
		{"nothing", KafkaConfig{}, nil, 0, nil},
		{"tls system roots", KafkaConfig{TLS: KafkaTLSConfig{Enabled: true}}, nil, 1, nil},
		{"tls ca and client cert", KafkaConfig{TLS: KafkaTLSConfig{Enabled: true, CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}}, nil, 1, nil},
		{"missing ca file", KafkaConfig{TLS: KafkaTLSConfig{Enabled: true, CAFile: missing}}, nil, 0, []string{"kafka.tls.ca_file", missing}},
		{"ca file without pem", KafkaConfig{TLS: KafkaTLSConfig{Enabled: true, CAFile: notPEM}}, nil, 0, []string{"kafka.tls.ca_file", notPEM, "no PEM certificate"}},
		{"missing cert file", KafkaConfig{TLS: KafkaTLSConfig{Enabled: true, CertFile: missing, KeyFile: pki.clientKey}}, nil, 0, []string{"kafka.tls.cert_file", missing}},
		{"missing key file", KafkaConfig{TLS: KafkaTLSConfig{Enabled: true, CertFile: pki.clientCert, KeyFile: missing}}, nil, 0, []string{"kafka.tls.key_file", missing}},
		{"bad key pair", KafkaConfig{TLS: KafkaTLSConfig{Enabled: true, CertFile: pki.clientCert, KeyFile: notPEM}}, nil, 0, []string{"kafka.tls.cert_file", notPEM}},
		{"sasl password from env", KafkaConfig{SASL: scram}, map[string]string{KafkaPasswordEnv: "s3cret"}, 1, nil},
		{"sasl password from file", KafkaConfig{SASL: scram}, map[string]string{KafkaPasswordFileEnv: pwFile}, 1, nil},
		{"sasl tls and password", KafkaConfig{TLS: KafkaTLSConfig{Enabled: true}, SASL: KafkaSASLConfig{Mechanism: "PLAIN", Username: "u"}},
			map[string]string{KafkaPasswordEnv: "s3cret"}, 2, nil},
		{"sasl without password", KafkaConfig{SASL: scram}, nil, 0, []string{KafkaPasswordEnv, KafkaPasswordFileEnv}},
		{"sasl password file missing", KafkaConfig{SASL: scram}, map[string]string{KafkaPasswordFileEnv: missing}, 0, []string{KafkaPasswordFileEnv, missing}},
		{"sasl password file empty", KafkaConfig{SASL: scram}, map[string]string{KafkaPasswordFileEnv: emptyFile}, 0, []string{emptyFile, "empty"}},
		{"unknown mechanism", KafkaConfig{SASL: KafkaSASLConfig{Mechanism: "OAUTHBEARER", Username: "u"}}, map[string]string{KafkaPasswordEnv: "s3cret"}, 0,
			[]string{"OAUTHBEARER", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(KafkaPasswordEnv, "")
			t.Setenv(KafkaPasswordFileEnv, "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			opts, err := tc.k.SecurityOptions()
			if len(tc.errHas) == 0 {
				if err != nil {
					t.Fatalf("SecurityOptions = %v", err)
				}
				if len(opts) != tc.n {
					t.Errorf("%d options, want %d", len(opts), tc.n)
				}
				return
			}
			if err == nil {
				t.Fatalf("SecurityOptions = nil error, want %q", tc.errHas)
			}
			for _, w := range tc.errHas {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("SecurityOptions = %v, want %q in it", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestKafkaWarnInsecure(t *testing.T) {
	t.Setenv(KafkaPasswordEnv, "s3cret")
	for _, tc := range []struct {
		name string
		k    KafkaConfig
		want string
	}{
		{"sasl without tls", KafkaConfig{SASL: KafkaSASLConfig{Mechanism: "PLAIN", Username: "u"}}, "credentials sent in clear"},
		{"sasl with tls", KafkaConfig{TLS: KafkaTLSConfig{Enabled: true}, SASL: KafkaSASLConfig{Mechanism: "PLAIN", Username: "u"}}, ""},
		{"skip verify", KafkaConfig{TLS: KafkaTLSConfig{Enabled: true, InsecureSkipVerify: true}}, "not verified"},
		{"nothing", KafkaConfig{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.k.WarnInsecure(slog.New(slog.NewTextHandler(&buf, nil)))
			got := buf.String()
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("log = %q, want %q", got, tc.want)
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("the log shows the password: %q", got)
			}
		})
	}
}

// roundTrip produces a record to topic t and consumes it back with clients
// of the security options of k.
func roundTrip(t *testing.T, addrs []string, k KafkaConfig) error {
	t.Helper()
	opts, err := k.SecurityOptions()
	if err != nil {
		t.Fatalf("SecurityOptions = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(append(opts, kgo.SeedBrokers(addrs...), kgo.RecordRetries(2), kgo.RequestRetries(2))...)
	if err != nil {
		return err
	}
	defer prod.Close()
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	defer pcancel()
	if err := prod.Ping(pctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	value := fmt.Sprintf("hello %d", time.Now().UnixNano())
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "t", Key: []byte("k"), Value: []byte(value)}).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	cons, err := kgo.NewClient(append(opts, kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return err
	}
	defer cons.Close()
	for {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		found := false
		fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Value) == value })
		if found {
			return nil
		}
	}
}

// TestKafkaSecurityRoundTrip produces and consumes over TLS with SCRAM on
// a kfake cluster, and fails with a wrong password or an unknown CA.
func TestKafkaSecurityRoundTrip(t *testing.T) {
	dir := t.TempDir()
	pki := newTestPKI(t, dir, "good")
	other := newTestPKI(t, dir, "other")
	c := secureCluster(t, pki, tls.NoClientCert)
	addrs := c.ListenAddrs()
	good := KafkaConfig{TLS: KafkaTLSConfig{Enabled: true, CAFile: pki.caFile}, SASL: KafkaSASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u"}}

	t.Run("right credentials and CA", func(t *testing.T) {
		t.Setenv(KafkaPasswordEnv, "p")
		if err := roundTrip(t, addrs, good); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
	t.Run("password from file, server name override", func(t *testing.T) {
		pw := filepath.Join(dir, "pw")
		if err := os.WriteFile(pw, []byte("p\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv(KafkaPasswordEnv, "")
		t.Setenv(KafkaPasswordFileEnv, pw)
		k := good
		k.TLS.ServerName = "kafka.test"
		if err := roundTrip(t, addrs, k); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Setenv(KafkaPasswordEnv, "wrong")
		err := roundTrip(t, addrs, good)
		if err == nil {
			t.Fatal("round trip with a wrong password succeeded")
		}
		t.Logf("wrong password: %v", err)
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("the error shows the password: %v", err)
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		t.Setenv(KafkaPasswordEnv, "p")
		k := good
		k.TLS.CAFile = other.caFile
		err := roundTrip(t, addrs, k)
		if err == nil {
			t.Fatal("round trip trusting another CA succeeded")
		}
		t.Logf("unknown CA: %v", err)
		if !strings.Contains(err.Error(), "unknown authority") {
			t.Errorf("unknown CA: %v, want a certificate verification error", err)
		}
	})
	t.Run("wrong server name", func(t *testing.T) {
		t.Setenv(KafkaPasswordEnv, "p")
		k := good
		k.TLS.ServerName = "elsewhere.test"
		if err := roundTrip(t, addrs, k); err == nil {
			t.Fatal("round trip with a server name not in the certificate succeeded")
		} else if !strings.Contains(err.Error(), "elsewhere.test") {
			t.Errorf("wrong server name: %v, want a certificate name error", err)
		}
	})
	t.Run("skip verify", func(t *testing.T) {
		t.Setenv(KafkaPasswordEnv, "p")
		k := good
		k.TLS = KafkaTLSConfig{Enabled: true, InsecureSkipVerify: true}
		if err := roundTrip(t, addrs, k); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
	t.Run("plaintext to a TLS broker", func(t *testing.T) {
		t.Setenv(KafkaPasswordEnv, "p")
		k := good
		k.TLS = KafkaTLSConfig{}
		if err := roundTrip(t, addrs, k); err == nil {
			t.Fatal("plaintext round trip to a TLS broker succeeded")
		}
	})
}

// TestKafkaSecurityMutualTLS needs the client certificate.
func TestKafkaSecurityMutualTLS(t *testing.T) {
	dir := t.TempDir()
	pki := newTestPKI(t, dir, "m")
	c := secureCluster(t, pki, tls.RequireAndVerifyClientCert)
	t.Setenv(KafkaPasswordEnv, "p")
	k := KafkaConfig{TLS: KafkaTLSConfig{Enabled: true, CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey},
		SASL: KafkaSASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u"}}
	if err := roundTrip(t, c.ListenAddrs(), k); err != nil {
		t.Fatalf("round trip with the client certificate: %v", err)
	}
	k.TLS.CertFile, k.TLS.KeyFile = "", ""
	if err := roundTrip(t, c.ListenAddrs(), k); err == nil {
		t.Fatal("round trip without the client certificate succeeded")
	}
}

// TestRunSecureExternalKafka runs the appliance — topic creation, demo
// generator (its producer and tail reader) and pipeline — against a TLS and
// SCRAM kfake cluster, and checks that events reach the warehouse.
func TestRunSecureExternalKafka(t *testing.T) {
	dir := t.TempDir()
	pki := newTestPKI(t, dir, "run")
	c := secureCluster(t, pki, tls.NoClientCert)
	t.Setenv(KafkaPasswordEnv, "p")
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Warehouse = "duckdb://" + filepath.Join(dir, "w.duckdb")
	cfg.HTTP = "127.0.0.1:0"
	cfg.Kafka.Brokers = c.ListenAddrs()
	cfg.Kafka.Partitions = 2
	cfg.Kafka.TLS = KafkaTLSConfig{Enabled: true, CAFile: pki.caFile}
	cfg.Kafka.SASL = KafkaSASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u"}
	cfg.Generator.Rate = 500
	cfg.Generator.OutOfOrder, cfg.Generator.Late, cfg.Generator.Duplicate, cfg.Generator.Malformed = 0, 0, 0, 0
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
	if err := Run(context.Background(), cfg, RunOptions{Duration: 6 * time.Second}, log); err != nil {
		t.Fatalf("Run = %v\n%s", err, logs.String())
	}
	r, err := Query(shortCtx(t, 30*time.Second), cfg, "SELECT count(*) FROM events")
	if err != nil {
		t.Fatal(err)
	}
	if n := fmt.Sprint(r.Rows[0][0]); n == "0" {
		t.Errorf("no events in the warehouse after a run over TLS and SASL\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "credentials sent in clear") {
		t.Error("warned about clear credentials over TLS")
	}

	// A wrong password fails the start, without showing it.
	t.Setenv(KafkaPasswordEnv, "not-the-password")
	logs.Reset()
	err = Run(context.Background(), cfg, RunOptions{Duration: 5 * time.Second}, log)
	if err == nil {
		t.Fatal("Run with a wrong password = nil")
	}
	t.Logf("Run with a wrong password: %v", err)
	if strings.Contains(err.Error()+logs.String(), "not-the-password") {
		t.Errorf("the password shows: %v\n%s", err, logs.String())
	}
}

// syncWriter serializes the writes of concurrent loggers.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
