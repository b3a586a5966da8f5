package tlstest_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gpubms/gpubms/server/tlstest"
)

func TestServerAndClient(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t, "test CA")
	other := tlstest.NewCA(t, "other CA")
	srv := ca.Server(t, "gpubms.test")
	cli := ca.Client(t, "ci-bot")
	server := x509.ExtKeyUsageServerAuth
	client := x509.ExtKeyUsageClientAuth
	for _, tc := range []struct {
		name    string
		cert    tlstest.Cert
		pool    *x509.CertPool
		dnsName string
		usage   x509.ExtKeyUsage
		ok      bool
	}{
		{"server for its name", srv, ca.Pool, "gpubms.test", server, true},
		{"server for localhost", srv, ca.Pool, "localhost", server, true},
		{"server for 127.0.0.1", srv, ca.Pool, "127.0.0.1", server, true},
		{"server for ::1", srv, ca.Pool, "::1", server, true},
		{"server for another name", srv, ca.Pool, "elsewhere.test", server, false},
		{"server as a client", srv, ca.Pool, "", client, false},
		{"server by another CA", srv, other.Pool, "gpubms.test", server, false},
		{"client", cli, ca.Pool, "", client, true},
		{"client as a server", cli, ca.Pool, "", server, false},
		{"client by another CA", cli, other.Pool, "", client, false},
	} {
		_, err := tc.cert.Cert.Verify(x509.VerifyOptions{Roots: tc.pool, DNSName: tc.dnsName, KeyUsages: []x509.ExtKeyUsage{tc.usage}})
		if (err == nil) != tc.ok {
			t.Errorf("%s: Verify: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	if got := cli.Cert.Subject.CommonName; got != "ci-bot" {
		t.Errorf("client common name: got %q, want ci-bot", got)
	}
	if got := srv.Cert.Subject.CommonName; got != "gpubms.test" {
		t.Errorf("server common name: got %q, want gpubms.test", got)
	}
	for _, c := range []tlstest.Cert{srv, cli} {
		pair, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
		if err != nil {
			t.Fatalf("X509KeyPair of %q: %v", c.Cert.Subject.CommonName, err)
		}
		if !bytes.Equal(pair.Certificate[0], c.TLS.Certificate[0]) || !bytes.Equal(c.TLS.Certificate[0], c.Cert.Raw) {
			t.Errorf("%q: the PEM, TLS and parsed certificates differ", c.Cert.Subject.CommonName)
		}
	}
	if cfg := ca.ClientConfig(nil); cfg.RootCAs != ca.Pool || len(cfg.Certificates) != 0 {
		t.Errorf("ClientConfig(nil): got roots %p and %d certificates, want %p and none", cfg.RootCAs, len(cfg.Certificates), ca.Pool)
	}
	if cfg := ca.ClientConfig(&cli); len(cfg.Certificates) != 1 || !bytes.Equal(cfg.Certificates[0].Certificate[0], cli.Cert.Raw) {
		t.Errorf("ClientConfig(&cli): does not present the client certificate")
	}
}

func TestIssue(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t, "test CA")
	tmpl := &x509.Certificate{
		EmailAddresses: []string{"ops@example.com"},
		IPAddresses:    []net.IP{net.ParseIP("2001:db8::1")},
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	c := ca.Issue(t, tmpl)
	if tmpl.SerialNumber != nil || !tmpl.NotAfter.IsZero() {
		t.Errorf("Issue changed its template: %+v", tmpl)
	}
	if c.Cert.Subject.String() != (pkix.Name{}).String() || len(c.Cert.EmailAddresses) != 1 || len(c.Cert.IPAddresses) != 1 {
		t.Errorf("Issue: got subject %q, emails %q, IPs %v; want only the template's names", c.Cert.Subject, c.Cert.EmailAddresses, c.Cert.IPAddresses)
	}
	if _, err := c.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestSerialsUnique(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t, "test CA")
	var (
		mu   sync.Mutex
		seen = map[string]bool{ca.Cert.SerialNumber.String(): true}
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range 8 {
				s := ca.Client(t, "c").Cert.SerialNumber.String()
				mu.Lock()
				if seen[s] {
					t.Errorf("serial %s issued twice", s)
				}
				seen[s] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestWriteFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := tlstest.NewCA(t, "test CA").Server(t)
	for _, want := range [][]byte{[]byte("first"), []byte("second, longer")} {
		p := tlstest.WriteFile(t, dir, "f", want)
		if p != filepath.Join(dir, "f") {
			t.Errorf("WriteFile path: got %q, want %q", p, filepath.Join(dir, "f"))
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("read back: got %q, %v; want %q", got, err, want)
		}
		if fi, err := os.Stat(p); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode: got %v, want 0600", fi.Mode().Perm())
		}
	}
	certFile, keyFile := c.WriteFiles(t, dir, "server")
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Errorf("LoadX509KeyPair(%s, %s): %v", certFile, keyFile, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("dir holds %d files, want 3 (no temporary file left)", len(entries))
	}
}
