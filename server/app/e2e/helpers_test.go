// Package e2e_test drives the whole gpubms server, as app.Serve wires it,
// against the embedded provider emulator: through the generated gRPC client,
// through HTTP/JSON, through reflection and health, and through shutdown.
// Nothing is mocked; the only test code between caller and emulator is the
// caller.
package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/app"
	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/upstream"
)

// Every server these tests start must have stopped, with all its
// goroutines, by the end.
func TestMain(m *testing.M) {
	// go-redis keeps redialling a server that went away for a second after
	// its client is closed (TestReplicas stops Redis on purpose).
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

// Secrets the suite hands the server. None may appear in a log line or in a
// reply; every harness checks both when it stops.
const (
	emulatorKeyID     = "AKIDe2eEmulator"
	emulatorSecret    = "e2e-EmuS3cret/7Qx+9vKpZ="
	createPassword    = "Cr3ate-Pa55-e2e!"
	reinstallPassword = "Re1nstall-Pa55-e2e!"
	authToken         = "e2e-bearer-T0ken-9f8e7d"
	wrongToken        = "e2e-wrong-T0ken-1a2b3c"
)

var secrets = []string{emulatorSecret, createPassword, reinstallPassword, authToken, wrongToken}

const (
	taskDelay    = 150 * time.Millisecond // emulated task duration
	pollInterval = 100 * time.Millisecond // watch hub poll interval
	callTimeout  = 20 * time.Second       // bound of any one call or stream
	stopTimeout  = 15 * time.Second       // bound on Serve returning
)

// harness is one server started by app.Serve on loopback ports with the
// emulator, its captured log, and clients that record every reply.
type harness struct {
	grpcAddr string
	httpAddr string
	logs     *syncBuffer
	replies  *syncBuffer // every reply body, header and error status seen by a client
	peers    *peerSet    // client addresses of the test's own gRPC connections
	provider *provider   // the emulator outside the server, with withCountedProvider

	c    *client      // a default gRPC client
	http *http.Client // records every response

	cancel   context.CancelFunc
	done     chan struct{} // closed when Serve returned
	serveErr error
}

// setup is what a harness is started with: the server's configuration,
// and choices of the harness's own.
type setup struct {
	app.Config
	// countProvider serves the emulator outside the server, on a loopback
	// httptest server that counts every request reaching it (harness.provider).
	countProvider bool
	// noReadyWait: start returns without waiting for readiness.
	noReadyWait bool
	// provider, when set, is the counted emulator to use (shared by two
	// servers, as across a restart); else a new one is made.
	provider *provider
}

// option adjusts the harness setup before Serve.
type option func(*setup)

func withAuthToken(tok string) option {
	return func(c *setup) { c.AuthToken = upstream.Secret(tok) }
}

func withRateLimit(perSecond float64) option {
	return func(c *setup) { c.RateLimit = perSecond }
}

// withFaults makes the emulator fail as f says; start does not wait for
// readiness, which such a provider may never give.
func withFaults(f emulator.Faults) option {
	return func(c *setup) { c.EmulatorConfig.Faults, c.noReadyWait = f, true }
}

func withTaskDelay(d time.Duration) option {
	return func(c *setup) { c.EmulatorConfig.TaskDelay = d }
}

// withCountedProvider makes h.provider count the requests that reach the
// provider (the emulator), so a test can show that a refused call sent none.
func withCountedProvider() option {
	return func(c *setup) { c.countProvider = true }
}

// start runs app.Serve in a goroutine until the test ends, then stops it,
// requires that it returned nil, and checks its log and every recorded reply
// for secrets.
func start(t *testing.T, opts ...option) *harness {
	t.Helper()
	ec := emulator.DefaultConfig()
	ec.TaskDelay = taskDelay
	ec.AccessKeyID, ec.AccessKeySecret = emulatorKeyID, emulatorSecret
	su := setup{Config: app.Config{
		DataDir:           t.TempDir(),
		GRPCAddr:          "127.0.0.1:0",
		HTTPAddr:          "127.0.0.1:0",
		WatchPollInterval: pollInterval,
		WatchHeartbeat:    0,
		WatchMaxDuration:  time.Minute,
		WatchMaxPollRate:  100,
		Emulator:          true,
		Metrics:           true,
		EmulatorConfig:    ec,
		LogLevel:          slog.LevelDebug,
		LogCalls:          app.LogCallsAll, // the tests read every call's line
		LogFormat:         "json",
		ShutdownTimeout:   5 * time.Second,
		// One readiness probe, at start (which start waits for); tests of
		// readiness set a short interval.
		ReadyInterval: time.Minute,
	}}
	for _, o := range opts {
		o(&su)
	}
	cfg := su.Config
	prov := su.provider
	if su.countProvider && prov == nil {
		prov = newProvider(t, cfg.EmulatorConfig)
	}
	if prov != nil {
		cfg.UpstreamURL, cfg.VPCURL = prov.url, prov.vpcURL
		cfg.Emulator = false
		cfg.AccessKeyID, cfg.AccessKeySecret = emulatorKeyID, emulatorSecret
	}
	var lc net.ListenConfig
	grpcLn, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		grpcLn.Close()
		t.Fatal(err)
	}
	h := &harness{
		grpcAddr: grpcLn.Addr().String(),
		httpAddr: httpLn.Addr().String(),
		logs:     new(syncBuffer),
		replies:  new(syncBuffer),
		peers:    new(peerSet),
		provider: prov,
		done:     make(chan struct{}),
	}
	serveCtx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	logger := cfg.Logger(h.logs)
	go func() {
		defer close(h.done)
		h.serveErr = app.Serve(serveCtx, cfg, grpcLn, httpLn, logger)
	}()
	tr := &http.Transport{}
	h.http = &http.Client{Transport: recordingTransport{tr, h.replies}}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		began := time.Now()
		if err := h.stop(); err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
		// Not an assertion: a slow return is shown, so that a stall in
		// shutdown can be told from a slow test.
		if d := time.Since(began); d > time.Second {
			t.Logf("Serve took %v to return after its context was canceled", d)
		}
		h.checkNoSecrets(t)
	})
	h.c = h.newClient(t)
	if !su.noReadyWait && cfg.TLSCert == "" { // h.c speaks plaintext
		h.waitReady(t)
	}
	return h
}

