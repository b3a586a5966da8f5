package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/testing/protocmp"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/gateway"
	"github.com/gpubms/gpubms/server/upstream"
	"github.com/gpubms/gpubms/server/watch"
)

// watchProvider stands in for the provider's DescribeGpuTask. The n-th call
// for a task answers the n-th status of its script (the last one repeats)
// with ResourceIds ["gpu-<task id>"]; the status "!outage" answers
// InternalError (transient); a task without a script is DataNotExists. With
// a gate, calls wait until it is closed.
type watchProvider struct {
	scripts map[string][]string
	gate    chan struct{}

	mu    sync.Mutex
	calls map[string]int
}

func (p *watchProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if a := q.Get("Action"); a != upstream.ActionDescribeGpuTask {
		writeEnvelope(w, http.StatusBadRequest, map[string]any{"Code": "InvalidAction", "Message": a})
		return
	}
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-r.Context().Done():
			return
		}
	}
	id := q.Get("TaskId")
	p.mu.Lock()
	n := p.calls[id]
	p.calls[id]++
	script := p.scripts[id]
	p.mu.Unlock()
	switch {
	case len(script) == 0:
		writeEnvelope(w, http.StatusBadRequest, map[string]any{"Code": "DataNotExists", "Message": "任务不存在", "RequestId": "req-" + id})
	case script[min(n, len(script)-1)] == "!outage":
		writeEnvelope(w, http.StatusBadRequest, map[string]any{"Code": "InternalError", "Message": "busy", "RequestId": "req-" + id})
	default:
		writeEnvelope(w, http.StatusOK, map[string]any{"Code": "Success", "Message": "ok", "Data": map[string]any{
			"Status": script[min(n, len(script)-1)], "ResourceIds": []string{"gpu-" + id},
		}})
	}
}

func writeEnvelope(w http.ResponseWriter, code int, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func (p *watchProvider) callsOf(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id]
}

// watchEnv is a GpuService with a hub over a stand-in provider, served over
// bufconn to a real gRPC client.
type watchEnv struct {
	prov   *watchProvider
	hub    *watch.Hub
	conn   *grpc.ClientConn
	client gpubmsv1.GpuServiceClient
}

// startWatchEnv starts the service over a watchProvider with scripts; see
// startWatchEnvOver.
func startWatchEnv(t testing.TB, scripts map[string][]string, noHub bool, hubOpts ...watch.Option) *watchEnv {
	t.Helper()
	prov := &watchProvider{scripts: scripts, calls: make(map[string]int)}
	env := startWatchEnvOver(t, prov, "AKID-test", "test-secret", noHub, hubOpts...)
	env.prov = prov
	return env
}

// startWatchEnvOver starts the service (with a hub polling every 10ms unless
// noHub) over the provider served by h, and checks for leaked goroutines
// once everything is closed. Tests using it must not be parallel at the top
// level: the leak check sees every goroutine of the process.
func startWatchEnvOver(t testing.TB, h http.Handler, keyID, secret string, noHub bool, hubOpts ...watch.Option) *watchEnv {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // runs last

	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	up, err := upstream.New(ts.URL+"/gpubms/v1", keyID, upstream.Secret(secret),
		upstream.WithHTTPClient(ts.Client()), upstream.WithRetry(1, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	env := &watchEnv{}
	var opts []Option
	if !noHub {
		base := []watch.Option{
			watch.WithPollInterval(10 * time.Millisecond),
			watch.WithJitter(0),
			watch.WithHeartbeat(0),
			watch.WithRetryBackoff(5*time.Millisecond, 20*time.Millisecond),
			watch.WithLogger(slog.New(slog.DiscardHandler)),
		}
		env.hub = watch.NewHub(NewTaskSource(up), append(base, hubOpts...)...)
		t.Cleanup(env.hub.Close)
		opts = append(opts, WithHub(env.hub))
	}

	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	gpubmsv1.RegisterGpuServiceServer(gs, New(up, opts...))
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		gs.Stop()
		<-served
	})
	env.conn = conn
	env.client = gpubmsv1.NewGpuServiceClient(conn)
	return env
}

