package gpubms_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/tlstest"
)

// serverName is the DNS name in the test server's certificate, which is also
// valid for 127.0.0.1.
const serverName = "gpubms.test"

// pki is a CA with a server and a client certificate, written as PEM files,
// and a second CA that signed neither.
type pki struct {
	ca, otherCA           string // CA certificate files
	clientCert, clientKey string
	server                tls.Certificate
	pool                  *x509.CertPool // trusts ca
}

func newPKI(t *testing.T, clientCN string) *pki {
	t.Helper()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "gpubms test CA")
	p := &pki{
		ca:      tlstest.WriteFile(t, dir, "ca.pem", ca.PEM),
		otherCA: tlstest.WriteFile(t, dir, "other-ca.pem", tlstest.NewCA(t, "another CA").PEM),
		server:  ca.Server(t, serverName).TLS,
		pool:    ca.Pool,
	}
	p.clientCert, p.clientKey = ca.Client(t, clientCN).WriteFiles(t, dir, "client")
	return p
}

// peerService answers DescribeGpuRegions with one region whose id is the
// common name of the caller's verified certificate, and records the
// authorization and :authority of each call.
type peerService struct {
	gpubmsv1.UnimplementedGpuServiceServer

	mu          sync.Mutex
	auth        []string
	authorities []string
}

func (s *peerService) DescribeGpuRegions(ctx context.Context, _ *gpubmsv1.DescribeGpuRegionsRequest) (*gpubmsv1.DescribeGpuRegionsResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.auth = append(s.auth, md.Get("authorization")...)
	s.authorities = append(s.authorities, md.Get(":authority")...)
	s.mu.Unlock()
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 {
		return nil, status.Errorf(codes.Unauthenticated, "no verified client certificate (auth info %T)", p.AuthInfo)
	}
	cn := info.State.VerifiedChains[0][0].Subject.CommonName
	return &gpubmsv1.DescribeGpuRegionsResponse{Regions: []*gpubmsv1.Region{{RegionId: cn}}}, nil
}

func (s *peerService) seen() (auth, authorities []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...), append([]string(nil), s.authorities...)
}

// serveMTLS serves svc on a loopback TCP port with TLS, requiring a client
// certificate that p's CA signed, and returns the address.
func serveMTLS(t *testing.T, p *pki, svc gpubmsv1.GpuServiceServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientCAs:    p.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})))
	gpubmsv1.RegisterGpuServiceServer(srv, svc)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// regions dials addr with opts and makes one bounded call.
func regions(t *testing.T, addr string, opts ...gpubms.Option) (*gpubmsv1.DescribeGpuRegionsResponse, error) {
	t.Helper()
	c, err := gpubms.Dial(context.Background(), addr, opts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.DescribeGpuRegions(ctx, &gpubmsv1.DescribeGpuRegionsRequest{})
}

func TestDialTLSFilesMutualTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "ci-bot")
	svc := &peerService{}
	addr := serveMTLS(t, p, svc)

	resp, err := regions(t, addr, gpubms.WithTLSFiles(p.ca, p.clientCert, p.clientKey), gpubms.WithToken(token))
	if err != nil {
		t.Fatalf("DescribeGpuRegions with the CA and a client certificate: %v", err)
	}
	if got := resp.GetRegions()[0].GetRegionId(); got != "ci-bot" {
		t.Errorf("client certificate CN seen by the server: got %q, want %q", got, "ci-bot")
	}
	if auth, _ := svc.seen(); len(auth) != 1 || auth[0] != "Bearer "+token {
		t.Errorf("authorization seen by the server: got %q, want [Bearer %s]", auth, token)
	}
}

func TestDialWithServerName(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "ci-bot")
	svc := &peerService{}
	addr := serveMTLS(t, p, svc)

	// The certificate is valid for 127.0.0.1 and serverName: the name given
	// is the one verified, and it becomes the :authority.
	if _, err := regions(t, addr, gpubms.WithTLSFiles(p.ca, p.clientCert, p.clientKey), gpubms.WithServerName(serverName)); err != nil {
		t.Fatalf("WithServerName(%q): %v", serverName, err)
	}
	if _, authorities := svc.seen(); len(authorities) != 1 || authorities[0] != serverName {
		t.Errorf(":authority seen by the server: got %q, want [%s]", authorities, serverName)
	}
	_, err := regions(t, addr, gpubms.WithTLSFiles(p.ca, p.clientCert, p.clientKey), gpubms.WithServerName("elsewhere.test"))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "elsewhere.test") {
		t.Errorf("WithServerName for a name the certificate lacks: got %v, want Unavailable naming elsewhere.test", err)
	}

	// It also overrides a WithTLSConfig's ServerName, in a copy.
	cert, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{cert}, ServerName: serverName}
	_, err = regions(t, addr, gpubms.WithTLSConfig(cfg), gpubms.WithServerName("elsewhere.test"))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "elsewhere.test") {
		t.Errorf("WithTLSConfig and WithServerName: got %v, want Unavailable naming elsewhere.test", err)
	}
	if cfg.ServerName != serverName {
		t.Errorf("caller's tls.Config ServerName: got %q, want it left at %q", cfg.ServerName, serverName)
	}
}