// waitReady waits (at most 10 s) until the gRPC health is SERVING: the
// server's first provider probe is done. A counted provider does not count
// the probe, so tests count their own requests only.
func (h *harness) waitReady(t *testing.T) {
	t.Helper()
	if h.provider != nil {
		h.provider.uncounted.Add(1)
		defer h.provider.uncounted.Add(-1)
	}
	hc := healthpb.NewHealthClient(h.c.conn)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := hc.Check(ctx(t), &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 10s: %v, %v", r.GetStatus(), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// provider is an emulator served on a loopback httptest server that counts
// the requests reaching it, by action, and lets a test put itself between
// the server and the emulator.
type provider struct {
	url    string
	vpcURL string
	emu    *emulator.Emulator
	n      atomic.Int64
	// uncounted > 0: requests reach the emulator without being counted
	// (a starting server's readiness probe).
	uncounted atomic.Int32

	mu       sync.Mutex
	byAction map[string]int
	// intercept, when set, serves a request instead of the emulator; it may
	// call next (the emulator) itself.
	intercept func(w http.ResponseWriter, r *http.Request, next http.Handler)
}

// newProvider serves an emulator configured by ec until the test ends.
func newProvider(t *testing.T, ec emulator.Config) *provider {
	t.Helper()
	ec.AccessKeyID, ec.AccessKeySecret = emulatorKeyID, emulatorSecret
	opts, err := ec.Options()
	if err != nil {
		t.Fatal(err)
	}
	emu, err := emulator.New(append(opts, emulator.WithLogger(slog.New(slog.DiscardHandler)))...)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{emu: emu, byAction: map[string]int{}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		if p.uncounted.Load() == 0 {
			p.n.Add(1)
			p.byAction[r.URL.Query().Get("Action")]++
		}
		intercept := p.intercept
		p.mu.Unlock()
		if intercept != nil {
			intercept(w, r, emu)
			return
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	p.url, p.vpcURL = ts.URL+"/gpubms/v1", ts.URL+"/vpc"
	return p
}

// calls is how many requests of action reached the provider.
func (p *provider) calls(action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byAction[action]
}

// setIntercept puts f between the server and the emulator (nil removes it).
func (p *provider) setIntercept(f func(w http.ResponseWriter, r *http.Request, next http.Handler)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.intercept = f
}

// providerRequests is how many requests have reached the counted provider.
func (h *harness) providerRequests(t *testing.T) int64 {
	t.Helper()
	if h.provider == nil {
		t.Fatal("the harness counts provider requests only withCountedProvider")
	}
	return h.provider.n.Load()
}

// stop cancels Serve's context and waits, bounded, for it to return.
func (h *harness) stop() error {
	h.cancel()
	select {
	case <-h.done:
		return h.serveErr
	case <-time.After(stopTimeout):
		return errors.New("Serve did not return within the bound after its context was canceled")
	}
}

// checkNoSecrets fails the test if any secret appears in the server's log
// or in any reply a client of h received.
func (h *harness) checkNoSecrets(t *testing.T) {
	t.Helper()
	logs, replies := h.logs.String(), h.replies.String()
	if logs == "" || replies == "" {
		t.Error("no log or no reply recorded: the secrets check would prove nothing")
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("server log contains secret %q", s)
		}
		if strings.Contains(replies, s) {
			t.Errorf("a reply contains secret %q", s)
		}
	}
}

// client is a gRPC connection of the test's own, whose local addresses are
// known, so that the server's log lines of its calls can be found.
type client struct {
	gpubmsv1.GpuServiceClient
	gpubmsv1.NetworkServiceClient
	conn  *grpc.ClientConn
	peers *peerSet
}

// newClient dials h's gRPC port. Every reply and error status is recorded
// for the secrets check; the connection closes when the test ends.
func (h *harness) newClient(t *testing.T, extra ...grpc.DialOption) *client {
	t.Helper()
	own := new(peerSet)
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			own.add(c.LocalAddr().String())
			h.peers.add(c.LocalAddr().String())
		}
		return c, err
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial),
		grpc.WithChainUnaryInterceptor(recordUnary(h.replies)),
		grpc.WithChainStreamInterceptor(recordStream(h.replies)),
	}, extra...)
	conn, err := grpc.NewClient(h.grpcAddr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{GpuServiceClient: gpubmsv1.NewGpuServiceClient(conn), NetworkServiceClient: gpubmsv1.NewNetworkServiceClient(conn), conn: conn, peers: own}
}

