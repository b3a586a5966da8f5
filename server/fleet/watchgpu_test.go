package fleet

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/store"
	"github.com/gpubms/gpubms/server/upstream"
	"github.com/gpubms/gpubms/server/watch"
)

// creating is a server that stays creating.
type creating struct{}

func (creating) DescribeGpuDetail(context.Context, *upstream.DescribeGpuDetailRequest) (*upstream.DescribeGpuDetailData, error) {
	return &upstream.DescribeGpuDetailData{State: "creating"}, nil
}

// TestWatchGpuCallerLeaves: a WatchGpu stream whose caller cancels ends
// with Canceled, and the server lets go of its subscription, so the
// server's poller stops.
func TestWatchGpuCallerLeaves(t *testing.T) {
	t.Parallel()
	hub := watch.NewHub(NewServerSource(creating{}, func(_ string, err error) *status.Status { return status.Convert(err) }),
		watch.WithTerminal(ServerGone))
	t.Cleanup(hub.Close)
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	gs := grpc.NewServer()
	gpubmsv1.RegisterFleetServiceServer(gs, New(st, WithServerHub(hub)))
	lis := bufconn.Listen(1 << 20)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///fleet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := gpubmsv1.NewFleetServiceClient(conn).WatchGpu(ctx, &gpubmsv1.WatchGpuRequest{ResourceId: "gpu-1"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.GetEvent().GetState() != gpubmsv1.GpuState_GPU_STATE_CREATING {
		t.Fatalf("first event %v, %v; want creating", m, err)
	}
	if hub.Stats() != (watch.Stats{Tasks: 1, Watchers: 1}) {
		t.Fatalf("hub %+v with the stream open, want one server, one watcher", hub.Stats())
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("after cancel: %v, want Canceled", err)
	}
	for deadline := time.Now().Add(5 * time.Second); hub.Stats() != (watch.Stats{}); {
		if time.Now().After(deadline) {
			t.Fatalf("hub %+v after the caller left, want nothing", hub.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