// testCtx bounds a test's calls, so a broken stream fails instead of hanging.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recvAll reads a stream to its end and returns its events and final error
// (nil for OK).
func recvAll[T interface{ GetEvent() *gpubmsv1.TaskEvent }](recv func() (T, error)) ([]*gpubmsv1.TaskEvent, error) {
	var evs []*gpubmsv1.TaskEvent
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, m.GetEvent())
	}
}

func ev(id string, st gpubmsv1.TaskStatus, raw string) *gpubmsv1.TaskEvent {
	return &gpubmsv1.TaskEvent{TaskId: id, Status: st, RawStatus: raw, ResourceIds: []string{"gpu-" + id}}
}

const (
	stInit    = gpubmsv1.TaskStatus_TASK_STATUS_INIT
	stSucceed = gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED
	stFailed  = gpubmsv1.TaskStatus_TASK_STATUS_FAILED
	stUnknown = gpubmsv1.TaskStatus_TASK_STATUS_UNSPECIFIED
)

// diffEvents compares events except their times, which it checks are set.
func diffEvents(t *testing.T, want, got []*gpubmsv1.TaskEvent) string {
	t.Helper()
	for i, e := range got {
		if e.GetObservedAt() == nil || e.GetWatchedFor() == nil {
			t.Errorf("event %d has no observed_at or watched_for: %v", i, e)
		}
	}
	return cmp.Diff(want, got, protocmp.Transform(),
		protocmp.IgnoreFields(&gpubmsv1.TaskEvent{}, "observed_at", "watched_for"))
}

func TestWatchTask(t *testing.T) {
	env := startWatchEnv(t, map[string][]string{
		"t-succeed":    {"init", "init", "succeed"},
		"t-failed":     {"init", "init", "failed"},
		"t-outage":     {"init", "!outage", "!outage", "init", "succeed"},
		"t-odd":        {"init", "queued", "queued", "succeed"},
		"t-done":       {"succeed"},
		"t-outage-1st": {"!outage", "init", "failed"},
	}, false)
	tests := []struct {
		id        string
		want      []*gpubmsv1.TaskEvent
		wantCode  codes.Code
		wantCalls int
	}{
		{"t-succeed", []*gpubmsv1.TaskEvent{ev("t-succeed", stInit, "init"), ev("t-succeed", stSucceed, "succeed")}, codes.OK, 3},
		{"t-failed", []*gpubmsv1.TaskEvent{ev("t-failed", stInit, "init"), ev("t-failed", stFailed, "failed")}, codes.OK, 3},
		{"t-outage", []*gpubmsv1.TaskEvent{ev("t-outage", stInit, "init"), ev("t-outage", stSucceed, "succeed")}, codes.OK, 5},
		{"t-outage-1st", []*gpubmsv1.TaskEvent{ev("t-outage-1st", stInit, "init"), ev("t-outage-1st", stFailed, "failed")}, codes.OK, 3},
		{"t-odd", []*gpubmsv1.TaskEvent{ev("t-odd", stInit, "init"), ev("t-odd", stUnknown, "queued"), ev("t-odd", stSucceed, "succeed")}, codes.OK, 4},
		{"t-done", []*gpubmsv1.TaskEvent{ev("t-done", stSucceed, "succeed")}, codes.OK, 1},
		{"t-unknown", nil, codes.NotFound, 1},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			stream, err := env.client.WatchTask(testCtx(t), &gpubmsv1.WatchTaskRequest{TaskId: tt.id})
			if err != nil {
				t.Fatal(err)
			}
			got, err := recvAll(stream.Recv)
			if diff := diffEvents(t, tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if code := status.Code(err); code != tt.wantCode {
				t.Errorf("got end %v, want %v", err, tt.wantCode)
			}
			if calls := env.prov.callsOf(tt.id); calls != tt.wantCalls {
				t.Errorf("got %d provider calls, want %d", calls, tt.wantCalls)
			}
		})
	}
	t.Run("unknown task carries the provider's code", func(t *testing.T) {
		stream, err := env.client.WatchTask(testCtx(t), &gpubmsv1.WatchTaskRequest{TaskId: "t-unknown-2"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = recvAll(stream.Recv)
		var reason string
		for _, d := range status.Convert(err).Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				reason = info.GetReason()
			}
		}
		if status.Code(err) != codes.NotFound || reason != upstream.CodeDataNotExists {
			t.Errorf("got %v with reason %q, want NotFound with reason DataNotExists", err, reason)
		}
	})
}