func TestDialTLSFilesRefused(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "ci-bot")
	addr := serveMTLS(t, p, &peerService{})
	tests := []struct {
		name string
		opt  gpubms.Option
		want string // in the error
	}{
		// The server's alert ("certificate required") races the client's
		// first write ("broken pipe"): only the code is certain.
		{"no client certificate", gpubms.WithTLSFiles(p.ca, "", ""), ""},
		{"a CA that did not sign the server", gpubms.WithTLSFiles(p.otherCA, p.clientCert, p.clientKey), "failed to verify certificate"},
		{"system roots for a private CA", gpubms.WithTLSFiles("", p.clientCert, p.clientKey), "failed to verify certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := regions(t, addr, tt.opt)
			if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DescribeGpuRegions: got %v, %v, want Unavailable with %q", resp, err, tt.want)
			}
		})
	}
}

func TestDialRejectsTLSOptions(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "ci-bot")
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name string
		opts []gpubms.Option
		want []string // substrings of the error
	}{
		{"insecure and TLS files", []gpubms.Option{gpubms.WithInsecure(), gpubms.WithTLSFiles(p.ca, "", "")}, []string{"WithInsecure and WithTLSFiles conflict"}},
		{"insecure and empty TLS files", []gpubms.Option{gpubms.WithTLSFiles("", "", ""), gpubms.WithInsecure()}, []string{"WithInsecure and WithTLSFiles conflict"}},
		{"insecure and server name", []gpubms.Option{gpubms.WithInsecure(), gpubms.WithServerName(serverName)}, []string{"WithInsecure and WithServerName conflict"}},
		{"TLS config and TLS files", []gpubms.Option{gpubms.WithTLSConfig(&tls.Config{}), gpubms.WithTLSFiles(p.ca, "", "")}, []string{"WithTLSConfig and WithTLSFiles conflict"}},
		{"server name and another authority", []gpubms.Option{gpubms.WithServerName(serverName), gpubms.WithDialOptions(grpc.WithAuthority("other.test"))}, []string{"other.test"}},
		{"empty server name", []gpubms.Option{gpubms.WithServerName("")}, []string{"empty name"}},
		{"certificate without key", []gpubms.Option{gpubms.WithTLSFiles(p.ca, p.clientCert, "")}, []string{"without keyFile", p.clientCert}},
		{"key without certificate", []gpubms.Option{gpubms.WithTLSFiles(p.ca, "", p.clientKey)}, []string{"without certFile", p.clientKey}},
		{"missing CA file", []gpubms.Option{gpubms.WithTLSFiles(missing, "", "")}, []string{"CA file", missing}},
		{"CA file without PEM", []gpubms.Option{gpubms.WithTLSFiles(notPEM, "", "")}, []string{"holds no PEM certificate", notPEM}},
		{"missing certificate file", []gpubms.Option{gpubms.WithTLSFiles("", missing, p.clientKey)}, []string{"client certificate", missing}},
		{"missing key file", []gpubms.Option{gpubms.WithTLSFiles("", p.clientCert, missing)}, []string{"client key", missing}},
		{"certificate file without PEM", []gpubms.Option{gpubms.WithTLSFiles("", notPEM, p.clientKey)}, []string{notPEM, "PEM"}},
		{"key that does not match", []gpubms.Option{gpubms.WithTLSFiles("", p.clientCert, p.clientCert)}, []string{p.clientCert, "key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := gpubms.Dial(context.Background(), "127.0.0.1:1", tt.opts...)
			if err == nil {
				_ = c.Close()
				t.Fatalf("Dial: got no error, want one containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Dial: got %v, want an error containing %q", err, w)
				}
			}
		})
	}
}
