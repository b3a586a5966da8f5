package main

import (
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/gpubms/gpubms/server/tlstest"
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
	ca := tlstest.NewCA(t, "test CA")
	p := &testPKI{
		ca:      tlstest.WriteFile(t, dir, "ca.pem", ca.PEM),
		otherCA: tlstest.WriteFile(t, dir, "other-ca.pem", tlstest.NewCA(t, "other CA").PEM),
		server: &tls.Config{
			Certificates: []tls.Certificate{ca.Server(t, "gpubms.test").TLS},
			ClientCAs:    ca.Pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
		},
	}
	p.cert, p.key = ca.Client(t, clientCN).WriteFiles(t, dir, "client")
	return p
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