// ctx is a context bounding one step of a test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return c
}

// ---------------------------------------------------------------------------
// Recording

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// record appends one whole reply, so a secret cannot be split by another.
func (b *syncBuffer) record(s string) { b.Write([]byte(s + "\n")) }

func recordStatus(b *syncBuffer, err error) {
	if err == nil || errors.Is(err, io.EOF) {
		return
	}
	st := status.Convert(err)
	js, _ := protojson.Marshal(st.Proto())
	b.record(err.Error() + " " + string(js))
}

func recordUnary(b *syncBuffer) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err != nil {
			recordStatus(b, err)
		} else if m, ok := reply.(proto.Message); ok {
			js, _ := protojson.Marshal(m)
			b.record(string(js))
		}
		return err
	}
}

func recordStream(b *syncBuffer) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			recordStatus(b, err)
			return nil, err
		}
		return recordedStream{s, b}, nil
	}
}

type recordedStream struct {
	grpc.ClientStream
	b *syncBuffer
}

func (s recordedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		recordStatus(s.b, err)
	} else if pm, ok := m.(proto.Message); ok {
		js, _ := protojson.Marshal(pm)
		s.b.record(string(js))
	}
	return err
}

// recordingTransport records every HTTP response's headers and body.
type recordingTransport struct {
	rt http.RoundTripper
	b  *syncBuffer
}

func (r recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	var hdr bytes.Buffer
	resp.Header.Write(&hdr)
	r.b.record(hdr.String())
	resp.Body = &teeBody{rc: resp.Body, b: r.b}
	return resp, nil
}