func TestWatchTasks(t *testing.T) {
	env := startWatchEnv(t, map[string][]string{
		"a": {"init", "succeed"},
		"b": {"init", "init", "init", "failed"},
		"c": {"init"},
	}, false)

	t.Run("every task to its end", func(t *testing.T) {
		stream, err := env.client.WatchTasks(testCtx(t), &gpubmsv1.WatchTasksRequest{TaskIds: []string{"a", "b", "a"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := recvAll(stream.Recv)
		if err != nil {
			t.Fatalf("got end %v, want OK", err)
		}
		byTask := map[string][]*gpubmsv1.TaskEvent{}
		for _, e := range got {
			byTask[e.GetTaskId()] = append(byTask[e.GetTaskId()], e)
		}
		want := map[string][]*gpubmsv1.TaskEvent{
			"a": {ev("a", stInit, "init"), ev("a", stSucceed, "succeed")},
			"b": {ev("b", stInit, "init"), ev("b", stFailed, "failed")},
		}
		for id, w := range want {
			if diff := diffEvents(t, w, byTask[id]); diff != "" {
				t.Errorf("task %s (-want +got):\n%s", id, diff)
			}
		}
		if len(byTask) != 2 {
			t.Errorf("got events of tasks %v, want a and b only", byTask)
		}
		if calls := env.prov.callsOf("a"); calls != 2 {
			t.Errorf("got %d polls of a (listed twice), want 2", calls)
		}
	})
	t.Run("an unknown task ends the stream", func(t *testing.T) {
		stream, err := env.client.WatchTasks(testCtx(t), &gpubmsv1.WatchTasksRequest{TaskIds: []string{"c", "nope"}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = recvAll(stream.Recv)
		if status.Code(err) != codes.NotFound || !strings.HasPrefix(status.Convert(err).Message(), "task nope: ") {
			t.Errorf("got %v, want NotFound naming task nope", err)
		}
	})
	t.Run("no task ids", func(t *testing.T) {
		stream, err := env.client.WatchTasks(testCtx(t), &gpubmsv1.WatchTasksRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := recvAll(stream.Recv); status.Code(err) != codes.InvalidArgument {
			t.Errorf("got %v, want InvalidArgument", err)
		}
	})
	eventuallyWatch(t, "no watchers left", func() bool { return env.hub.Stats() == watch.Stats{} })
}

func TestWatchTaskFanOut(t *testing.T) {
	const n = 50
	env := startWatchEnv(t, map[string][]string{"t1": {"init", "init", "succeed"}}, false)
	env.prov.gate = make(chan struct{})
	ctx := testCtx(t)
	results := make([][]*gpubmsv1.TaskEvent, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			stream, err := env.client.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: "t1"})
			if err != nil {
				errs[i] = err
				return
			}
			results[i], errs[i] = recvAll(stream.Recv)
		})
	}
	// Every stream is subscribed before the provider answers the first poll.
	eventuallyWatch(t, "all watchers subscribed", func() bool { return env.hub.Stats().Watchers == n })
	close(env.prov.gate)
	wg.Wait()
	want := []*gpubmsv1.TaskEvent{ev("t1", stInit, "init"), ev("t1", stSucceed, "succeed")}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("stream %d: %v", i, errs[i])
		}
		if diff := diffEvents(t, want, results[i]); diff != "" {
			t.Fatalf("stream %d (-want +got):\n%s", i, diff)
		}
	}
	if calls := env.prov.callsOf("t1"); calls != 3 {
		t.Errorf("got %d provider calls for %d watchers, want 3 (one watcher's)", calls, n)
	}
}

