package gpubms_test

import (
	"context"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// step is one move of a scripted stream: send an event, or end the stream
// (with err, nil meaning OK), or block until the caller leaves.
type step struct {
	ev    *gpubmsv1.TaskEvent
	err   error
	block bool
}

func send(ev *gpubmsv1.TaskEvent) step { return step{ev: ev} }
func fail(c codes.Code, msg string) step {
	return step{err: status.Error(c, msg)}
}
func endOK() step { return step{} }
func hang() step  { return step{block: true} }
func event(id, raw string, resources ...string) *gpubmsv1.TaskEvent {
	st := map[string]gpubmsv1.TaskStatus{
		"init":    gpubmsv1.TaskStatus_TASK_STATUS_INIT,
		"succeed": gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED,
		"failed":  gpubmsv1.TaskStatus_TASK_STATUS_FAILED,
	}[raw]
	return &gpubmsv1.TaskEvent{TaskId: id, Status: st, RawStatus: raw, ResourceIds: resources}
}

// answer is one scripted DescribeGpuTask reply.
type answer struct {
	resp *gpubmsv1.DescribeGpuTaskResponse
	err  error
}

func taskAnswer(raw string, resources ...string) answer {
	ev := event("", raw, resources...)
	return answer{resp: &gpubmsv1.DescribeGpuTaskResponse{Status: raw, TaskStatus: ev.Status, ResourceIds: resources}}
}

// fakeService is a GpuService that plays scripts: successive WatchTask
// attaches of a task play successive scripts (the last one repeats), and so
// do WatchTasks attaches and DescribeGpuTask answers. It records what it was
// asked.
type fakeService struct {
	gpubmsv1.UnimplementedGpuServiceServer

	// watchUnimplemented makes WatchTask and WatchTasks answer Unimplemented,
	// like a server from before watching existed.
	watchUnimplemented bool
	watch              map[string][][]step
	watchMany          [][]step
	tasks              map[string][]answer

	mu       sync.Mutex
	attaches map[string]int
	manyReqs [][]string
	polls    map[string]int
	regions  int
}

func (f *fakeService) DescribeGpuRegions(context.Context, *gpubmsv1.DescribeGpuRegionsRequest) (*gpubmsv1.DescribeGpuRegionsResponse, error) {
	f.mu.Lock()
	f.regions++
	f.mu.Unlock()
	return &gpubmsv1.DescribeGpuRegionsResponse{Regions: []*gpubmsv1.Region{{RegionId: "CN_Hohhot_B", RegionName: "Hohhot B"}}}, nil
}

func (f *fakeService) DescribeGpuTask(_ context.Context, req *gpubmsv1.DescribeGpuTaskRequest) (*gpubmsv1.DescribeGpuTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.polls == nil {
		f.polls = map[string]int{}
	}
	n := f.polls[req.GetTaskId()]
	f.polls[req.GetTaskId()]++
	script := f.tasks[req.GetTaskId()]
	if len(script) == 0 {
		return nil, status.Error(codes.NotFound, "task "+req.GetTaskId()+" not found")
	}
	a := script[min(n, len(script)-1)]
	return a.resp, a.err
}

func (f *fakeService) WatchTask(req *gpubmsv1.WatchTaskRequest, stream grpc.ServerStreamingServer[gpubmsv1.WatchTaskResponse]) error {
	if f.watchUnimplemented {
		return status.Error(codes.Unimplemented, "method WatchTask not implemented")
	}
	f.mu.Lock()
	if f.attaches == nil {
		f.attaches = map[string]int{}
	}
	scripts := f.watch[req.GetTaskId()]
	n := f.attaches[req.GetTaskId()]
	f.attaches[req.GetTaskId()]++
	f.mu.Unlock()
	if len(scripts) == 0 {
		return status.Error(codes.NotFound, "task "+req.GetTaskId()+" not found")
	}
	return play(stream.Context(), scripts[min(n, len(scripts)-1)], func(ev *gpubmsv1.TaskEvent) error {
		return stream.Send(&gpubmsv1.WatchTaskResponse{Event: ev})
	})
}

func (f *fakeService) WatchTasks(req *gpubmsv1.WatchTasksRequest, stream grpc.ServerStreamingServer[gpubmsv1.WatchTasksResponse]) error {
	if f.watchUnimplemented {
		return status.Error(codes.Unimplemented, "method WatchTasks not implemented")
	}
	f.mu.Lock()
	n := len(f.manyReqs)
	f.manyReqs = append(f.manyReqs, req.GetTaskIds())
	f.mu.Unlock()
	return play(stream.Context(), f.watchMany[min(n, len(f.watchMany)-1)], func(ev *gpubmsv1.TaskEvent) error {
		return stream.Send(&gpubmsv1.WatchTasksResponse{Event: ev})
	})
}

func play(ctx context.Context, script []step, send func(*gpubmsv1.TaskEvent) error) error {
	for _, s := range script {
		switch {
		case s.ev != nil:
			if err := send(s.ev); err != nil {
				return err
			}
		case s.block:
			<-ctx.Done()
			return status.FromContextError(ctx.Err()).Err()
		default:
			return s.err
		}
	}
	return nil
}

func (f *fakeService) attachCount(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attaches[id]
}

func (f *fakeService) pollCount(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.polls[id]
}

func (f *fakeService) watchManyRequests() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.manyReqs...)
}

// testServer serves a GpuService over bufconn and records the authorization
// and user agent metadata of every call.
type testServer struct {
	lis *bufconn.Listener
	srv *grpc.Server

	mu         sync.Mutex
	auth       []string
	userAgents []string
}

// startServer serves svc until stop is called. opts are extra server options
// (TLS credentials).
func startServer(svc gpubmsv1.GpuServiceServer, opts ...grpc.ServerOption) *testServer {
	ts := &testServer{lis: bufconn.Listen(1 << 20)}
	opts = append(opts,
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			ts.record(ctx)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			ts.record(ss.Context())
			return h(srv, ss)
		}),
	)
	ts.srv = grpc.NewServer(opts...)
	gpubmsv1.RegisterGpuServiceServer(ts.srv, svc)
	go func() { _ = ts.srv.Serve(ts.lis) }()
	return ts
}

func (ts *testServer) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.auth = append(ts.auth, md.Get("authorization")...)
	ts.userAgents = append(ts.userAgents, md.Get("user-agent")...)
}

func (ts *testServer) seen() (auth, userAgents []string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.auth...), append([]string(nil), ts.userAgents...)
}

// dialer is the option that routes Dial to the in-process listener.
func (ts *testServer) dialer() gpubms.Option {
	return gpubms.WithDialOptions(grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return ts.lis.DialContext(ctx)
	}))
}

func (ts *testServer) stop() {
	ts.srv.Stop()
	_ = ts.lis.Close()
}

// bufTarget is the target for bufconn: passthrough skips DNS.
const bufTarget = "passthrough:///bufnet"

// bufDialer dials the in-process listener, for callers of grpc.NewClient.
func bufDialer(ts *testServer) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, _ string) (net.Conn, error) { return ts.lis.DialContext(ctx) }
}
