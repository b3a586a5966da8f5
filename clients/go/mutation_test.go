package gpubms_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// mutationService answers the mutating RPCs and DescribeGpu: successive
// calls (of any of them) take the successive errors of script, and succeed
// once it runs out. It records the request_id of each call ("-" for none)
// and whether a read carried fields it does not know.
type mutationService struct {
	gpubmsv1.UnimplementedGpuServiceServer

	mu      sync.Mutex
	script  []error
	ids     []string
	unknown bool
}

func (f *mutationService) next(req proto.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := "-"
	if r, ok := req.(interface{ GetRequestId() string }); ok && r.GetRequestId() != "" {
		id = r.GetRequestId()
	}
	f.ids = append(f.ids, id)
	if len(req.ProtoReflect().GetUnknown()) > 0 {
		f.unknown = true
	}
	n := len(f.ids) - 1
	if n < len(f.script) {
		return f.script[n]
	}
	return nil
}

func (f *mutationService) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...)
}

func (f *mutationService) CreateGpuInstance(_ context.Context, req *gpubmsv1.CreateGpuInstanceRequest) (*gpubmsv1.CreateGpuInstanceResponse, error) {
	if err := f.next(req); err != nil {
		return nil, err
	}
	if req.GetValidateOnly() {
		return &gpubmsv1.CreateGpuInstanceResponse{Validation: &gpubmsv1.Validation{
			Quote: &gpubmsv1.Quote{TradeAmount: "1332.00", UnitPrice: "666.00", Currency: "CN"},
		}}, nil
	}
	return &gpubmsv1.CreateGpuInstanceResponse{TaskId: "task-create"}, nil
}

func (f *mutationService) ReinstallGpu(_ context.Context, req *gpubmsv1.ReinstallGpuRequest) (*gpubmsv1.ReinstallGpuResponse, error) {
	if err := f.next(req); err != nil {
		return nil, err
	}
	return &gpubmsv1.ReinstallGpuResponse{TaskIds: []string{"task-reinstall"}}, nil
}

func (f *mutationService) OperateGpuPower(_ context.Context, req *gpubmsv1.OperateGpuPowerRequest) (*gpubmsv1.OperateGpuPowerResponse, error) {
	if err := f.next(req); err != nil {
		return nil, err
	}
	return &gpubmsv1.OperateGpuPowerResponse{TaskIds: []string{"task-power"}, ResourceIds: req.GetResourceIds()}, nil
}

func (f *mutationService) DeleteGpuInstances(_ context.Context, req *gpubmsv1.DeleteGpuInstancesRequest) (*gpubmsv1.DeleteGpuInstancesResponse, error) {
	if err := f.next(req); err != nil {
		return nil, err
	}
	return &gpubmsv1.DeleteGpuInstancesResponse{}, nil
}

func (f *mutationService) DescribeGpu(_ context.Context, req *gpubmsv1.DescribeGpuRequest) (*gpubmsv1.DescribeGpuResponse, error) {
	if err := f.next(req); err != nil {
		return nil, err
	}
	return &gpubmsv1.DescribeGpuResponse{TotalCount: 1}, nil
}

// fastRetries keeps the tests' pauses short.
var fastRetries = gpubms.WithMutationBackoff(time.Millisecond, 5*time.Millisecond)

func unavailable() error { return status.Error(codes.Unavailable, "server restarting") }

// outcomeUnknownErr is the server's answer to a repeated create whose
// first call lost its reply.
func outcomeUnknownErr(t *testing.T, resources ...string) error {
	t.Helper()
	st, err := status.New(codes.FailedPrecondition, "CreateGpuInstance: the call may have reached the provider").
		WithDetails(&errdetails.ErrorInfo{Reason: gpubms.ReasonRequestOutcomeUnknown, Domain: "gpubms.v1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resources {
		if st, err = st.WithDetails(&errdetails.ResourceInfo{ResourceType: "gpubms.v1.Gpu", ResourceName: r}); err != nil {
			t.Fatal(err)
		}
	}
	return st.Err()
}

func TestMutationsGetARequestID(t *testing.T) {
	t.Parallel()
	svc := &mutationService{}
	c, _ := newClient(t, svc)
	ctx := context.Background()
	reqs := []proto.Message{
		&gpubmsv1.CreateGpuInstanceRequest{RegionId: "R1"},
		&gpubmsv1.ReinstallGpuRequest{ResourceId: "gpu-001"},
		&gpubmsv1.OperateGpuPowerRequest{Operate: "stop", ResourceIds: []string{"gpu-001"}},
		&gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: []string{"gpu-001"}},
	}
	var err error
	for _, req := range reqs {
		switch r := req.(type) {
		case *gpubmsv1.CreateGpuInstanceRequest:
			_, err = c.CreateGpuInstance(ctx, r)
		case *gpubmsv1.ReinstallGpuRequest:
			_, err = c.ReinstallGpu(ctx, r)
		case *gpubmsv1.OperateGpuPowerRequest:
			_, err = c.OperateGpuPower(ctx, r)
		case *gpubmsv1.DeleteGpuInstancesRequest:
			_, err = c.DeleteGpuInstances(ctx, r)
		}
		if err != nil {
			t.Fatalf("%T: %v", req, err)
		}
	}
	seen := svc.seen()
	if len(seen) != len(reqs) {
		t.Fatalf("calls: got %d, want %d", len(seen), len(reqs))
	}
	distinct := map[string]bool{}
	for i, id := range seen {
		if _, err := uuid.Parse(id); err != nil {
			t.Errorf("%T: request_id %q is not a UUID: %v", reqs[i], id, err)
		}
		if got := gpubms.RequestID(reqs[i]); got != id {
			t.Errorf("%T: RequestID of the caller's message: got %q, want the id sent, %q", reqs[i], got, id)
		}
		distinct[id] = true
	}
	if len(distinct) != len(reqs) {
		t.Errorf("request ids: got %v, want a different one per request", seen)
	}
}