func TestWatchTaskCallerLeaves(t *testing.T) {
	env := startWatchEnv(t, map[string][]string{"stuck": {"init"}}, false)
	// Connect first, so the deadline below is spent watching.
	if _, err := env.client.DescribeGpuTask(testCtx(t), &gpubmsv1.DescribeGpuTaskRequest{TaskId: "stuck"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		ctx      func() (context.Context, context.CancelFunc)
		cancel   bool
		wantCode codes.Code
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 300*time.Millisecond)
		}, false, codes.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(t.Context()) }, true, codes.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, rpc := range []string{"WatchTask", "WatchTasks"} {
				ctx, cancel := tt.ctx()
				defer cancel()
				var recv func() (*gpubmsv1.TaskEvent, error)
				if rpc == "WatchTask" {
					stream, err := env.client.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: "stuck"})
					if err != nil {
						t.Fatal(err)
					}
					recv = func() (*gpubmsv1.TaskEvent, error) { m, err := stream.Recv(); return m.GetEvent(), err }
				} else {
					stream, err := env.client.WatchTasks(ctx, &gpubmsv1.WatchTasksRequest{TaskIds: []string{"stuck"}})
					if err != nil {
						t.Fatal(err)
					}
					recv = func() (*gpubmsv1.TaskEvent, error) { m, err := stream.Recv(); return m.GetEvent(), err }
				}
				e, err := recv()
				switch {
				case !tt.cancel && status.Code(err) == tt.wantCode:
					// A very slow machine: the deadline passed before the
					// first event. The end is still the one wanted.
					t.Logf("%s: deadline passed before the first event", rpc)
					continue
				case err != nil || e.GetRawStatus() != "init":
					t.Fatalf("%s: got first event %v, %v; want init", rpc, e, err)
				}
				if tt.cancel {
					cancel()
				}
				if e, err := recv(); status.Code(err) != tt.wantCode {
					t.Fatalf("%s: got %v, %v; want %v", rpc, e, err, tt.wantCode)
				}
			}
			// The server side let go too: the hub has no watcher left.
			eventuallyWatch(t, "the server to drop the watchers", func() bool { return env.hub.Stats() == watch.Stats{} })
		})
	}
}

