package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// ---------------------------------------------------------------------------
// Test harness: a GpuService that records every call, and the gateway in
// front of it.

// ruleCall is one call the fake GpuService received.
type ruleCall struct {
	Method string        // the RPC name, e.g. "DescribeGpu"
	MD     metadata.MD   // the incoming metadata
	Req    proto.Message // the request of a unary call
}

// ruleFake is a GpuService that records every call it receives (through
// interceptors, so unimplemented RPCs are recorded too), answers a few RPCs,
// and fails every call with fail when it is set.
type ruleFake struct {
	gpubmsv1.UnimplementedGpuServiceServer
	fail error

	mu    sync.Mutex
	calls []ruleCall
}

func (f *ruleFake) record(ctx context.Context, fullMethod string, req any) {
	md, _ := metadata.FromIncomingContext(ctx)
	c := ruleCall{Method: path.Base(fullMethod), MD: md.Copy()}
	if m, ok := req.(proto.Message); ok {
		c.Req = proto.Clone(m)
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

func (f *ruleFake) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	f.record(ctx, info.FullMethod, req)
	if f.fail != nil {
		return nil, f.fail
	}
	return handler(ctx, req)
}

func (f *ruleFake) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	f.record(ss.Context(), info.FullMethod, nil)
	if f.fail != nil {
		return f.fail
	}
	return handler(srv, ss)
}

// recorded returns the calls received so far.
func (f *ruleFake) recorded() []ruleCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// methods returns the RPC names of the calls received so far.
func (f *ruleFake) methods() []string {
	var out []string
	for _, c := range f.recorded() {
		out = append(out, c.Method)
	}
	return out
}

func (f *ruleFake) DescribeGpuRegions(context.Context, *gpubmsv1.DescribeGpuRegionsRequest) (*gpubmsv1.DescribeGpuRegionsResponse, error) {
	return &gpubmsv1.DescribeGpuRegionsResponse{Regions: []*gpubmsv1.Region{{RegionId: "r1", RegionName: "Region one"}}}, nil
}

func (f *ruleFake) DescribeGpu(_ context.Context, req *gpubmsv1.DescribeGpuRequest) (*gpubmsv1.DescribeGpuResponse, error) {
	return &gpubmsv1.DescribeGpuResponse{PageSize: req.GetPageSize(), PageNumber: req.GetPageNumber()}, nil
}

func (f *ruleFake) DescribeGpuGoods(context.Context, *gpubmsv1.DescribeGpuGoodsRequest) (*gpubmsv1.DescribeGpuGoodsResponse, error) {
	return &gpubmsv1.DescribeGpuGoodsResponse{}, nil
}

func (f *ruleFake) DescribeGpuDetail(_ context.Context, req *gpubmsv1.DescribeGpuDetailRequest) (*gpubmsv1.DescribeGpuDetailResponse, error) {
	return &gpubmsv1.DescribeGpuDetailResponse{ResourceId: req.GetResourceId()}, nil
}

func (f *ruleFake) OperateGpuPower(_ context.Context, req *gpubmsv1.OperateGpuPowerRequest) (*gpubmsv1.OperateGpuPowerResponse, error) {
	resp := &gpubmsv1.OperateGpuPowerResponse{}
	for _, id := range req.GetResourceIds() {
		resp.TaskIds = append(resp.TaskIds, "task-"+id)
	}
	return resp, nil
}

// ruleGateway is a gateway served over loopback in front of a ruleFake.
type ruleGateway struct {
	*httptest.Server
	fake *ruleFake
	// read counts the bytes the HTTP server has read from all its
	// connections (request lines, headers and bodies).
	read *atomic.Int64
}

// countingListener counts the bytes read from the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// startRuleGateway serves f over bufconn and New(opts...) in front of it
// over a loopback httptest server. A nil f is a fresh ruleFake.
func startRuleGateway(t *testing.T, f *ruleFake, opts ...Option) *ruleGateway {
	t.Helper()
	return startRuleGatewayAt(t, f, func(string) []Option { return opts })
}

// startRuleGatewayAt is startRuleGateway with options made from the
// server's listen address (host:port).
func startRuleGatewayAt(t *testing.T, f *ruleFake, opts func(addr string) []Option) *ruleGateway {
	t.Helper()
	if f == nil {
		f = &ruleFake{}
	}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(grpc.UnaryInterceptor(f.unary), grpc.StreamInterceptor(f.stream))
	gpubmsv1.RegisterGpuServiceServer(gs, f)
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		gs.Stop()
	})
	var h http.Handler // set before the server starts
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	read := &atomic.Int64{}
	ts.Listener = countingListener{Listener: ts.Listener, n: read}
	if h, err = New(t.Context(), conn, opts(ts.Listener.Addr().String())...); err != nil {
		ts.Close()
		t.Fatal(err)
	}
	ts.Start()
	t.Cleanup(ts.Close) // runs before the gRPC side goes
	return &ruleGateway{Server: ts, fake: f, read: read}
}

// reply is an HTTP response, read in full.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
	Close  bool // the server closes the connection (Connection: close)
}

// send makes one request to gw. header holds name, value pairs; "Host" sets
// the request's Host. An empty body is no body at all.
func send(t *testing.T, gw *ruleGateway, method, target, body string, header ...string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, gw.URL+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if len(header)%2 != 0 {
		t.Fatalf("header %q is not name, value pairs", header)
	}
	for i := 0; i < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := gw.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b, Close: resp.Close}
}