func TestMutationKeepsTheCallersRequestID(t *testing.T) {
	t.Parallel()
	svc := &mutationService{}
	c, _ := newClient(t, svc)
	req := &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: []string{"gpu-001"}, RequestId: gpubms.Ptr("my-id_1")}
	if _, err := c.DeleteGpuInstances(context.Background(), req); err != nil {
		t.Fatalf("DeleteGpuInstances: %v", err)
	}
	if diff := cmp.Diff([]string{"my-id_1"}, svc.seen()); diff != "" {
		t.Errorf("request ids (-want +got):\n%s", diff)
	}
}

// TestRepeatingAMessageRepeatsItsRequestID: the id is written into the
// caller's message, so the caller's own retry is the same request.
func TestRepeatingAMessageRepeatsItsRequestID(t *testing.T) {
	t.Parallel()
	svc := &mutationService{script: []error{status.Error(codes.FailedPrecondition, "server gpu-001 is stopping")}}
	c, _ := newClient(t, svc)
	req := &gpubmsv1.OperateGpuPowerRequest{Operate: "start", ResourceIds: []string{"gpu-001"}}
	if _, err := c.OperateGpuPower(context.Background(), req); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("first OperateGpuPower: got %v, want FailedPrecondition", err)
	}
	if _, err := c.OperateGpuPower(context.Background(), req); err != nil {
		t.Fatalf("second OperateGpuPower: %v", err)
	}
	seen := svc.seen()
	if len(seen) != 2 || seen[0] != seen[1] || seen[0] != gpubms.RequestID(req) {
		t.Errorf("request ids: got %v, want the message's id %q twice", seen, gpubms.RequestID(req))
	}
}

func TestMutationRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		script    func(t *testing.T) []error
		opts      []gpubms.Option
		wantCalls int
		wantCode  codes.Code
		wantMsg   string // a substring of the error's message
	}{
		{
			name:      "unavailable twice, then success",
			script:    func(*testing.T) []error { return []error{unavailable(), unavailable()} },
			wantCalls: 3, wantCode: codes.OK,
		},
		{
			name:      "unknown, then success",
			script:    func(*testing.T) []error { return []error{status.Error(codes.Unknown, "reply lost")} },
			wantCalls: 2, wantCode: codes.OK,
		},
		{
			name: "unavailable every time: 4 attempts",
			script: func(*testing.T) []error {
				return []error{unavailable(), unavailable(), unavailable(), unavailable(), unavailable()}
			},
			wantCalls: 4, wantCode: codes.Unavailable, wantMsg: "gave up after 4 attempts: server restarting",
		},
		{
			name:      "WithMutationRetries(1): 2 attempts",
			script:    func(*testing.T) []error { return []error{unavailable(), unavailable(), unavailable()} },
			opts:      []gpubms.Option{gpubms.WithMutationRetries(1)},
			wantCalls: 2, wantCode: codes.Unavailable, wantMsg: "gave up after 2 attempts",
		},
		{
			name:      "retries off",
			script:    func(*testing.T) []error { return []error{unavailable()} },
			opts:      []gpubms.Option{gpubms.WithMutationRetries(0)},
			wantCalls: 1, wantCode: codes.Unavailable, wantMsg: "server restarting",
		},
		{
			name:      "failed precondition: no retry",
			script:    func(*testing.T) []error { return []error{status.Error(codes.FailedPrecondition, "server is stopping")} },
			wantCalls: 1, wantCode: codes.FailedPrecondition, wantMsg: "server is stopping",
		},
		{
			name:      "outcome unknown: no retry",
			script:    func(t *testing.T) []error { return []error{outcomeUnknownErr(t, "gpu-101")} },
			wantCalls: 1, wantCode: codes.FailedPrecondition,
		},
		{
			name: "unknown, then outcome unknown: stops there",
			script: func(t *testing.T) []error {
				return []error{status.Error(codes.Unknown, "reply lost"), outcomeUnknownErr(t, "gpu-101")}
			},
			wantCalls: 2, wantCode: codes.FailedPrecondition, wantMsg: "attempt 2: CreateGpuInstance",
		},
		{
			name:      "invalid argument: no retry",
			script:    func(*testing.T) []error { return []error{status.Error(codes.InvalidArgument, "amount")} },
			wantCalls: 1, wantCode: codes.InvalidArgument,
		},
		{
			name:      "resource exhausted: no retry",
			script:    func(*testing.T) []error { return []error{status.Error(codes.ResourceExhausted, "rate limit")} },
			wantCalls: 1, wantCode: codes.ResourceExhausted,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := &mutationService{script: tt.script(t)}
			c, _ := newClient(t, svc, append([]gpubms.Option{fastRetries}, tt.opts...)...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			req := &gpubmsv1.CreateGpuInstanceRequest{RegionId: "R1"}
			resp, err := c.CreateGpuInstance(ctx, req)

			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("CreateGpuInstance: got %v, want code %v", err, tt.wantCode)
			}
			if err == nil && resp.GetTaskId() != "task-create" {
				t.Errorf("reply: got %v, want task-create", resp)
			}
			if err != nil && !strings.Contains(status.Convert(err).Message(), tt.wantMsg) {
				t.Errorf("message: got %q, want it to contain %q", status.Convert(err).Message(), tt.wantMsg)
			}
			seen := svc.seen()
			if len(seen) != tt.wantCalls {
				t.Errorf("attempts: got %d, want %d", len(seen), tt.wantCalls)
			}
			for _, id := range seen {
				if id != gpubms.RequestID(req) || id == "" {
					t.Errorf("request ids: got %v, want %q on every attempt", seen, gpubms.RequestID(req))
					break
				}
			}
		})
	}
}

// TestOutcomeUnknownKeepsItsDetails: after retries, the annotated error
// still carries the reason and the servers, for OutcomeUnknown.
func TestOutcomeUnknownKeepsItsDetails(t *testing.T) {
	t.Parallel()
	svc := &mutationService{script: []error{status.Error(codes.Unknown, "reply lost"), outcomeUnknownErr(t, "gpu-101", "gpu-102")}}
	c, _ := newClient(t, svc, fastRetries)
	_, err := c.CreateGpuInstance(context.Background(), &gpubmsv1.CreateGpuInstanceRequest{RegionId: "R1"})
	ids, ok := gpubms.OutcomeUnknown(err)
	if !ok {
		t.Fatalf("OutcomeUnknown(%v): got false, want true", err)
	}
	if diff := cmp.Diff([]string{"gpu-101", "gpu-102"}, ids); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	for _, other := range []error{nil, unavailable(), status.Error(codes.FailedPrecondition, "stopping")} {
		if _, ok := gpubms.OutcomeUnknown(other); ok {
			t.Errorf("OutcomeUnknown(%v): got true, want false", other)
		}
	}
}

// TestMutationRetriesStopAtTheDeadline: with pauses up to a second and a
// deadline of 150ms, the call returns by the deadline (give or take one
// attempt) rather than after the pause.
func TestMutationRetriesStopAtTheDeadline(t *testing.T) {
	t.Parallel()
	script := make([]error, 1000)
	for i := range script {
		script[i] = unavailable()
	}
	svc := &mutationService{script: script}
	c, _ := newClient(t, svc, gpubms.WithMutationRetries(999), gpubms.WithMutationBackoff(time.Second, time.Second))
	const deadline = 150 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()

	start := time.Now()
	_, err := c.OperateGpuPower(ctx, &gpubmsv1.OperateGpuPowerRequest{Operate: "stop", ResourceIds: []string{"gpu-001"}})
	elapsed := time.Since(start)

	if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
		t.Errorf("OperateGpuPower: got %v, want Unavailable (the last attempt's) or DeadlineExceeded", err)
	}
	if elapsed > deadline+500*time.Millisecond {
		t.Errorf("returned after %v, want about the %v deadline", elapsed, deadline)
	}
	if n := len(svc.seen()); n < 1 || n >= 1000 {
		t.Errorf("attempts: got %d", n)
	}
}