type teeBody struct {
	rc   io.ReadCloser
	b    *syncBuffer
	buf  bytes.Buffer
	once sync.Once
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	t.buf.Write(p[:n])
	return n, err
}

func (t *teeBody) Close() error {
	t.once.Do(func() { t.b.record(t.buf.String()) })
	return t.rc.Close()
}

// peerSet is a set of client addresses.
type peerSet struct {
	mu    sync.Mutex
	addrs map[string]bool
}

func (p *peerSet) add(a string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.addrs == nil {
		p.addrs = map[string]bool{}
	}
	p.addrs[a] = true
}

func (p *peerSet) has(a string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addrs[a]
}

// ---------------------------------------------------------------------------
// The server's log

// logLine is one JSON log record.
type logLine map[string]any

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }

// providerRequests is the provider.requests field of a "finished call" line.
func (l logLine) providerRequests() (int, bool) {
	f, ok := l["provider.requests"].(float64)
	return int(f), ok
}

// lines parses every record logged so far.
func (h *harness) lines(t *testing.T) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Bytes())
		}
		out = append(out, l)
	}
	return out
}

// finishedCalls returns the "finished call" lines of method (e.g.
// "CreateGpuInstance") whose peer satisfies from.
func (h *harness) finishedCalls(t *testing.T, method string, from func(peer string) bool) []logLine {
	t.Helper()
	var out []logLine
	for _, l := range h.lines(t) {
		if l.str("msg") == "finished call" && l.str("grpc.method") == method && from(l.str("peer.address")) {
			out = append(out, l)
		}
	}
	return out
}

// ofClient selects calls made on c's connection.
func ofClient(c *client) func(string) bool { return c.peers.has }

// ofGateway selects calls the JSON gateway made (on the server's own
// connection), i.e. from no client of the test.
func (h *harness) ofGateway() func(string) bool {
	return func(p string) bool { return !h.peers.has(p) }
}

// wantProviderRequests checks that every finished call of method from the
// selected peers with gRPC code code logged provider.requests == want, and
// that there was at least one.
func (h *harness) wantProviderRequests(t *testing.T, method string, from func(string) bool, code codes.Code, want int) {
	t.Helper()
	var n int
	for _, l := range h.finishedCalls(t, method, from) {
		if l.str("grpc.code") != code.String() {
			continue
		}
		if c, _ := l["provider.coalesced"].(bool); c {
			continue // it shared another call's requests
		}
		n++
		got, ok := l.providerRequests()
		if !ok {
			t.Errorf("finished call of %s has no provider.requests: %v", method, l)
			continue
		}
		if got != want {
			t.Errorf("finished call of %s (%s): got provider.requests %d, want %d", method, code, got, want)
		}
	}
	if n == 0 {
		t.Errorf("no finished call of %s with code %s in the log", method, code)
	}
}

// ---------------------------------------------------------------------------
// Errors

// errorInfo returns the google.rpc.ErrorInfo detail of err, or nil.
func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei
		}
	}
	return nil
}

// violationFields returns the field paths of err's protovalidate violations.
func violationFields(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if v, ok := d.(*validate.Violations); ok {
			for _, x := range v.GetViolations() {
				out = append(out, protovalidate.FieldPathString(x.GetField()))
			}
		}
	}
	return out
}

// wantCode checks err's gRPC code and, when reason is set, its ErrorInfo
// reason.
func wantCode(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("got code %v (%v), want %v", got, err, code)
	}
	if reason == "" {
		return
	}
	ei := errorInfo(err)
	if ei == nil {
		t.Fatalf("got no ErrorInfo in %v, want reason %q", err, reason)
	}
	if ei.GetReason() != reason {
		t.Errorf("got ErrorInfo reason %q, want %q", ei.GetReason(), reason)
	}
}

// ---------------------------------------------------------------------------
// Tasks

