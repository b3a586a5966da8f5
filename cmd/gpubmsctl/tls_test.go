package main

import (
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
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// clientCN is the common name of the test client certificate.
const clientCN = "gpubmsctl-test"

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate it signed, and a CA that signed neither: PEM files in a
// temporary directory, and the server side's TLS configuration.
type testPKI struct {
	ca, otherCA, cert, key string
	server                 *tls.Config // requires and verifies a client certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	ca, caKey := makeCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "test CA"}, IsCA: true}, nil, nil)
	other, _ := makeCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "other CA"}, IsCA: true}, nil, nil)
	srv, srvKey := makeCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "gpubms.test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, caKey)
	cli, cliKey := makeCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: clientCN},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{
		ca:      writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw),
		otherCA: writePEM(t, dir, "other-ca.pem", "CERTIFICATE", other.Raw),
		cert:    writePEM(t, dir, "client.pem", "CERTIFICATE", cli.Raw),
		key:     writePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER),
		server: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{srv.Raw}, PrivateKey: srvKey}},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
		},
	}
}

// makeCert makes a certificate from tmpl (subject, names, usages, IsCA),
// signed by parent, or self-signed when parent is nil.
func makeCert(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if tmpl.IsCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.BasicConstraintsValid = true
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLSFlags(t *testing.T) {
	t.Parallel()
	const token = "tok-tls-9q"
	p := newTestPKI(t)
	missing := filepath.Join(t.TempDir(), "missing-ca.pem")
	certEnv := map[string]string{"GPUBMS_CACERT": p.ca, "GPUBMS_CERT": p.cert, "GPUBMS_KEY": p.key}
	tests := []struct {
		name      string
		plaintext bool // serve without TLS instead of with client-certificate verification
		env       map[string]string
		args      []string // after --addr
		wantCode  int
		wantPeers []string // client certificates the server verified
		wantAuth  []string
		wantInErr string
	}{
		{
			name:      "flags on a loopback address",
			args:      []string{"--cacert", p.ca, "--cert", p.cert, "--key", p.key, "regions"},
			wantCode:  exitOK,
			wantPeers: []string{clientCN},
		},
		{
			name:      "environment",
			env:       certEnv,
			args:      []string{"regions"},
			wantCode:  exitOK,
			wantPeers: []string{clientCN},
		},
		{
			name:      "certificate and token together",
			env:       map[string]string{"GPUBMS_TOKEN": token},
			args:      []string{"--cacert", p.ca, "--cert", p.cert, "--key", p.key, "regions"},
			wantCode:  exitOK,
			wantPeers: []string{clientCN},
			wantAuth:  []string{"Bearer " + token},
		},
		{
			name:      "flags beat the environment",
			env:       map[string]string{"GPUBMS_CACERT": p.otherCA, "GPUBMS_CERT": missing, "GPUBMS_KEY": missing},
			args:      []string{"--cacert", p.ca, "--cert", p.cert, "--key", p.key, "regions"},
			wantCode:  exitOK,
			wantPeers: []string{clientCN},
		},
		{
			name:      "explicit --insecure=false with the files",
			args:      []string{"--insecure=false", "--cacert", p.ca, "--cert", p.cert, "--key", p.key, "regions"},
			wantCode:  exitOK,
			wantPeers: []string{clientCN},
		},
		{
			name:     "server requires a client certificate",
			args:     []string{"--cacert", p.ca, "regions"},
			wantCode: exitFailure,
			// The alert ("certificate required") races the client's
			// first write ("broken pipe"): only the code is certain.
			wantInErr: "Unavailable",
		},
		{
			name:      "CA from the environment that did not sign the server",
			env:       map[string]string{"GPUBMS_CACERT": p.otherCA},
			args:      []string{"--cert", p.cert, "--key", p.key, "regions"},
			wantCode:  exitFailure,
			wantInErr: "failed to verify certificate",
		},
		{
			name:      "--cacert means TLS on loopback, so a plaintext server is unreachable",
			plaintext: true,
			args:      []string{"--cacert", p.ca, "regions"},
			wantCode:  exitFailure,
			wantInErr: "Unavailable",
		},
		{
			name:      "missing CA file",
			args:      []string{"--cacert", missing, "regions"},
			wantCode:  exitFailure,
			wantInErr: missing,
		},
		{
			name:      "--insecure with --cacert",
			plaintext: true,
			args:      []string{"--insecure", "--cacert", p.ca, "regions"},
			wantCode:  exitUsage,
			wantInErr: "--insecure conflicts with --cacert, which means TLS",
		},
		{
			name:      "--insecure with the environment",
			plaintext: true,
			env:       map[string]string{"GPUBMS_CERT": p.cert, "GPUBMS_KEY": p.key},
			args:      []string{"--insecure", "regions"},
			wantCode:  exitUsage,
			wantInErr: "--insecure conflicts with GPUBMS_CERT, GPUBMS_KEY",
		},
		{
			name:      "--cert without --key",
			args:      []string{"--cacert", p.ca, "--cert", p.cert, "regions"},
			wantCode:  exitUsage,
			wantInErr: "--cert needs --key",
		},
		{
			name:      "GPUBMS_KEY without a certificate",
			env:       map[string]string{"GPUBMS_KEY": p.key},
			args:      []string{"--cacert", p.ca, "regions"},
			wantCode:  exitUsage,
			wantInErr: "GPUBMS_KEY needs --cert",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			var opts []grpc.ServerOption
			if !tt.plaintext {
				opts = append(opts, grpc.Creds(credentials.NewTLS(p.server)))
			}
			addr := serve(t, rec, opts...)

			res := runCLI(t, tt.env, "", append([]string{"--addr", addr, "--timeout", "10s"}, tt.args...)...)

			if res.code != tt.wantCode {
				t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, tt.wantCode, res.stderr)
			}
			if !strings.Contains(res.stderr, tt.wantInErr) {
				t.Errorf("stderr: got %q, want it to contain %q", res.stderr, tt.wantInErr)
			}
			if diff := cmp.Diff(tt.wantPeers, rec.clientCerts()); diff != "" {
				t.Errorf("client certificates verified by the server (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAuth, rec.tokens()); diff != "" {
				t.Errorf("authorization seen by the server (-want +got):\n%s", diff)
			}
			if tt.wantCode == exitOK && !strings.Contains(res.stdout, "CN_Hohhot_B") {
				t.Errorf("stdout: got %q, want the regions", res.stdout)
			}
			if strings.Contains(res.stdout+res.stderr, token) {
				t.Errorf("output shows the token:\n%s%s", res.stdout, res.stderr)
			}
		})
	}
}
