package gpubms_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

const token = "s3cret-t0ken"

func TestDialSendsToken(t *testing.T) {
	t.Parallel()
	svc := &fakeService{watch: map[string][][]step{"t1": {{send(event("t1", "succeed"))}}}}
	c, ts := newClient(t, svc, gpubms.WithToken(token), gpubms.WithUserAgent("gpubmsctl/test"))

	if _, err := c.DescribeGpuRegions(context.Background(), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Fatalf("DescribeGpuRegions: %v", err)
	}
	if _, err := c.WaitTask(context.Background(), "t1"); err != nil {
		t.Fatalf("WaitTask: %v", err)
	}

	auth, agents := ts.seen()
	want := []string{"Bearer " + token, "Bearer " + token} // the unary call and the stream
	if diff := cmp.Diff(want, auth); diff != "" {
		t.Errorf("authorization metadata (-want +got):\n%s", diff)
	}
	for _, ua := range agents {
		if !strings.HasPrefix(ua, "gpubmsctl/test") {
			t.Errorf("user agent: got %q, want it to start with %q", ua, "gpubmsctl/test")
		}
	}
}

func TestDialDefaultUserAgentAndNoToken(t *testing.T) {
	t.Parallel()
	c, ts := newClient(t, &fakeService{})
	if _, err := c.DescribeGpuRegions(context.Background(), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Fatalf("DescribeGpuRegions: %v", err)
	}
	auth, agents := ts.seen()
	if len(auth) != 0 {
		t.Errorf("authorization metadata: got %q, want none", auth)
	}
	if len(agents) != 1 || !strings.HasPrefix(agents[0], gpubms.DefaultUserAgent) {
		t.Errorf("user agent: got %q, want one starting with %q", agents, gpubms.DefaultUserAgent)
	}
}

// TestTokenNeedsTLSUnlessInsecure proves the token never crosses a plaintext
// connection that WithInsecure did not ask for: plaintext transport given
// through WithDialOptions is refused before anything is sent.
func TestTokenNeedsTLSUnlessInsecure(t *testing.T) {
	t.Parallel()
	c, err := gpubms.Dial(context.Background(), bufTarget, gpubms.WithToken(token),
		gpubms.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err == nil {
		_ = c.Close()
		t.Fatal("Dial with a token over plaintext: got no error, want one")
	}
	if !strings.Contains(err.Error(), "transport level security") {
		t.Errorf("Dial: got %v, want a transport security error", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error %q shows the token", err)
	}
}

func TestDialTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t, "gpubms.test")
	ts := startServer(&fakeService{}, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	t.Cleanup(ts.stop)
	c, err := gpubms.Dial(context.Background(), bufTarget, ts.dialer(), gpubms.WithToken(token),
		gpubms.WithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "gpubms.test"}))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()

	if _, err := c.DescribeGpuRegions(context.Background(), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Fatalf("DescribeGpuRegions over TLS: %v", err)
	}
	if auth, _ := ts.seen(); len(auth) != 1 || auth[0] != "Bearer "+token {
		t.Errorf("authorization metadata: got %q, want [Bearer %s]", auth, token)
	}
}

func TestDialDefaultsToTLS(t *testing.T) {
	t.Parallel()
	// A plaintext server: a client using TLS by default cannot talk to it.
	ts := startServer(&fakeService{})
	t.Cleanup(ts.stop)
	c, err := gpubms.Dial(context.Background(), bufTarget, ts.dialer())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.DescribeGpuRegions(ctx, &gpubmsv1.DescribeGpuRegionsRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("TLS client to a plaintext server: got %v, want Unavailable", err)
	}
}