// watchTask follows taskID with WatchTask to its end and checks the events:
// all of taskID, none a heartbeat, observed in order, "init" zero or more
// times and then "succeed" once, last; the stream ends OK.
func watchTask(t *testing.T, c *client, taskID string) []*gpubmsv1.TaskEvent {
	t.Helper()
	stream, err := c.WatchTask(ctx(t), &gpubmsv1.WatchTaskRequest{TaskId: taskID})
	if err != nil {
		t.Fatalf("WatchTask(%s): %v", taskID, err)
	}
	var evs []*gpubmsv1.TaskEvent
	for range 1000 {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			checkTaskEvents(t, taskID, evs)
			return evs
		}
		if err != nil {
			t.Fatalf("WatchTask(%s) after %d events: %v", taskID, len(evs), err)
		}
		evs = append(evs, r.GetEvent())
	}
	t.Fatalf("WatchTask(%s): no end after %d events", taskID, len(evs))
	return nil
}

// watchTasks follows every task with one WatchTasks stream to its end and
// checks each task's events as watchTask does.
func watchTasks(t *testing.T, c *client, taskIDs []string) map[string][]*gpubmsv1.TaskEvent {
	t.Helper()
	stream, err := c.WatchTasks(ctx(t), &gpubmsv1.WatchTasksRequest{TaskIds: taskIDs})
	if err != nil {
		t.Fatalf("WatchTasks(%v): %v", taskIDs, err)
	}
	byTask := map[string][]*gpubmsv1.TaskEvent{}
	for range 1000 {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			for _, id := range taskIDs {
				checkTaskEvents(t, id, byTask[id])
			}
			if len(byTask) != len(taskIDs) {
				t.Errorf("got events of %d tasks, want %d", len(byTask), len(taskIDs))
			}
			return byTask
		}
		if err != nil {
			t.Fatalf("WatchTasks(%v): %v", taskIDs, err)
		}
		id := r.GetEvent().GetTaskId()
		byTask[id] = append(byTask[id], r.GetEvent())
	}
	t.Fatalf("WatchTasks(%v): no end", taskIDs)
	return nil
}

func checkTaskEvents(t *testing.T, taskID string, evs []*gpubmsv1.TaskEvent) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatalf("task %s: got no events, want init... succeed", taskID)
	}
	var seq []string
	for i, ev := range evs {
		seq = append(seq, ev.GetRawStatus())
		if ev.GetTaskId() != taskID {
			t.Errorf("task %s event %d: got task_id %q", taskID, i, ev.GetTaskId())
		}
		if ev.GetHeartbeat() {
			t.Errorf("task %s event %d: got a heartbeat with heartbeats off", taskID, i)
		}
		if i > 0 && ev.GetObservedAt().AsTime().Before(evs[i-1].GetObservedAt().AsTime()) {
			t.Errorf("task %s event %d: observed_at goes back in time", taskID, i)
		}
		last := i == len(evs)-1
		want := gpubmsv1.TaskStatus_TASK_STATUS_INIT
		if last {
			want = gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED
		}
		if ev.GetStatus() != want {
			t.Errorf("task %s event %d of %d: got status %v, want %v", taskID, i+1, len(evs), ev.GetStatus(), want)
		}
	}
	if !regexp.MustCompile(`^(init )*succeed$`).MatchString(strings.Join(seq, " ")) {
		t.Errorf("task %s: got raw statuses %v, want init... succeed", taskID, seq)
	}
}

