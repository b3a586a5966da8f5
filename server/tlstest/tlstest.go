// Package tlstest makes certificate authorities and certificates for tests.
//
// A CA is an ECDSA P-256 authority of the test's own; it issues server
// certificates (for the names given and the loopback names), client
// certificates, or any template. Every certificate is valid from an hour
// ago for a day, and its serial number is unique in the test binary, so a
// rotated certificate can be told from the one before. Errors fail the
// test; nothing here is for production.
package tlstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority: its certificate, parsed and in PEM, its key,
// and a pool that trusts it.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  []byte
	Pool *x509.CertPool
}

// Cert is a certificate a CA issued: parsed, in PEM with its key (PKCS #8),
// and ready for a tls.Config.
type Cert struct {
	Cert            *x509.Certificate
	CertPEM, KeyPEM []byte
	TLS             tls.Certificate
}

var serial atomic.Int64

func nextSerial() *big.Int { return big.NewInt(serial.Add(1)) }

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: generate key: %v", err)
	}
	return key
}

// NewCA makes a self-signed CA whose subject's common name is name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("tlstest: CA %q: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: CA %q: %v", name, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Key: key, PEM: pemBlock("CERTIFICATE", der), Pool: pool}
}

// Issue signs a certificate made from tmpl (subject, names, usages) for a
// new key. A serial number, validity and key usage that tmpl leaves zero
// are filled in (unique, from an hour ago for a day, digital signature);
// tmpl itself is not changed.
func (ca *CA) Issue(t testing.TB, tmpl *x509.Certificate) Cert {
	t.Helper()
	c := *tmpl
	now := time.Now()
	if c.SerialNumber == nil {
		c.SerialNumber = nextSerial()
	}
	if c.NotBefore.IsZero() {
		c.NotBefore = now.Add(-time.Hour)
	}
	if c.NotAfter.IsZero() {
		c.NotAfter = now.Add(24 * time.Hour)
	}
	if c.KeyUsage == 0 {
		c.KeyUsage = x509.KeyUsageDigitalSignature
	}
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, &c, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("tlstest: issue %q: %v", c.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: issue %q: %v", c.Subject.CommonName, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("tlstest: marshal key: %v", err)
	}
	return Cert{
		Cert:    cert,
		CertPEM: pemBlock("CERTIFICATE", der),
		KeyPEM:  pemBlock("PRIVATE KEY", kder),
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
	}
}

// Server issues a server certificate for dnsNames and for localhost,
// 127.0.0.1 and ::1, named (common name) by the first of dnsNames, or
// localhost when there are none.
func (ca *CA) Server(t testing.TB, dnsNames ...string) Cert {
	t.Helper()
	names := append(append([]string(nil), dnsNames...), "localhost")
	return ca.Issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: names[0]},
		DNSNames:    names,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// Client issues a client certificate named cn (which may be empty) with the
// DNS names given.
func (ca *CA) Client(t testing.TB, cn string, dnsNames ...string) Cert {
	t.Helper()
	return ca.Issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    dnsNames,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// ClientConfig is a client's TLS configuration that trusts ca and, when
// cert is not nil, presents it.
func (ca *CA) ClientConfig(cert *Cert) *tls.Config {
	c := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{cert.TLS}
	}
	return c
}

// WriteFiles writes c's certificate and key to base.crt and base.key in dir
// (see WriteFile) and returns their paths.
func (c Cert) WriteFiles(t testing.TB, dir, base string) (certFile, keyFile string) {
	t.Helper()
	return WriteFile(t, dir, base+".crt", c.CertPEM), WriteFile(t, dir, base+".key", c.KeyPEM)
}

// WriteFile writes b to name in dir with mode 0600, atomically (through a
// temporary file and a rename, so a reader never sees half a file), and
// returns the path.
func WriteFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	return p
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
