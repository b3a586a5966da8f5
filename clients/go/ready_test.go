package gpubms_test

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// fakeFleet answers WatchGpu from a script: one entry per call, the states
// to send and the status to end with.
type fakeFleet struct {
	gpubmsv1.UnimplementedFleetServiceServer
	mu     sync.Mutex
	calls  int
	script []struct {
		states []gpubmsv1.GpuState
		err    error
	}
}

func (f *fakeFleet) WatchGpu(req *gpubmsv1.WatchGpuRequest, s grpc.ServerStreamingServer[gpubmsv1.WatchGpuResponse]) error {
	f.mu.Lock()
	step := f.script[min(f.calls, len(f.script)-1)]
	f.calls++
	f.mu.Unlock()
	for _, st := range step.states {
		if err := s.Send(&gpubmsv1.WatchGpuResponse{Event: &gpubmsv1.GpuEvent{ResourceId: req.GetResourceId(), State: st}}); err != nil {
			return err
		}
	}
	return step.err
}

func fleetClient(t *testing.T, f *fakeFleet) *gpubms.Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	gpubmsv1.RegisterFleetServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet", grpc.WithContextDialer(bufconnDialer(lis)),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		_ = lis.Close()
	})
	return gpubms.NewClient(conn)
}

// TestWaitGpu: WaitGpu attaches again after Unavailable and after a stream
// that ended before until, and passes any other refusal on at once.
func TestWaitGpu(t *testing.T) {
	t.Parallel()
	type step = struct {
		states []gpubmsv1.GpuState
		err    error
	}
	running, stopping := gpubmsv1.GpuState_GPU_STATE_RUNNING, gpubmsv1.GpuState_GPU_STATE_STOPPING
	fast := gpubms.WithBackoff(time.Millisecond, 5*time.Millisecond)

	f := &fakeFleet{script: []step{
		{nil, status.Error(codes.Unavailable, "restarting")},
		{[]gpubmsv1.GpuState{stopping}, nil}, // the server's maximum watch time
		{[]gpubmsv1.GpuState{stopping, running}, nil},
	}}
	ev, err := fleetClient(t, f).WaitGpu(t.Context(), "gpu-1", running, fast)
	if err != nil || ev.GetState() != running || f.calls != 3 {
		t.Fatalf("WaitGpu: %v, %v after %d calls; want running after 3", ev, err, f.calls)
	}

	f = &fakeFleet{script: []step{{[]gpubmsv1.GpuState{gpubmsv1.GpuState_GPU_STATE_GONE}, status.Error(codes.FailedPrecondition, "gone")}}}
	_, err = fleetClient(t, f).WaitGpu(t.Context(), "gpu-1", running, fast)
	if status.Code(err) != codes.FailedPrecondition || f.calls != 1 {
		t.Errorf("hopeless: %v after %d calls, want FailedPrecondition after 1", err, f.calls)
	}

	f = &fakeFleet{script: []step{{nil, status.Error(codes.Unavailable, "down")}}}
	_, err = fleetClient(t, f).WaitGpu(t.Context(), "gpu-1", running, fast, gpubms.WithMaxAttempts(3))
	if status.Code(err) != codes.Unavailable || f.calls != 4 {
		t.Errorf("always unavailable: %v after %d calls, want Unavailable after 4 (3 retries)", err, f.calls)
	}
}