// eventually calls f every 50ms, at most 100 times, until it reports done.
func eventually(t *testing.T, what string, f func() (bool, error)) {
	t.Helper()
	var last error
	for range 100 {
		done, err := f()
		if done {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not reached after 100 tries (last error: %v)", what, last)
}

// ---------------------------------------------------------------------------
// Catalogue

// offer is something to buy: a compute with stock and its public images.
type offer struct {
	regionID   string
	goodsID    int64
	chargeType string
	compute    *gpubmsv1.Compute
	images     []*gpubmsv1.Image // public, offered for the compute
	vpcID      string            // the first VPC and subnet FindNetworks answers for the region
	netID      string
	cidr       netip.Prefix // the subnet's
}

// findOffer walks regions → goods → images and returns the first compute
// with at least minStock in stock and at least two differently named public
// images.
func findOffer(t *testing.T, c *client, minStock int32) offer {
	t.Helper()
	regions, err := c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{})
	if err != nil {
		t.Fatalf("DescribeGpuRegions: %v", err)
	}
	for _, r := range regions.GetRegions() {
		goods, err := c.DescribeGpuGoods(ctx(t), &gpubmsv1.DescribeGpuGoodsRequest{RegionId: r.GetRegionId()})
		if err != nil {
			t.Fatalf("DescribeGpuGoods(%s): %v", r.GetRegionId(), err)
		}
		nets, err := c.FindNetworks(ctx(t), &gpubmsv1.FindNetworksRequest{RegionId: r.GetRegionId()})
		if err != nil {
			t.Fatalf("FindNetworks(%s): %v", r.GetRegionId(), err)
		}
		if len(nets.GetVpcs()) == 0 || len(nets.GetVpcs()[0].GetSubnets()) == 0 {
			continue
		}
		sn := nets.GetVpcs()[0].GetSubnets()[0]
		vpcID, netID := nets.GetVpcs()[0].GetVpc().GetVpcId(), sn.GetSubnetId()
		cidr, err := netip.ParsePrefix(sn.GetSubnetSegment())
		if err != nil {
			t.Fatalf("FindNetworks(%s): subnet %s: %v", r.GetRegionId(), netID, err)
		}
		for _, list := range []struct {
			charge string
			goods  []*gpubmsv1.Goods
		}{{"PostPaid", goods.GetPostPaid()}, {"PrePaid", goods.GetPrePaid()}} {
			for _, g := range list.goods {
				for _, cp := range g.GetComputes() {
					if cp.GetPurchaseNum() < minStock {
						continue
					}
					ims := publicImages(t, c, r.GetRegionId(), cp.GetId())
					if distinctNames(ims) < 2 {
						continue
					}
					return offer{r.GetRegionId(), g.GetGoodsId(), list.charge, cp, ims, vpcID, netID, cidr}
				}
			}
		}
	}
	t.Fatalf("no compute with %d in stock and two public images, in a region with a network, in the catalogue", minStock)
	return offer{}
}

func publicImages(t *testing.T, c *client, region, compute string) []*gpubmsv1.Image {
	t.Helper()
	r, err := c.DescribeGpuImage(ctx(t), &gpubmsv1.DescribeGpuImageRequest{
		ImageType: "public", RegionId: region, ComputeId: compute,
	})
	if err != nil {
		t.Fatalf("DescribeGpuImage(%s, %s): %v", region, compute, err)
	}
	var out []*gpubmsv1.Image
	for _, f := range r.GetFamilies() {
		if f.GetOsFamily() == "" {
			t.Errorf("image family with no os_family: %v", f)
		}
		out = append(out, f.GetImages()...)
	}
	return out
}

func distinctNames(ims []*gpubmsv1.Image) int {
	var names []string
	for _, im := range ims {
		if !slices.Contains(names, im.GetName()) {
			names = append(names, im.GetName())
		}
	}
	return len(names)
}

// secondImage returns an image named differently from first.
func secondImage(t *testing.T, ims []*gpubmsv1.Image, first *gpubmsv1.Image) *gpubmsv1.Image {
	t.Helper()
	for _, im := range ims {
		if im.GetName() != first.GetName() {
			return im
		}
	}
	t.Fatalf("no image other than %s", first.GetName())
	return nil
}

// createRequest orders amount servers of o in its network, with an
// explicit RAID 0.
func (o offer) createRequest(name string, amount int32) *gpubmsv1.CreateGpuInstanceRequest {
	req := &gpubmsv1.CreateGpuInstanceRequest{
		RegionId:           o.regionID,
		VpcNetwork:         &gpubmsv1.VpcNetwork{VpcId: o.vpcID, NetId: o.netID},
		Password:           createPassword,
		InstanceName:       name,
		InstanceChargeType: o.chargeType,
		ComputeId:          o.compute.GetId(),
		GoodsId:            o.goodsID,
		ImageId:            o.images[0].GetId(),
		Raid:               proto.Int32(0),
		Amount:             amount,
	}
	if o.chargeType == "PrePaid" {
		req.PrepaidMonth = proto.Int32(1)
		req.AutoRenew = proto.Int32(0)
	}
	return req
}

// cents parses the provider's money ("666.00") exactly.
func cents(t *testing.T, s string) *big.Int {
	t.Helper()
	if !regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`).MatchString(s) {
		t.Fatalf("money %q is not digits with two decimals", s)
	}
	n, _ := new(big.Int).SetString(strings.Replace(s, ".", "", 1), 10)
	return n
}

// ---------------------------------------------------------------------------
// HTTP

// httpDo sends a request to h's JSON port. A []byte body is sent as is, any
// other non-nil body as JSON.
func (h *harness) httpDo(t *testing.T, method, path string, body any, header http.Header) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte: // sent as is
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(ctx(t), method, "http://"+h.httpAddr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// httpOK sends a request that must answer 200, checks that the reply uses
// snake_case field names only, decodes it into out and returns it.
func (h *harness) httpOK(t *testing.T, method, path string, body any, out proto.Message) []byte {
	t.Helper()
	code, b := h.httpDo(t, method, path, body, nil)
	if code != http.StatusOK {
		t.Fatalf("%s %s: got HTTP %d (%s), want 200", method, path, code, b)
	}
	checkSnakeCase(t, b)
	if err := protojson.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: decode %T: %v (%s)", method, path, out, err, b)
	}
	return b
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkSnakeCase requires every object key in the JSON document b to be
// snake_case.
func checkSnakeCase(t *testing.T, b []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("reply is not JSON: %v: %s", err, b)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if !snakeCase.MatchString(k) {
					t.Errorf("reply has field %q, want snake_case: %s", k, b)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
}

// httpError is grpc-gateway's error body.
type httpError struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details"`
}

// reason returns the ErrorInfo reason among the details, or "".
func (e httpError) reason() string {
	for _, d := range e.Details {
		var x struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(d, &x) == nil && strings.HasSuffix(x.Type, "google.rpc.ErrorInfo") {
			return x.Reason
		}
	}
	return ""
}

func decodeHTTPError(t *testing.T, b []byte) httpError {
	t.Helper()
	var e httpError
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, b)
	}
	return e
}