// rawExchange writes head (request line and header lines, each ended by
// CRLF, without the blank line that ends them) to a new connection to gw,
// then runs writeBody on the connection while it reads the response. The
// connection's send buffer is kept small, so that what the client has
// consumed of a body is close to what reached the server.
func rawExchange(t *testing.T, gw *ruleGateway, head string, writeBody func(io.Writer)) reply {
	t.Helper()
	conn, err := net.DialTimeout("tcp", gw.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(64 << 10)
	}
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if writeBody != nil {
			writeBody(conn) // errors end it: the server may close early
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("read response body: %v", err)
	}
	_ = conn.Close() // ends a writer the server stopped reading
	<-done           // bounded by the connection's deadline
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b, Close: resp.Close}
}

// countingReader yields the bytes of r and counts them.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// spaces is an endless stream of JSON whitespace.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// jsonBody is a counted body: prefix, then spaces up to n bytes in all.
func jsonBody(prefix string, n int64) *countingReader {
	return &countingReader{r: io.LimitReader(io.MultiReader(strings.NewReader(prefix), spaces{}), n)}
}

// declared writes the body as is (its length is in the head).
func declared(body io.Reader) func(io.Writer) {
	return func(w io.Writer) { _, _ = io.Copy(w, body) }
}

// chunked writes the body with chunked transfer coding.
func chunked(body io.Reader) func(io.Writer) {
	return func(w io.Writer) {
		cw := httputil.NewChunkedWriter(w)
		if _, err := io.Copy(cw, body); err != nil {
			return
		}
		if err := cw.Close(); err != nil {
			return
		}
		_, _ = io.WriteString(w, "\r\n")
	}
}

// errorReply is the JSON error body of the gateway, a google.rpc.Status
// with proto (snake_case) names.
type errorReply struct {
	Code    int
	Message string
	Details []map[string]any
}

// decodeError checks that r is a JSON error body of exactly the shape
// {"code":N,"message":...,"details":[...]} and returns it.
func decodeError(t *testing.T, r reply) errorReply {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("got Content-Type %q, want application/json (body %q)", ct, r.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Fatalf("error body %q is not a JSON object: %v", r.Body, err)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"code", "details", "message"}; !slices.Equal(keys, want) {
		t.Errorf("got error body keys %q, want %q (body %s)", keys, want, r.Body)
	}
	var e errorReply
	if err := json.Unmarshal(raw["code"], &e.Code); err != nil {
		t.Errorf("code %s is not a number: %v", raw["code"], err)
	}
	if err := json.Unmarshal(raw["message"], &e.Message); err != nil {
		t.Errorf("message %s is not a string: %v", raw["message"], err)
	}
	if d := raw["details"]; len(d) == 0 || d[0] != '[' {
		t.Errorf("details %s is not an array", d)
	} else if err := json.Unmarshal(d, &e.Details); err != nil {
		t.Errorf("details %s is not an array of objects: %v", d, err)
	}
	return e
}

// wantRefused checks that r has the HTTP status and a JSON error body with
// the gRPC code, and that the fake received no call; it returns the body.
func wantRefused(t *testing.T, gw *ruleGateway, r reply, httpStatus int, code codes.Code) errorReply {
	t.Helper()
	if r.Status != httpStatus {
		t.Errorf("got HTTP %d, want %d (body %s)", r.Status, httpStatus, r.Body)
	}
	e := decodeError(t, r)
	if e.Code != int(code) {
		t.Errorf("got code %d, want %d (%s) (message %q)", e.Code, code, code, e.Message)
	}
	if got := gw.fake.methods(); len(got) != 0 {
		t.Errorf("got calls %q to the service, want none", got)
	}
	return e
}

// wantReached checks that r is a success and that the fake received
// exactly one call, of method; it returns the call.
func wantReached(t *testing.T, gw *ruleGateway, r reply, method string) ruleCall {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Errorf("got HTTP %d, want 200 (body %s)", r.Status, r.Body)
	}
	calls := gw.fake.recorded()
	if len(calls) != 1 || calls[0].Method != method {
		t.Fatalf("got calls %q to the service, want one %s", gw.fake.methods(), method)
	}
	return calls[0]
}

// countingAuth is an authenticator that counts its calls and accepts
// "Authorization: Bearer good" only.
type countingAuth struct{ n atomic.Int64 }

type callerKey struct{}

func (a *countingAuth) authenticate(r *http.Request) (context.Context, error) {
	a.n.Add(1)
	if r.Header.Get("Authorization") != "Bearer good" {
		return nil, errors.New("a bearer token is required")
	}
	return context.WithValue(r.Context(), callerKey{}, "alice"), nil
}

// ---------------------------------------------------------------------------
// Host

