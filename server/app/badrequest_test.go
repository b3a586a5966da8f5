package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server"
	"github.com/gpubms/gpubms/server/auth"
	"github.com/gpubms/gpubms/server/upstream"
)

// TestBadRequestNamesFields: every validation failure, rules over two fields
// included, comes back as InvalidArgument with a google.rpc.BadRequest naming
// the field, and nothing reaches the provider.
func TestBadRequestNamesFields(t *testing.T) {
	var provider atomic.Int64
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		provider.Add(1)
		http.Error(w, "unexpected", http.StatusTeapot)
	}))
	t.Cleanup(ps.Close)
	up, err := upstream.New(ps.URL, "AKID", "secret")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	authn, err := auth.New(auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d := &door{authn: authn}
	gs, _, _, err := newGRPCServer(logger, LogCallsAll, nil, d, newLimits(0, 0, 0), nil, DefaultHTTPMaxBodyBytes, noop.NewTracerProvider(), false)
	if err != nil {
		t.Fatal(err)
	}
	gpubmsv1.RegisterGpuServiceServer(gs, server.New(up))
	d.roles = methodRoles(gs)
	ln := bufconn.Listen(1 << 20)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := gpubmsv1.NewGpuServiceClient(conn)

	create := func(edit func(*gpubmsv1.CreateGpuInstanceRequest)) *gpubmsv1.CreateGpuInstanceRequest {
		r := &gpubmsv1.CreateGpuInstanceRequest{
			RegionId: "CN_Hohhot_B", GoodsId: 7685, ComputeId: "c1", ImageId: "i1",
			InstanceChargeType: "PostPaid", InstanceName: "train", Password: "Example-passw0rd", Amount: 1,
			VpcNetwork: &gpubmsv1.VpcNetwork{VpcId: "v1", NetId: "n1"},
		}
		edit(r)
		return r
	}
	tests := []struct {
		name string
		call func(context.Context) error
		want []string
	}{
		{"field rule", func(ctx context.Context) error {
			_, err := c.CreateGpuInstance(ctx, create(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.Amount = 0 }))
			return err
		}, []string{"amount"}},
		{"list item", func(ctx context.Context) error {
			_, err := c.DeleteGpuInstances(ctx, &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: []string{"ok", "bad/id"}})
			return err
		}, []string{"resource_ids[1]"}},
		{"partition sizes must pair", func(ctx context.Context) error {
			_, err := c.CreateGpuInstance(ctx, create(func(r *gpubmsv1.CreateGpuInstanceRequest) {
				r.CustomPartition = []string{"/", "swap"}
				r.CustomPartitionSize = []int32{100}
			}))
			return err
		}, []string{"custom_partition_size"}},
		{"nested message rule", func(ctx context.Context) error {
			_, err := c.CreateGpuInstance(ctx, create(func(r *gpubmsv1.CreateGpuInstanceRequest) {
				r.VpcNetwork.EipIdList = []string{"e1"}
			}))
			return err
		}, []string{"vpc_network.eip_id_list"}},
		{"public images need a compute", func(ctx context.Context) error {
			_, err := c.DescribeGpuImage(ctx, &gpubmsv1.DescribeGpuImageRequest{RegionId: "CN_Hohhot_B", ImageType: "public"})
			return err
		}, []string{"compute_id"}},
		{"stream request", func(ctx context.Context) error {
			s, err := c.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: "t1:watch"})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, []string{"task_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t.Context())
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("code = %v (%v), want InvalidArgument", st.Code(), err)
			}
			var got []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, fv := range br.GetFieldViolations() {
						got = append(got, fv.GetField())
						if fv.GetDescription() == "" {
							t.Errorf("field %s: empty description", fv.GetField())
						}
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("BadRequest fields (-want +got):\n%s", diff)
			}
		})
	}
	if n := provider.Load(); n != 0 {
		t.Errorf("provider saw %d requests, want 0", n)
	}
}

// TestWithBadRequestLeavesOthers: errors other than validation failures
// pass through untouched.
func TestWithBadRequestLeavesOthers(t *testing.T) {
	for _, err := range []error{
		nil,
		io.EOF,
		status.Error(codes.NotFound, "nope"),
		status.Error(codes.InvalidArgument, "no details"),
	} {
		if got := withBadRequest(err); got != err && !proto.Equal(status.Convert(got).Proto(), status.Convert(err).Proto()) {
			t.Errorf("withBadRequest(%v) = %v, want it unchanged", err, got)
		}
	}
}