// streamLine is one line of a grpc-gateway NDJSON stream.
type streamLine struct {
	Result json.RawMessage `json:"result"`
	Error  *httpError      `json:"error"`
}

// openStream sends a streaming request and returns the response; the caller
// reads it with lines and closes it.
func (h *harness) openStream(t *testing.T, c context.Context, method, path string, body any) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c, method, "http://"+h.httpAddr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// readLines reads the NDJSON stream r to its end (at most 1000 lines).
func readLines(t *testing.T, r io.Reader) []streamLine {
	t.Helper()
	var out []streamLine
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l streamLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("stream line is not JSON: %v: %s", err, sc.Bytes())
		}
		out = append(out, l)
		if len(out) > 1000 {
			t.Fatal("stream does not end")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read stream: %v", err)
	}
	return out
}

// httpWatch follows a task through GET /v1/tasks/{id}:watch to its end and
// checks its events as watchTask does.
func (h *harness) httpWatch(t *testing.T, taskID string) {
	t.Helper()
	resp := h.openStream(t, ctx(t), http.MethodGet, "/v1/tasks/"+taskID+":watch", nil)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("watch %s: got HTTP %d (%s), want 200", taskID, resp.StatusCode, b)
	}
	var evs []*gpubmsv1.TaskEvent
	for _, l := range readLines(t, resp.Body) {
		if l.Error != nil {
			t.Fatalf("watch %s: stream error %+v", taskID, *l.Error)
		}
		checkSnakeCase(t, l.Result)
		var r gpubmsv1.WatchTaskResponse
		if err := protojson.Unmarshal(l.Result, &r); err != nil {
			t.Fatalf("watch %s: decode %s: %v", taskID, l.Result, err)
		}
		evs = append(evs, r.GetEvent())
	}
	checkTaskEvents(t, taskID, evs)
}