func TestDialRejects(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		opts []gpubms.Option
		want string
	}{
		{"insecure and TLS", context.Background(), []gpubms.Option{gpubms.WithInsecure(), gpubms.WithTLSConfig(&tls.Config{})}, "conflict"},
		{"empty token", context.Background(), []gpubms.Option{gpubms.WithToken("")}, "empty token"},
		{"cancelled context", cancelled, nil, context.Canceled.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := gpubms.Dial(tt.ctx, "127.0.0.1:1", tt.opts...)
			if err == nil {
				_ = c.Close()
				t.Fatalf("Dial: got no error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewClientLeavesConnOpen(t *testing.T) {
	t.Parallel()
	ts := startServer(&fakeService{})
	t.Cleanup(ts.stop)
	conn, err := grpc.NewClient(bufTarget, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ts.lis.DialContext(ctx) }))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	defer conn.Close()
	c := gpubms.NewClient(conn)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.DescribeGpuRegions(context.Background(), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Errorf("call after Close of a NewClient: got %v, want the caller's connection still open", err)
	}
}

// TestTokenCredentialsRedacted proves no way of printing the credentials
// shows the token.
func TestTokenCredentialsRedacted(t *testing.T) {
	t.Parallel()
	creds := gpubms.NewTokenCredentials(token)
	type holder struct {
		name  string
		creds gpubms.TokenCredentials // unexported: fmt cannot call its methods
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("dial", "creds", creds)
	asJSON, err := json.Marshal(struct{ Creds gpubms.TokenCredentials }{creds})
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	var asInterface credentials.PerRPCCredentials = creds.AllowInsecure()
	outputs := map[string]string{
		"String":       creds.String(),
		"%v":           fmt.Sprintf("%v", creds),
		"%+v":          fmt.Sprintf("%+v", creds),
		"%#v":          fmt.Sprintf("%#v", creds),
		"%s":           fmt.Sprintf("%s", creds),
		"%q":           fmt.Sprintf("%q", creds),
		"%x":           fmt.Sprintf("%x", creds),
		"%d":           fmt.Sprintf("%d", creds),
		"pointer %+v":  fmt.Sprintf("%+v", &creds),
		"interface %v": fmt.Sprintf("%v", asInterface),
		"nested %+v":   fmt.Sprintf("%+v", holder{"x", creds}),
		"nested %#v":   fmt.Sprintf("%#v", holder{"x", creds}),
		"slog":         logged.String(),
		"json":         string(asJSON),
	}
	for name, out := range outputs {
		if strings.Contains(out, token) || strings.Contains(out, fmt.Sprintf("%x", token)) {
			t.Errorf("%s: got %q, which shows the token", name, out)
		}
	}
	if got := creds.String(); !strings.Contains(got, "REDACTED") {
		t.Errorf("String: got %q, want a redaction", got)
	}

	md, err := creds.GetRequestMetadata(context.Background())
	if err != nil || md["authorization"] != "Bearer "+token {
		t.Errorf("GetRequestMetadata: got %v, %v, want the bearer token", md, err)
	}
	if !creds.RequireTransportSecurity() || creds.AllowInsecure().RequireTransportSecurity() {
		t.Errorf("RequireTransportSecurity: got %v / %v (AllowInsecure), want true / false",
			creds.RequireTransportSecurity(), creds.AllowInsecure().RequireTransportSecurity())
	}
	if _, err := (gpubms.TokenCredentials{}).GetRequestMetadata(context.Background()); err == nil {
		t.Errorf("zero TokenCredentials: got no error, want one")
	}
}

func TestPtr(t *testing.T) {
	t.Parallel()
	req := &gpubmsv1.ReinstallGpuRequest{Raid: gpubms.Ptr[int32](0)}
	if req.Raid == nil || *req.Raid != 0 {
		t.Errorf("Raid: got %v, want a pointer to 0", req.Raid)
	}
}

func TestTaskFailedErrorMessage(t *testing.T) {
	t.Parallel()
	err := error(&gpubms.TaskFailedError{TaskID: "t9", Event: event("t9", "failed", "r1", "r2")})
	if got, want := err.Error(), "gpubms: task t9 failed (resources r1, r2)"; got != want {
		t.Errorf("Error: got %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("create: %w", err)
	var f *gpubms.TaskFailedError
	if !errors.As(wrapped, &f) || f.TaskID != "t9" {
		t.Errorf("errors.As: got %v, want task t9", f)
	}
}

// selfSigned makes a certificate for name and a pool that trusts it.
func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