// TestMutationRetriesStopWhenCancelled: cancelling during a long pause
// ends the call at once, with the last attempt's error.
func TestMutationRetriesStopWhenCancelled(t *testing.T) {
	t.Parallel()
	svc := &mutationService{script: []error{unavailable(), unavailable()}}
	c, _ := newClient(t, svc, gpubms.WithMutationBackoff(10*time.Second, 10*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := time.AfterFunc(100*time.Millisecond, cancel)
	defer stop.Stop()

	start := time.Now()
	_, err := c.DeleteGpuInstances(ctx, &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: []string{"gpu-001"}})

	if code := status.Code(err); code != codes.Unavailable && code != codes.Canceled {
		t.Errorf("DeleteGpuInstances: got %v, want Unavailable or Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("returned after %v, want soon after the cancel", elapsed)
	}
}

func TestReadsAreNotRetriedNorGivenARequestID(t *testing.T) {
	t.Parallel()
	svc := &mutationService{script: []error{unavailable(), unavailable()}}
	c, _ := newClient(t, svc, fastRetries)
	req := &gpubmsv1.DescribeGpuRequest{Name: "web"}
	if _, err := c.DescribeGpu(context.Background(), req); status.Code(err) != codes.Unavailable {
		t.Fatalf("DescribeGpu: got %v, want Unavailable, not retried", err)
	}
	if diff := cmp.Diff([]string{"-"}, svc.seen()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if svc.unknown {
		t.Error("the read carried fields the server does not know")
	}
	if id := gpubms.RequestID(req); id != "" {
		t.Errorf("RequestID of a read: got %q, want none", id)
	}
}

func TestRequestIDHelpers(t *testing.T) {
	t.Parallel()
	if got := gpubms.RequestID(nil); got != "" {
		t.Errorf("RequestID(nil): got %q", got)
	}
	if got := gpubms.EnsureRequestID(&gpubmsv1.DescribeGpuTaskRequest{TaskId: "t1"}); got != "" {
		t.Errorf("EnsureRequestID of a read: got %q, want \"\"", got)
	}
	req := &gpubmsv1.ReinstallGpuRequest{RequestId: gpubms.Ptr("")}
	id := gpubms.EnsureRequestID(req)
	if _, err := uuid.Parse(id); err != nil || req.GetRequestId() != id {
		t.Errorf("EnsureRequestID of an empty id: got %q (message %q), want a UUID written into the message", id, req.GetRequestId())
	}
	if again := gpubms.EnsureRequestID(req); again != id {
		t.Errorf("EnsureRequestID again: got %q, want %q kept", again, id)
	}
}

// TestMutationInterceptorWithNewClient: a caller's own connection gets
// the same behaviour from MutationInterceptor.
func TestMutationInterceptorWithNewClient(t *testing.T) {
	t.Parallel()
	svc := &mutationService{script: []error{unavailable()}}
	ts := startServer(svc)
	t.Cleanup(ts.stop)
	conn, err := grpc.NewClient(bufTarget, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ts.lis.DialContext(ctx) }),
		grpc.WithChainUnaryInterceptor(gpubms.MutationInterceptor(fastRetries)))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	defer conn.Close()
	c := gpubms.NewClient(conn)
	req := &gpubmsv1.CreateGpuInstanceRequest{RegionId: "R1"}
	if _, err := c.CreateGpuInstance(context.Background(), req); err != nil {
		t.Fatalf("CreateGpuInstance: %v", err)
	}
	id := gpubms.RequestID(req)
	if diff := cmp.Diff([]string{id, id}, svc.seen()); diff != "" || id == "" {
		t.Errorf("request ids (-want +got):\n%s", diff)
	}
}

// TestDryRunsAreRetriedWithoutAnID: a validate_only request changes
// nothing, so it is retried, but gets no id of its own; the real call made
// with the same message afterwards gets one.
func TestDryRunsAreRetriedWithoutAnID(t *testing.T) {
	t.Parallel()
	svc := &mutationService{script: []error{unavailable()}}
	c, _ := newClient(t, svc, fastRetries)
	req := &gpubmsv1.CreateGpuInstanceRequest{RegionId: "R1", ValidateOnly: true}
	resp, err := c.CreateGpuInstance(context.Background(), req)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if got := resp.GetValidation().GetQuote().GetTradeAmount(); got != "1332.00" {
		t.Errorf("quote: got %q, want 1332.00", got)
	}
	if gpubms.RequestID(req) != "" {
		t.Errorf("dry run: got request_id %q written into the message, want none", gpubms.RequestID(req))
	}
	req.ValidateOnly = false
	if _, err := c.CreateGpuInstance(context.Background(), req); err != nil {
		t.Fatalf("create: %v", err)
	}
	id := gpubms.RequestID(req)
	if diff := cmp.Diff([]string{"-", "-", id}, svc.seen()); diff != "" || id == "" {
		t.Errorf("request ids (-want +got):\n%s", diff)
	}
}