func TestHostPolicyAllows(t *testing.T) {
	t.Parallel()
	p := newHostPolicy("gpubms.internal:8080", []string{"api.example", " Console.Example:8443 ", "[2001:db8::5]"})
	tests := []struct {
		host string
		want bool
	}{
		// The listen address.
		{"gpubms.internal:8080", true},
		{"GPUBMS.Internal:8080", true},
		{"gpubms.internal.:8080", true},
		{"gpubms.internal:9090", false},
		{"gpubms.internal", false},
		// localhost, on the listen port only.
		{"localhost:8080", true},
		{"LocalHost:8080", true},
		{"localhost.:8080", true},
		{"localhost:9090", false},
		{"localhost", false},
		{"localhost.evil.example:8080", false},
		// Any IP literal, any port.
		{"127.0.0.1:8080", true},
		{"127.0.0.1:1", true},
		{"127.0.0.1", true},
		{"[::1]:8080", true},
		{"[::1]:5", true},
		{"[::1]", true},
		{"10.1.2.3:443", true},
		{"192.0.2.7", true},
		{"[2001:db8::1]:80", true},
		// A name for any port.
		{"api.example", true},
		{"api.example:1234", true},
		{"API.EXAMPLE:80", true},
		{"api.example.", true},
		{"api.example.:443", true},
		{"sub.api.example", false},
		{"api.example.evil:80", false},
		// A name on one port.
		{"console.example:8443", true},
		{"CONSOLE.example.:8443", true},
		{"console.example:8444", false},
		{"console.example", false},
		// Foreign names.
		{"evil.example:8080", false},
		{"evil.example", false},
		{"evil.example.:8080", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := p.allows(tt.host, false); got != tt.want {
			t.Errorf("allows(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestHostPolicyIPListen(t *testing.T) {
	t.Parallel()
	p := newHostPolicy("127.0.0.1:7000", nil)
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:7000", true},
		{"localhost:7000", true},
		{"localhost:7001", false},
		{"[::1]:7001", true},
		{"evil.example:7000", false},
	}
	for _, tt := range tests {
		if got := p.allows(tt.host, false); got != tt.want {
			t.Errorf("allows(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

// A name configured with its trailing dot (the fully qualified spelling)
// should match the Host with or without one, as a Host's trailing dot is
// ignored.
func TestHostPolicyConfiguredTrailingDot(t *testing.T) {
	t.Parallel()
	p := newHostPolicy("gpubms.internal.:8080", []string{"api.example.", "console.example.:8443"})
	for _, host := range []string{
		"api.example", "api.example.", "api.example:1", "api.example.:1",
		"console.example:8443", "console.example.:8443",
		"gpubms.internal:8080", "gpubms.internal.:8080",
	} {
		if !p.allows(host, false) {
			t.Errorf("allows(%q) = false, want true", host)
		}
	}
}

func TestAllowedHostsHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		host     string // "" keeps the server's own 127.0.0.1:port
		wantHTTP int
	}{
		{"the listen address", "", 200},
		{"localhost on the port", "localhost:PORT", 200},
		{"a configured name", "api.example", 200},
		{"a foreign name", "evil.example:PORT", 421},
		{"a foreign name without port", "evil.example", 421},
		{"localhost on another port", "localhost:1", 421},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			auth := &countingAuth{}
			gw := startRuleGatewayAt(t, nil, func(addr string) []Option {
				return []Option{WithAllowedHosts(addr, "api.example"), WithAuthenticator(auth.authenticate)}
			})
			_, port, _ := net.SplitHostPort(gw.Listener.Addr().String())
			header := []string{"Authorization", "Bearer good"}
			if tt.host != "" {
				header = append(header, "Host", strings.ReplaceAll(tt.host, "PORT", port))
			}
			r := send(t, gw, http.MethodGet, "/v1/regions", "", header...)
			if tt.wantHTTP == 200 {
				wantReached(t, gw, r, "DescribeGpuRegions")
				return
			}
			e := wantRefused(t, gw, r, tt.wantHTTP, codes.PermissionDenied)
			if !strings.Contains(e.Message, "is not served here") {
				t.Errorf("got message %q, want it to say the host is not served", e.Message)
			}
			if n := auth.n.Load(); n != 0 {
				t.Errorf("got %d authenticator calls, want 0: the host is refused first", n)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Origin and CORS

func TestOriginRefusedFirst(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, target, body string
		header                     []string
	}{
		{"foreign origin on GET", "GET", "/v1/regions", "", []string{"Origin", "https://evil.example"}},
		{"foreign origin on POST", "POST", "/v1/gpus:power", `{"operate":"start","resource_ids":["r1"]}`,
			[]string{"Origin", "https://evil.example", "Content-Type", "application/json"}},
		{"null origin", "GET", "/v1/regions", "", []string{"Origin", "null"}},
		{"empty origin", "GET", "/v1/regions", "", []string{"Origin", ""}},
		{"allowed origin twice over", "GET", "/v1/regions", "", []string{"Origin", "https://console.example", "Origin", "https://console.example"}},
		{"foreign origin with good credentials", "GET", "/v1/regions", "", []string{"Origin", "https://evil.example", "Authorization", "Bearer good"}},
		{"foreign origin before the body is judged", "POST", "/v1/gpus:power", "not json",
			[]string{"Origin", "https://evil.example", "Content-Type", "text/plain"}},
		{"foreign origin before routing", "DELETE", "/v1/nosuch", "", []string{"Origin", "https://evil.example"}},
		{"foreign origin before the UTF-8 rule", "GET", "/v1/gpus/%ff", "", []string{"Origin", "https://evil.example"}},
		{"foreign origin on the OpenAPI document", "GET", OpenAPIPath, "", []string{"Origin", "https://evil.example"}},
		{"foreign preflight", "OPTIONS", "/v1/gpus:power", "",
			[]string{"Origin", "https://evil.example", "Access-Control-Request-Method", "POST"}},
		{"scheme differs", "GET", "/v1/regions", "", []string{"Origin", "http://console.example"}},
		{"port differs", "GET", "/v1/regions", "", []string{"Origin", "https://console.example:444"}},
	}
	for _, cors := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/cors=%v", tt.name, cors), func(t *testing.T) {
				t.Parallel()
				auth := &countingAuth{}
				opts := []Option{WithAuthenticator(auth.authenticate)}
				if cors {
					opts = append(opts, WithCORSOrigins("https://console.example"))
				}
				gw := startRuleGateway(t, nil, opts...)
				r := send(t, gw, tt.method, tt.target, tt.body, tt.header...)
				e := wantRefused(t, gw, r, http.StatusForbidden, codes.PermissionDenied)
				if !strings.Contains(e.Message, "may not call this API") {
					t.Errorf("got message %q, want it to refuse the origin", e.Message)
				}
				if n := auth.n.Load(); n != 0 {
					t.Errorf("got %d authenticator calls, want 0: the origin is refused first", n)
				}
				if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("got Access-Control-Allow-Origin %q, want none", got)
				}
			})
		}
	}
}

func TestNoOriginPasses(t *testing.T) {
	t.Parallel()
	for _, cors := range []bool{false, true} {
		t.Run(fmt.Sprintf("cors=%v", cors), func(t *testing.T) {
			t.Parallel()
			var opts []Option
			if cors {
				opts = append(opts, WithCORSOrigins("https://console.example"))
			}
			gw := startRuleGateway(t, nil, opts...)
			r := send(t, gw, http.MethodGet, "/v1/regions", "")
			wantReached(t, gw, r, "DescribeGpuRegions")
		})
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	const console = "https://console.example"
	t.Run("preflight from the allowed origin", func(t *testing.T) {
		t.Parallel()
		auth := &countingAuth{}
		gw := startRuleGateway(t, nil, WithCORSOrigins(console), WithAuthenticator(auth.authenticate))
		r := send(t, gw, http.MethodOptions, "/v1/gpus:power", "",
			"Origin", console,
			"Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization,content-type")
		if r.Status < 200 || r.Status > 299 {
			t.Errorf("got HTTP %d, want 2xx (body %s)", r.Status, r.Body)
		}
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != console {
			t.Errorf("got Access-Control-Allow-Origin %q, want %q", got, console)
		}
		if got := strings.ToLower(r.Header.Get("Access-Control-Allow-Methods")); !strings.Contains(got, "post") {
			t.Errorf("got Access-Control-Allow-Methods %q, want POST in it", got)
		}
		allowHeaders := strings.ToLower(strings.Join(r.Header.Values("Access-Control-Allow-Headers"), ","))
		for _, h := range []string{"authorization", "content-type"} {
			if !strings.Contains(allowHeaders, h) {
				t.Errorf("got Access-Control-Allow-Headers %q, want %s in it", allowHeaders, h)
			}
		}
		if n := auth.n.Load(); n != 0 {
			t.Errorf("got %d authenticator calls, want 0 for a preflight", n)
		}
		if got := gw.fake.methods(); len(got) != 0 {
			t.Errorf("got calls %q to the service, want none", got)
		}
	})
	t.Run("preflight for a header not allowed", func(t *testing.T) {
		t.Parallel()
		gw := startRuleGateway(t, nil, WithCORSOrigins(console))
		r := send(t, gw, http.MethodOptions, "/v1/gpus:power", "",
			"Origin", console,
			"Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "x-evil")
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("got Access-Control-Allow-Origin %q, want none", got)
		}
		if got := gw.fake.methods(); len(got) != 0 {
			t.Errorf("got calls %q to the service, want none", got)
		}
	})
	t.Run("preflight for a method not allowed", func(t *testing.T) {
		t.Parallel()
		gw := startRuleGateway(t, nil, WithCORSOrigins(console))
		r := send(t, gw, http.MethodOptions, "/v1/gpus", "",
			"Origin", console,
			"Access-Control-Request-Method", "DELETE")
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("got Access-Control-Allow-Origin %q, want none", got)
		}
		if got := gw.fake.methods(); len(got) != 0 {
			t.Errorf("got calls %q to the service, want none", got)
		}
	})
	t.Run("preflight from another origin", func(t *testing.T) {
		t.Parallel()
		gw := startRuleGateway(t, nil, WithCORSOrigins(console))
		r := send(t, gw, http.MethodOptions, "/v1/gpus:power", "",
			"Origin", "https://other.example",
			"Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization,content-type")
		wantRefused(t, gw, r, http.StatusForbidden, codes.PermissionDenied)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("got Access-Control-Allow-Origin %q, want none", got)
		}
	})
	t.Run("actual GET from the allowed origin", func(t *testing.T) {
		t.Parallel()
		gw := startRuleGateway(t, nil, WithCORSOrigins(console))
		r := send(t, gw, http.MethodGet, "/v1/regions", "", "Origin", console)
		wantReached(t, gw, r, "DescribeGpuRegions")
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != console {
			t.Errorf("got Access-Control-Allow-Origin %q, want %q", got, console)
		}
		if got := r.Header.Values("Vary"); !slices.Contains(got, "Origin") {
			t.Errorf("got Vary %q, want Origin in it", got)
		}
	})
	t.Run("actual POST from the allowed origin", func(t *testing.T) {
		t.Parallel()
		gw := startRuleGateway(t, nil, WithCORSOrigins(console))
		r := send(t, gw, http.MethodPost, "/v1/gpus:power", `{"operate":"start","resource_ids":["r1"]}`,
			"Origin", console, "Content-Type", "application/json")
		wantReached(t, gw, r, "OperateGpuPower")
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != console {
			t.Errorf("got Access-Control-Allow-Origin %q, want %q", got, console)
		}
	})
	t.Run("an error to the allowed origin", func(t *testing.T) {
		t.Parallel()
		gw := startRuleGateway(t, nil, WithCORSOrigins(console))
		r := send(t, gw, http.MethodGet, "/v1/gpus?nosuch=1", "", "Origin", console)
		wantRefused(t, gw, r, http.StatusBadRequest, codes.InvalidArgument)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != console {
			t.Errorf("got Access-Control-Allow-Origin %q, want %q: a page must be able to read the error", got, console)
		}
	})
}

// ---------------------------------------------------------------------------
// Content type

func TestBodyContentType(t *testing.T) {
	t.Parallel()
	const body = `{"operate":"start","resource_ids":["r1"]}`
	tests := []struct {
		name        string
		contentType []string // nil: no Content-Type header
		wantHTTP    int
	}{
		{"text/plain", []string{"text/plain"}, 415},
		{"form", []string{"application/x-www-form-urlencoded"}, 415},
		{"multipart", []string{"multipart/form-data; boundary=x"}, 415},
		{"no Content-Type", nil, 415},
		{"empty Content-Type", []string{""}, 415},
		{"a JSON look-alike", []string{"application/json-patch+json"}, 415},
		{"event stream", []string{"text/event-stream"}, 415},
		{"application/json", []string{"application/json"}, 200},
		{"with charset", []string{"application/json; charset=utf-8"}, 200},
		{"upper case", []string{"Application/JSON"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw := startRuleGateway(t, nil)
			var header []string
			for _, ct := range tt.contentType {
				header = append(header, "Content-Type", ct)
			}
			r := send(t, gw, http.MethodPost, "/v1/gpus:power", body, header...)
			if tt.wantHTTP == 200 {
				c := wantReached(t, gw, r, "OperateGpuPower")
				if got := c.Req.(*gpubmsv1.OperateGpuPowerRequest).GetOperate(); got != "start" {
					t.Errorf("got operate %q, want start", got)
				}
				return
			}
			e := wantRefused(t, gw, r, tt.wantHTTP, codes.InvalidArgument)
			if !strings.Contains(e.Message, "application/json") {
				t.Errorf("got message %q, want it to ask for application/json", e.Message)
			}
		})
	}
}

// A second Content-Type header picks grpc-gateway's inbound marshaler (the
// first registered exact match), while the rule looks at the first header
// only: "application/json" then "text/event-stream" decodes with the event
// stream's marshaler, whose decoder is not the one-value one.
func TestTwoContentTypesKeepOneValueRule(t *testing.T) {
	t.Parallel()
	gw := startRuleGateway(t, nil)
	r := send(t, gw, http.MethodPost, "/v1/gpus:power", `{"operate":"start","resource_ids":["r1"]}{"operate":"stop"}`,
		"Content-Type", "application/json", "Content-Type", "text/event-stream")
	if r.Status != http.StatusBadRequest && r.Status != http.StatusUnsupportedMediaType {
		t.Errorf("got HTTP %d, want 400 or 415 (body %s)", r.Status, r.Body)
	}
	if got := gw.fake.methods(); len(got) != 0 {
		t.Errorf("got calls %q to the service, want none", got)
	}
}

// ---------------------------------------------------------------------------
// Body limit

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	const huge = 64 << 20
	const power = `{"operate":"start","resource_ids":["r1"]}`
	tests := []struct {
		name      string
		chunked   bool
		length    int64 // bytes sent
		wantHTTP  int
		maxServer int64 // bound on the bytes the server reads, headers included
	}{
		{"declared length above the limit", false, huge, 413, 64 << 10},
		{"declared length one above the limit", false, limit + 1, 413, 64 << 10},
		{"chunked above the limit", true, huge, 413, 1 << 20},
		{"chunked one above the limit", true, limit + 1, 413, 64 << 10},
		{"declared length at the limit", false, limit, 200, 64 << 10},
		{"chunked at the limit", true, limit, 200, 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw := startRuleGateway(t, nil, WithMaxBodyBytes(limit))
			body := jsonBody(power, tt.length)
			head := "POST /v1/gpus:power HTTP/1.1\r\nHost: " + gw.Listener.Addr().String() + "\r\nContent-Type: application/json\r\n"
			write := chunked(body)
			if tt.chunked {
				head += "Transfer-Encoding: chunked\r\n"
			} else {
				head += fmt.Sprintf("Content-Length: %d\r\n", tt.length)
				write = declared(body)
			}
			r := rawExchange(t, gw, head, write)
			if tt.wantHTTP == 200 {
				c := wantReached(t, gw, r, "OperateGpuPower")
				if got := c.Req.(*gpubmsv1.OperateGpuPowerRequest).GetResourceIds(); !slices.Equal(got, []string{"r1"}) {
					t.Errorf("got resource_ids %q, want [r1]: the body at the limit is decoded", got)
				}
			} else {
				e := wantRefused(t, gw, r, tt.wantHTTP, codes.ResourceExhausted)
				if !strings.Contains(e.Message, "too large") {
					t.Errorf("got message %q, want it to say the body is too large", e.Message)
				}
				if !r.Close {
					t.Errorf("got a connection kept open, want Connection: close")
				}
			}
			if n := gw.read.Load(); n > tt.maxServer {
				t.Errorf("the server read %d bytes, want at most %d", n, tt.maxServer)
			}
			if n := body.n.Load(); tt.length == huge && n >= 4<<20 {
				t.Errorf("the client's body was consumed to %d bytes, want less than 4 MiB: the server read it", n)
			}
			t.Logf("server read %d bytes; client body consumed %d of %d", gw.read.Load(), body.n.Load(), tt.length)
		})
	}
}

func TestDefaultBodyLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     []Option
		length   int64
		wantHTTP int
	}{
		{"no option, above", nil, DefaultMaxBodyBytes + 1, 413},
		{"no option, at", nil, DefaultMaxBodyBytes, 200},
		{"zero keeps the default, above", []Option{WithMaxBodyBytes(0)}, DefaultMaxBodyBytes + 1, 413},
		{"zero keeps the default, at", []Option{WithMaxBodyBytes(0)}, DefaultMaxBodyBytes, 200},
		{"negative keeps the default", []Option{WithMaxBodyBytes(-1)}, DefaultMaxBodyBytes + 1, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw := startRuleGateway(t, nil, tt.opts...)
			body := jsonBody(`{"operate":"start","resource_ids":["r1"]}`, tt.length)
			head := fmt.Sprintf("POST /v1/gpus:power HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n",
				gw.Listener.Addr(), tt.length)
			r := rawExchange(t, gw, head, declared(body))
			if tt.wantHTTP == 200 {
				wantReached(t, gw, r, "OperateGpuPower")
				return
			}
			wantRefused(t, gw, r, tt.wantHTTP, codes.ResourceExhausted)
		})
	}
}

// ---------------------------------------------------------------------------
// Authentication

func TestAuthenticationRefusedWithoutReadingTheBody(t *testing.T) {
	t.Parallel()
	const huge = 64 << 20
	tests := []struct {
		name  string
		authz string // "" sends none
	}{
		{"no credentials", ""},
		{"bad credentials", "Bearer bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			auth := &countingAuth{}
			gw := startRuleGateway(t, nil, WithAuthenticator(auth.authenticate))
			body := jsonBody(`{"operate":"start"}`, huge)
			head := fmt.Sprintf("POST /v1/gpus:power HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n",
				gw.Listener.Addr(), huge)
			if tt.authz != "" {
				head += "Authorization: " + tt.authz + "\r\n"
			}
			r := rawExchange(t, gw, head, declared(body))
			e := wantRefused(t, gw, r, http.StatusUnauthorized, codes.Unauthenticated)
			if e.Message != "a bearer token is required" {
				t.Errorf("got message %q, want the authenticator's error", e.Message)
			}
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
				t.Errorf("got WWW-Authenticate %q, want a Bearer challenge", got)
			}
			if n := auth.n.Load(); n != 1 {
				t.Errorf("got %d authenticator calls, want 1", n)
			}
			if n := gw.read.Load(); n > 64<<10 {
				t.Errorf("the server read %d bytes, want at most 64 KiB: the body is not read", n)
			}
			if n := body.n.Load(); n >= 4<<20 {
				t.Errorf("the client's body was consumed to %d bytes, want less than 4 MiB", n)
			}
			t.Logf("server read %d bytes; client body consumed %d of %d", gw.read.Load(), body.n.Load(), huge)
		})
	}
}

