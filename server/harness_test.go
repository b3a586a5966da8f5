package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	pvinterceptor "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/signature"
	"github.com/gpubms/gpubms/server/upstream"
)

const (
	testKeyID  = "AKIDserver"
	testSecret = "server-s3cret+/="
)

// providerRequest is one request as the stand-in provider received it.
type providerRequest struct {
	Method string
	Query  url.Values
	Body   []byte
	SigErr error
}

// providerReply is one scripted answer; abort drops the connection, block
// waits for the client to give up.
type providerReply struct {
	status int
	body   string
	abort  bool
	block  bool
}

// fakeProvider is an httptest stand-in for the provider. It records and
// counts every request, verifies its signature, and answers from a script
// whose last entry repeats.
type fakeProvider struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []providerRequest
	replies []providerReply
}

func newFakeProvider(t *testing.T, replies ...providerReply) *fakeProvider {
	t.Helper()
	p := &fakeProvider{replies: replies}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	p.mu.Lock()
	i := len(p.reqs)
	p.reqs = append(p.reqs, providerRequest{Method: r.Method, Query: q, Body: body, SigErr: signature.Verify(r.Method, q, testSecret)})
	rep := providerReply{status: 200, body: `{"Code":"Success","Data":null}`}
	if len(p.replies) > 0 {
		rep = p.replies[min(i, len(p.replies)-1)]
	}
	p.mu.Unlock()
	switch {
	case rep.abort:
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	case rep.block:
		<-r.Context().Done()
		return
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (p *fakeProvider) requests() []providerRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]providerRequest(nil), p.reqs...)
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is the service on a real gRPC server over bufconn, behind the
// protovalidate interceptor as in production, calling a fake provider.
type harness struct {
	client gpubmsv1.GpuServiceClient
	prov   *fakeProvider
	logs   *syncBuffer
}

func newHarness(t *testing.T, upOpts []upstream.Option, replies ...providerReply) *harness {
	t.Helper()
	prov := newFakeProvider(t, replies...)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := append([]upstream.Option{
		upstream.WithRetry(3, time.Microsecond, 10*time.Microsecond),
		upstream.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}),
		upstream.WithLogger(logger),
	}, upOpts...)
	up, err := upstream.New(prov.srv.URL+"/gpubms/v1", testKeyID, testSecret, opts...)
	if err != nil {
		t.Fatalf("upstream.New: %v", err)
	}
	validator, err := protovalidate.New()
	if err != nil {
		t.Fatalf("protovalidate.New: %v", err)
	}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(pvinterceptor.UnaryServerInterceptor(validator)))
	gpubmsv1.RegisterGpuServiceServer(gs, New(up, WithLogger(logger)))
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &harness{client: gpubmsv1.NewGpuServiceClient(conn), prov: prov, logs: logs}
}

// actionParams returns q without the common signed parameters.
func actionParams(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	for _, k := range []string{
		signature.ParamAction, signature.ParamAccessKeyID, signature.ParamSignatureMethod,
		signature.ParamSignatureNonce, signature.ParamSignatureVersion, signature.ParamTimestamp,
		signature.ParamVersion, signature.ParamSignature,
	} {
		delete(out, k)
	}
	return out
}

func ptr[T any](v T) *T { return &v }