func TestWatchTaskHubShutdown(t *testing.T) {
	env := startWatchEnv(t, map[string][]string{"stuck": {"init"}, "stuck2": {"init"}}, false)
	ctx := testCtx(t)
	one, err := env.client.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: "stuck"})
	if err != nil {
		t.Fatal(err)
	}
	many, err := env.client.WatchTasks(ctx, &gpubmsv1.WatchTasksRequest{TaskIds: []string{"stuck", "stuck2"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := one.Recv(); err != nil {
		t.Fatal(err)
	}
	eventuallyWatch(t, "both streams subscribed", func() bool { return env.hub.Stats().Watchers == 3 })
	env.hub.Close()
	_, err = recvAll(one.Recv)
	if status.Code(err) != codes.Unavailable {
		t.Errorf("WatchTask: got %v, want Unavailable", err)
	}
	_, err = recvAll(many.Recv)
	if c := status.Code(err); c != codes.Unavailable {
		t.Errorf("WatchTasks: got %v, want Unavailable", err)
	}
	// Watching after shutdown is refused the same way.
	late, err := env.client.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: "stuck"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recvAll(late.Recv); status.Code(err) != codes.Unavailable {
		t.Errorf("after shutdown: got %v, want Unavailable", err)
	}
}

func TestWatchTaskHeartbeat(t *testing.T) {
	env := startWatchEnv(t, map[string][]string{"stuck": {"init"}}, false, watch.WithHeartbeat(30*time.Millisecond))
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	stream, err := env.client.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: "stuck"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	beat, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if first.GetEvent().GetHeartbeat() || !beat.GetEvent().GetHeartbeat() || beat.GetEvent().GetRawStatus() != "init" {
		t.Errorf("got %v then %v, want the init event then an init heartbeat", first, beat)
	}
	if !(beat.GetEvent().GetWatchedFor().AsDuration() > first.GetEvent().GetWatchedFor().AsDuration()) {
		t.Errorf("heartbeat watched_for %v is not after the first event's %v",
			beat.GetEvent().GetWatchedFor().AsDuration(), first.GetEvent().GetWatchedFor().AsDuration())
	}
}

func TestWatchWithoutHub(t *testing.T) {
	env := startWatchEnv(t, nil, true)
	ctx := testCtx(t)
	one, err := env.client.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recvAll(one.Recv); status.Code(err) != codes.Unimplemented {
		t.Errorf("WatchTask: got %v, want Unimplemented", err)
	}
	many, err := env.client.WatchTasks(ctx, &gpubmsv1.WatchTasksRequest{TaskIds: []string{"t1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recvAll(many.Recv); status.Code(err) != codes.Unimplemented {
		t.Errorf("WatchTasks: got %v, want Unimplemented", err)
	}
	if calls := env.prov.callsOf("t1"); calls != 0 {
		t.Errorf("got %d provider calls, want none", calls)
	}
}

func TestWatchStatus(t *testing.T) {
	t.Parallel()
	nf := status.Error(codes.NotFound, "DescribeGpuTask: provider error DataNotExists")
	tests := []struct {
		err  error
		want codes.Code
	}{
		{nil, codes.OK},
		{watch.ErrHubClosed, codes.Unavailable},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
		{nf, codes.NotFound},
		{errors.New("odd"), codes.Unknown},
	}
	for _, tt := range tests {
		if got := status.Code(watchStatus(tt.err)); got != tt.want {
			t.Errorf("watchStatus(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if got := taskStatusError("t9", nf); status.Code(got) != codes.NotFound || status.Convert(got).Message() != "task t9: "+status.Convert(nf).Message() {
		t.Errorf("taskStatusError = %v, want NotFound naming t9", got)
	}
	if got := dedupe([]string{"a", "b", "a", "c", "b"}); !cmp.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("dedupe = %v, want [a b c]", got)
	}
}

// eventuallyWatch waits, bounded in time, until cond holds.
func eventuallyWatch(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !waitFor(cond) {
		t.Fatalf("gave up waiting for %s", what)
	}
}

// waitFor polls cond for up to 10s and reports whether it came to hold. It
// is safe off the test's goroutine.
func waitFor(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

func TestWatchTaskThroughGateway(t *testing.T) {
	env := startWatchEnv(t, map[string][]string{"t1": {"init", "init", "succeed"}}, false)
	gw, err := gateway.New(t.Context(), env.conn)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gw)
	defer hs.Close()
	defer hs.Client().CloseIdleConnections()

	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, hs.URL+"/v1/tasks/t1:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got HTTP %d, want 200", resp.StatusCode)
	}
	var got []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct {
			Result struct {
				Event struct {
					TaskID    string `json:"task_id"`
					RawStatus string `json:"raw_status"`
					Status    string `json:"status"`
				} `json:"event"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		e := line.Result.Event
		got = append(got, e.TaskID+" "+e.RawStatus+" "+e.Status)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"t1 init TASK_STATUS_INIT", "t1 succeed TASK_STATUS_SUCCEED"}
	if !cmp.Equal(got, want) {
		t.Errorf("got lines %q, want %q", got, want)
	}
	// The provider was asked about t1 only, never about "t1:watch".
	env.prov.mu.Lock()
	asked := maps.Keys(env.prov.calls)
	env.prov.mu.Unlock()
	if ids := slices.Sorted(asked); !cmp.Equal(ids, []string{"t1"}) {
		t.Errorf("provider was asked about tasks %q, want only t1", ids)
	}
}

// emulatorClock is the emulator's clock, moved by hand.
type emulatorClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *emulatorClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *emulatorClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestWatchTaskOverEmulator watches a real create task of the project's
// emulator: init while the emulator's clock stands still, succeed once it
// passes the task delay.
func TestWatchTaskOverEmulator(t *testing.T) {
	const keyID, secret = "AKID-emulator", "emulator-secret-0123"
	clk := &emulatorClock{now: time.Now()}
	emu, err := emulator.New(emulator.WithCredentials(keyID, secret), emulator.WithClock(clk),
		emulator.WithTaskDelay(time.Minute), emulator.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	env := startWatchEnvOver(t, emu, keyID, secret, false)
	up, err := upstream.New(emulatorURL(t, emu), keyID, upstream.Secret(secret))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	vpc, subnet, _ := emulator.DefaultNetwork("CN_Hohhot_B")
	created, err := up.CreateGpuInstance(ctx, &upstream.CreateGpuInstanceRequest{
		RegionID:           "CN_Hohhot_B",
		VpcNetwork:         upstream.VpcNetwork{VpcID: vpc, NetID: subnet},
		Password:           upstream.Secret("Passw0rd-watch"),
		InstanceName:       "watch",
		InstanceChargeType: "PostPaid",
		ComputeID:          "8fbdb61e-b941-46db-89f6-f8953b278ec9",
		GoodsID:            7685,
		ImageID:            "d32af696-5774-4936-8f09-e9f4cf069b31",
		Amount:             1,
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	stream, err := env.client.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: created.TaskID})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if e := first.GetEvent(); e.GetStatus() != stInit || len(e.GetResourceIds()) != 1 {
		t.Fatalf("got first event %v, want init over one server", e)
	}
	clk.advance(time.Minute + time.Second)
	rest, err := recvAll(stream.Recv)
	if err != nil {
		t.Fatalf("got end %v, want OK", err)
	}
	if len(rest) != 1 || rest[0].GetStatus() != stSucceed || !cmp.Equal(rest[0].GetResourceIds(), first.GetEvent().GetResourceIds()) {
		t.Errorf("got %v after the delay, want one succeed event over the same server", rest)
	}
}

// emulatorURL serves emu on its own test server, for calls the test makes
// directly, and returns its base URL.
func emulatorURL(t *testing.T, emu http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(emu)
	t.Cleanup(ts.Close)
	return ts.URL + "/gpubms/v1"
}

// togglingSource answers every DescribeTask with another non-terminal status
// (init, queued, init, ...), so that every poll is a change.
type togglingSource struct{ calls atomic.Int64 }

func (s *togglingSource) DescribeTask(context.Context, string) (watch.Task, error) {
	n := s.calls.Add(1)
	return watch.Task{Status: []string{"init", "queued"}[n%2]}, nil
}

// handlerStream is the server side of a stream whose Send the test plays.
type handlerStream[T any] struct {
	grpc.ServerStream
	ctx  context.Context
	send func(*T) error
}

func (s *handlerStream[T]) Context() context.Context { return s.ctx }
func (s *handlerStream[T]) Send(m *T) error          { return s.send(m) }

// TestWatchTasksCallerLeavesWithEventPending: the caller leaves while a
// forwarder holds an event it cannot hand over (the handler is busy sending
// the previous one, which still succeeds). The handler must return Canceled
// rather than wait forever for a task end that nobody will report.
func TestWatchTasksCallerLeavesWithEventPending(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	up, err := upstream.New("http://127.0.0.1:1/gpubms/v1", "AKID-test", upstream.Secret("test-secret"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		src := &togglingSource{}
		hub := watch.NewHub(src, watch.WithPollInterval(time.Millisecond), watch.WithJitter(0),
			watch.WithHeartbeat(0), watch.WithLogger(slog.New(slog.DiscardHandler)))
		svc := New(up, WithHub(hub))
		ctx, cancel := context.WithCancel(t.Context())
		sends := 0
		stream := &handlerStream[gpubmsv1.WatchTasksResponse]{ctx: ctx, send: func(*gpubmsv1.WatchTasksResponse) error {
			sends++
			if sends > 1 {
				return nil
			}
			// Newer events are published meanwhile; the forwarder takes
			// one and waits to hand it over.
			n := src.calls.Load()
			if !waitFor(func() bool { return src.calls.Load() >= n+2 }) {
				return errors.New("no new polls")
			}
			cancel()
			if !waitFor(func() bool { return hub.Stats().Watchers == 0 }) {
				return errors.New("the subscription did not end")
			}
			for range 100 {
				runtime.Gosched() // let the forwarder see the caller gone
			}
			return nil
		}}
		done := make(chan error, 1)
		go func() { done <- svc.WatchTasks(&gpubmsv1.WatchTasksRequest{TaskIds: []string{"a"}}, stream) }()
		select {
		case err := <-done:
			if status.Code(err) != codes.Canceled {
				t.Errorf("round %d: got %v, want Canceled", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: WatchTasks still running 10s after its caller left", i)
		}
		cancel()
		hub.Close()
	}
}

// TestWatchEndLogsInternal: a watch ended by the provider rejecting the
// server's credentials is logged at Error, as the same failure of a unary
// call is; a caller's unknown task is not.
func TestWatchEndLogsInternal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code     string
		want     codes.Code
		errorLog bool
	}{
		{upstream.CodeSignatureDoesNotMatch, codes.Internal, true},
		{upstream.CodeDataNotExists, codes.NotFound, false},
	}
	for _, tt := range tests {
		for _, rpc := range []string{"WatchTask", "WatchTasks"} {
			t.Run(tt.code+"/"+rpc, func(t *testing.T) {
				t.Parallel()
				prov := newFakeProvider(t, providerReply{status: 400, body: envelope(tt.code, "rejected", "rid-1")})
				up, err := upstream.New(prov.srv.URL+"/gpubms/v1", testKeyID, testSecret)
				if err != nil {
					t.Fatal(err)
				}
				hub := watch.NewHub(NewTaskSource(up), watch.WithLogger(slog.New(slog.DiscardHandler)))
				defer hub.Close()
				logs := &syncBuffer{}
				svc := New(up, WithHub(hub), WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
				if rpc == "WatchTask" {
					err = svc.WatchTask(&gpubmsv1.WatchTaskRequest{TaskId: "t1"}, &handlerStream[gpubmsv1.WatchTaskResponse]{
						ctx: testCtx(t), send: func(*gpubmsv1.WatchTaskResponse) error { return nil }})
				} else {
					err = svc.WatchTasks(&gpubmsv1.WatchTasksRequest{TaskIds: []string{"t1"}}, &handlerStream[gpubmsv1.WatchTasksResponse]{
						ctx: testCtx(t), send: func(*gpubmsv1.WatchTasksResponse) error { return nil }})
				}
				if status.Code(err) != tt.want {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				out := logs.String()
				if got := strings.Contains(out, `"level":"ERROR"`); got != tt.errorLog {
					t.Errorf("got Error-level log %v, want %v:\n%s", got, tt.errorLog, out)
				}
				if tt.errorLog && !strings.Contains(out, tt.code) {
					t.Errorf("log does not name the provider code %s:\n%s", tt.code, out)
				}
				if strings.Contains(out, testSecret) {
					t.Errorf("log leaks the secret:\n%s", out)
				}
			})
		}
	}
}