func TestAuthenticationRefusedOnEveryRoute(t *testing.T) {
	t.Parallel()
	tests := []struct{ method, target, body string }{
		{"GET", "/v1/regions", ""},
		{"GET", "/v1/gpus?nosuch=1", ""},
		{"POST", "/v1/gpus:power", `{"operate":"start"}`},
		{"DELETE", "/v1/gpus", ""},
		{"GET", "/v1/nosuch", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			t.Parallel()
			auth := &countingAuth{}
			gw := startRuleGateway(t, nil, WithAuthenticator(auth.authenticate))
			r := send(t, gw, tt.method, tt.target, tt.body, "Content-Type", "application/json")
			wantRefused(t, gw, r, http.StatusUnauthorized, codes.Unauthenticated)
			if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="gpubms"` {
				t.Errorf("got WWW-Authenticate %q, want %q", got, `Bearer realm="gpubms"`)
			}
		})
	}
}

func TestCallMetadata(t *testing.T) {
	t.Parallel()
	auth := &countingAuth{}
	gw := startRuleGateway(t, nil,
		WithAuthenticator(auth.authenticate),
		WithCallMetadata(func(ctx context.Context) metadata.MD {
			caller, _ := ctx.Value(callerKey{}).(string)
			return metadata.Pairs("x-caller", caller)
		}))
	r := send(t, gw, http.MethodGet, "/v1/regions", "",
		"Authorization", "Bearer good",
		"Grpc-Metadata-X", "spoofed",
		"Grpc-Metadata-X-Caller", "mallory",
		"Grpc-Metadata-Authorization", "Bearer forged",
		"X-Caller", "mallory",
		"Cookie", "session=s3cret")
	c := wantReached(t, gw, r, "DescribeGpuRegions")
	if got := c.MD.Get("x-caller"); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("got x-caller %q, want [alice] from WithCallMetadata", got)
	}
	for _, key := range []string{"authorization", "x", "grpc-metadata-x", "cookie", "grpcgateway-cookie"} {
		if got := c.MD.Get(key); len(got) != 0 {
			t.Errorf("got metadata %s=%q, want none", key, got)
		}
	}
	for k, vs := range c.MD {
		for _, v := range vs {
			if strings.Contains(v, "good") || strings.Contains(v, "forged") || strings.Contains(v, "spoofed") || strings.Contains(v, "s3cret") {
				t.Errorf("got metadata %s=%q, want no request header value in the call", k, v)
			}
		}
	}
}

// Without an authenticator, the doc of WithCallMetadata (and New's comment
// "Nothing from the request's headers becomes call metadata") says no
// request header is forwarded, but grpc-gateway passes Authorization through
// as "authorization" whatever the header matcher says, and only a successful
// authenticator removes the header.
func TestNoAuthenticatorForwardsNoAuthorization(t *testing.T) {
	t.Parallel()
	gw := startRuleGateway(t, nil)
	r := send(t, gw, http.MethodGet, "/v1/regions", "", "Authorization", "Bearer s3cret")
	c := wantReached(t, gw, r, "DescribeGpuRegions")
	if got := c.MD.Get("authorization"); len(got) != 0 {
		t.Errorf("got metadata authorization=%q, want none", got)
	}
}

// ---------------------------------------------------------------------------
// Open routes

func TestOpenRoutes(t *testing.T) {
	t.Parallel()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "up 1\n")
	})
	tests := []struct {
		name     string
		open     bool
		authz    string
		target   string
		wantHTTP int
		wantAuth int64 // authenticator calls
	}{
		{"open OpenAPI", true, "", OpenAPIPath, 200, 0},
		{"open metrics", true, "", MetricsPath, 200, 0},
		{"open OpenAPI with bad credentials", true, "Bearer bad", OpenAPIPath, 200, 0},
		{"closed OpenAPI without credentials", false, "", OpenAPIPath, 401, 1},
		{"closed metrics without credentials", false, "", MetricsPath, 401, 1},
		{"closed OpenAPI with credentials", false, "Bearer good", OpenAPIPath, 200, 1},
		{"closed metrics with credentials", false, "Bearer good", MetricsPath, 200, 1},
		{"the API is not an open route", true, "", "/v1/regions", 401, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			auth := &countingAuth{}
			var asked atomic.Int64
			gw := startRuleGateway(t, nil,
				WithAuthenticator(auth.authenticate),
				WithMetrics(metrics),
				WithOpenRoutes(func(*http.Request) bool { asked.Add(1); return tt.open }))
			var header []string
			if tt.authz != "" {
				header = []string{"Authorization", tt.authz}
			}
			r := send(t, gw, http.MethodGet, tt.target, "", header...)
			if tt.wantHTTP == 200 {
				if r.Status != 200 {
					t.Errorf("got HTTP %d, want 200 (body %s)", r.Status, r.Body)
				}
				switch tt.target {
				case MetricsPath:
					if string(r.Body) != "up 1\n" {
						t.Errorf("got metrics %q, want the metrics handler's", r.Body)
					}
				case OpenAPIPath:
					var doc map[string]any
					if err := json.Unmarshal(r.Body, &doc); err != nil || doc["swagger"] == nil {
						t.Errorf("got OpenAPI document %.100q, want a swagger JSON document (%v)", r.Body, err)
					}
					if ct := r.Header.Get("Content-Type"); ct != "application/json" {
						t.Errorf("got Content-Type %q, want application/json", ct)
					}
					// The rules make generate adds (cmd/openapi-rules), and
					// the media types the streams are served in.
					var rules struct {
						Definitions struct {
							Create struct {
								Required   []string
								Properties struct {
									ChargeType struct{ Enum []string } `json:"instance_charge_type"`
								}
							} `json:"v1CreateGpuInstanceRequest"`
						}
						Paths struct {
							Watch struct{ Get struct{ Produces []string } } `json:"/v1/tasks/{task_id}:watch"`
						}
					}
					_ = json.Unmarshal(r.Body, &rules)
					create, watch := rules.Definitions.Create, rules.Paths.Watch.Get
					if !slices.Contains(create.Required, "password") || slices.Contains(create.Required, "request_id") ||
						!slices.Equal(create.Properties.ChargeType.Enum, []string{"PrePaid", "PostPaid"}) ||
						!slices.Equal(watch.Produces, []string{"application/json", mimeEventStream}) {
						t.Errorf("got CreateGpuInstanceRequest required %q, instance_charge_type enum %q, WatchTask produces %q; want the rules and the stream media types",
							create.Required, create.Properties.ChargeType.Enum, watch.Produces)
					}
				}
			} else {
				wantRefused(t, gw, r, tt.wantHTTP, codes.Unauthenticated)
			}
			if n := auth.n.Load(); n != tt.wantAuth {
				t.Errorf("got %d authenticator calls, want %d", n, tt.wantAuth)
			}
			if tt.target != "/v1/regions" && asked.Load() != 1 {
				t.Errorf("got %d WithOpenRoutes calls, want 1", asked.Load())
			}
		})
	}
}

func TestMetricsRouteOnlyWithMetrics(t *testing.T) {
	t.Parallel()
	gw := startRuleGateway(t, nil)
	r := send(t, gw, http.MethodGet, MetricsPath, "")
	wantRefused(t, gw, r, http.StatusNotFound, codes.NotFound)
}

// ---------------------------------------------------------------------------
// One JSON value

func TestBodyIsOneJSONValue(t *testing.T) {
	t.Parallel()
	const v = `{"operate":"start","resource_ids":["r1"]}`
	tests := []struct {
		name, body string
		wantHTTP   int
	}{
		{"two objects", v + `{"operate":"stop","resource_ids":["r2"]}`, 400},
		{"two objects apart", v + "\n" + v, 400},
		{"an object then a word", v + ` xyz`, 400},
		{"an object then a bracket", v + `]`, 400},
		{"an object then a brace", v + `}`, 400},
		{"an object then a comma", v + `,`, 400},
		{"an object then a number", v + ` 1`, 400},
		{"a truncated object", `{"operate":"start"`, 400},
		{"an array", `[` + v + `]`, 400},
		{"one object", v, 200},
		{"trailing spaces", v + "   ", 200},
		{"a trailing newline", v + "\n", 200},
		{"trailing whitespace of every kind", v + " \t\r\n\n", 200},
		{"leading whitespace", "\n\t " + v, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw := startRuleGateway(t, nil)
			r := send(t, gw, http.MethodPost, "/v1/gpus:power", tt.body, "Content-Type", "application/json")
			if tt.wantHTTP == 200 {
				c := wantReached(t, gw, r, "OperateGpuPower")
				req := c.Req.(*gpubmsv1.OperateGpuPowerRequest)
				if req.GetOperate() != "start" || !slices.Equal(req.GetResourceIds(), []string{"r1"}) {
					t.Errorf("got request %v, want operate start on [r1]", req)
				}
				return
			}
			wantRefused(t, gw, r, tt.wantHTTP, codes.InvalidArgument)
		})
	}
}

func TestEmptyBodyIsEmptyMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header []string
	}{
		{"no Content-Type", nil},
		{"JSON Content-Type", []string{"Content-Type", "application/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw := startRuleGateway(t, nil)
			r := send(t, gw, http.MethodPost, "/v1/gpus:power", "", tt.header...)
			c := wantReached(t, gw, r, "OperateGpuPower")
			if !proto.Equal(c.Req, &gpubmsv1.OperateGpuPowerRequest{}) {
				t.Errorf("got request %v, want the empty message", c.Req)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// UTF-8 and escapes

func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, target string
	}{
		{"path segment %ff", "/v1/gpus/%ff"},
		{"path segment %FF", "/v1/gpus/%FF"},
		{"path segment half a rune", "/v1/gpus/%c3"},
		{"path with a verb", "/v1/gpus/%ff:reinstall"},
		{"query value %ff", "/v1/gpus?name=%ff"},
		{"query value half a rune", "/v1/gpus?name=a%c3"},
		{"query key %ff", "/v1/gpus?%ff=1"},
		{"query key on a route without parameters", "/v1/regions?%ff"},
		{"malformed escape in the query value", "/v1/gpus?name=%zz"},
		{"malformed escape in the query key", "/v1/gpus?%zz=1"},
		{"truncated escape in the query", "/v1/gpus?name=%f"},
		{"semicolon in the query", "/v1/gpus?name=a;page_size=1"},
		{"invalid UTF-8 on the OpenAPI document", OpenAPIPath + "?x=%ff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw := startRuleGateway(t, nil)
			r := send(t, gw, http.MethodGet, tt.target, "")
			wantRefused(t, gw, r, http.StatusBadRequest, codes.InvalidArgument)
		})
	}
}

// A malformed escape in the path never reaches the gateway: net/http's
// request parser refuses it with a plain-text 400. It is never a 500.
func TestMalformedPathEscape(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"/v1/gpus/%zz", "/v1/gpus/%f", "/v1/%zz/goods"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			gw := startRuleGateway(t, nil)
			r := rawExchange(t, gw, "GET "+target+" HTTP/1.1\r\nHost: "+gw.Listener.Addr().String()+"\r\n", nil)
			if r.Status != http.StatusBadRequest {
				t.Errorf("got HTTP %d, want 400 (body %q)", r.Status, r.Body)
			}
			if got := gw.fake.methods(); len(got) != 0 {
				t.Errorf("got calls %q to the service, want none", got)
			}
		})
	}
}

func TestValidUTF8Passes(t *testing.T) {
	t.Parallel()
	gw := startRuleGateway(t, nil)
	r := send(t, gw, http.MethodGet, "/v1/gpus/%C3%A9t%C3%A9", "")
	c := wantReached(t, gw, r, "DescribeGpuDetail")
	if got := c.Req.(*gpubmsv1.DescribeGpuDetailRequest).GetResourceId(); got != "été" {
		t.Errorf("got resource_id %q, want été", got)
	}
}

// ---------------------------------------------------------------------------
// Retry-After

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	exhausted := func(d time.Duration) error {
		st, err := status.New(codes.ResourceExhausted, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	tests := []struct {
		name     string
		err      error
		wantHTTP int
		want     string // Retry-After; "" for none
	}{
		{"1.2s rounds up", exhausted(1200 * time.Millisecond), 429, "2"},
		{"whole seconds", exhausted(3 * time.Second), 429, "3"},
		{"under a second is one", exhausted(100 * time.Millisecond), 429, "1"},
		{"zero is one", exhausted(0), 429, "1"},
		{"no RetryInfo", status.Error(codes.ResourceExhausted, "slow down"), 429, ""},
		{"on another code", func() error {
			st, _ := status.New(codes.Unavailable, "later").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(5 * time.Second)})
			return st.Err()
		}(), 503, "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw := startRuleGateway(t, &ruleFake{fail: tt.err})
			r := send(t, gw, http.MethodGet, "/v1/regions", "")
			if r.Status != tt.wantHTTP {
				t.Errorf("got HTTP %d, want %d (body %s)", r.Status, tt.wantHTTP, r.Body)
			}
			if got := r.Header.Get("Retry-After"); got != tt.want {
				t.Errorf("got Retry-After %q, want %q", got, tt.want)
			}
			e := decodeError(t, r)
			if want := int(status.Code(tt.err)); e.Code != want {
				t.Errorf("got code %d, want %d", e.Code, want)
			}
			if tt.want != "" {
				if len(e.Details) != 1 || e.Details[0]["@type"] != "type.googleapis.com/google.rpc.RetryInfo" || e.Details[0]["retry_delay"] == nil {
					t.Errorf("got details %v, want one google.rpc.RetryInfo with retry_delay", e.Details)
				}
			}
			if got := gw.fake.methods(); !slices.Equal(got, []string{"DescribeGpuRegions"}) {
				t.Errorf("got calls %q, want one DescribeGpuRegions", got)
			}
		})
	}
}

// WithOpenRoutes says "Default: all of them", but without it openRoute
// authenticates every request for the metrics and the OpenAPI document.
func TestOpenRoutesDefaultIsOpen(t *testing.T) {
	t.Parallel()
	auth := &countingAuth{}
	gw := startRuleGateway(t, nil, WithAuthenticator(auth.authenticate))
	r := send(t, gw, http.MethodGet, OpenAPIPath, "")
	if r.Status != http.StatusOK {
		t.Errorf("got HTTP %d for the OpenAPI document without WithOpenRoutes, want 200 (documented default: all open)", r.Status)
	}
}

// rs/cors compares origins case-insensitively and lower-cases the
// configured ones, but browserRules compares them exactly, so an origin
// configured with a capital letter is refused with 403 for the lower-case
// spelling browsers send.
func TestCORSOriginCase(t *testing.T) {
	t.Parallel()
	gw := startRuleGateway(t, nil, WithCORSOrigins("https://Console.example"))
	r := send(t, gw, http.MethodGet, "/v1/regions", "", "Origin", "https://console.example")
	wantReached(t, gw, r, "DescribeGpuRegions")
}
