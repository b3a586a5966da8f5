package gpubms_test

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/testing/protocmp"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// fakeNetworks is a NetworkService answering FindNetworks with a canned
// reply, or err, and recording the requests and their authorization.
type fakeNetworks struct {
	gpubmsv1.UnimplementedNetworkServiceServer

	err error

	mu   sync.Mutex
	reqs []*gpubmsv1.FindNetworksRequest
	auth []string
}

func (f *fakeNetworks) FindNetworks(ctx context.Context, req *gpubmsv1.FindNetworksRequest) (*gpubmsv1.FindNetworksResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.auth = append(f.auth, md.Get("authorization")...)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return &gpubmsv1.FindNetworksResponse{
		RegionId: req.GetRegionId(), RegionCode: "CN_Hohhot",
		Vpcs: []*gpubmsv1.NetworkChoice{{
			Vpc:     &gpubmsv1.Vpc{VpcId: "vpc-1", VpcName: "prod"},
			Subnets: []*gpubmsv1.Subnet{{SubnetId: "net-1", SubnetSegment: "10.15.1.0/24", VpcId: "vpc-1"}},
		}},
	}, nil
}

func (f *fakeNetworks) seen() ([]*gpubmsv1.FindNetworksRequest, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*gpubmsv1.FindNetworksRequest(nil), f.reqs...), append([]string(nil), f.auth...)
}

// serveBoth serves a GpuService and a NetworkService on one bufconn
// listener, as a gpubms server does on one port.
func serveBoth(t *testing.T, gpu gpubmsv1.GpuServiceServer, nets gpubmsv1.NetworkServiceServer) *bufconn.Listener {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	gpubmsv1.RegisterGpuServiceServer(srv, gpu)
	gpubmsv1.RegisterNetworkServiceServer(srv, nets)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		_ = lis.Close()
	})
	return lis
}

func bufconnDialer(lis *bufconn.Listener) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }
}

var wantNetworks = &gpubmsv1.FindNetworksResponse{
	RegionId: "CN_Hohhot_B", RegionCode: "CN_Hohhot",
	Vpcs: []*gpubmsv1.NetworkChoice{{
		Vpc:     &gpubmsv1.Vpc{VpcId: "vpc-1", VpcName: "prod"},
		Subnets: []*gpubmsv1.Subnet{{SubnetId: "net-1", SubnetSegment: "10.15.1.0/24", VpcId: "vpc-1"}},
	}},
}

// TestDialReachesNetworkService: a Client from Dial calls both services
// over its one connection, with the token on each.
func TestDialReachesNetworkService(t *testing.T) {
	t.Parallel()
	nets := &fakeNetworks{}
	lis := serveBoth(t, &fakeService{}, nets)
	c, err := gpubms.Dial(context.Background(), bufTarget, gpubms.WithInsecure(), gpubms.WithToken(token),
		gpubms.WithDialOptions(grpc.WithContextDialer(bufconnDialer(lis))))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })

	got, err := c.FindNetworks(context.Background(), &gpubmsv1.FindNetworksRequest{RegionId: "CN_Hohhot_B"})
	if err != nil {
		t.Fatalf("FindNetworks: %v", err)
	}
	if diff := cmp.Diff(wantNetworks, got, protocmp.Transform()); diff != "" {
		t.Errorf("FindNetworks (-want +got):\n%s", diff)
	}
	if _, err := c.DescribeGpuRegions(context.Background(), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Fatalf("DescribeGpuRegions on the same client: %v", err)
	}
	reqs, auth := nets.seen()
	if len(reqs) != 1 || reqs[0].GetRegionId() != "CN_Hohhot_B" {
		t.Errorf("FindNetworks requests: got %v, want one for CN_Hohhot_B", reqs)
	}
	if diff := cmp.Diff([]string{"Bearer " + token}, auth); diff != "" {
		t.Errorf("authorization on FindNetworks (-want +got):\n%s", diff)
	}
}

// TestNewClientReachesNetworkService: NewClient builds the NetworkService
// client on the caller's connection too.
func TestNewClientReachesNetworkService(t *testing.T) {
	t.Parallel()
	lis := serveBoth(t, &fakeService{}, &fakeNetworks{})
	conn, err := grpc.NewClient(bufTarget, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(bufconnDialer(lis)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := gpubms.NewClient(conn)
	got, err := c.FindNetworks(context.Background(), &gpubmsv1.FindNetworksRequest{RegionId: "CN_Hohhot_B"})
	if err != nil {
		t.Fatalf("FindNetworks: %v", err)
	}
	if diff := cmp.Diff(wantNetworks, got, protocmp.Transform()); diff != "" {
		t.Errorf("FindNetworks (-want +got):\n%s", diff)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	// The connection is still the caller's.
	if _, err := c.FindNetworks(context.Background(), &gpubmsv1.FindNetworksRequest{RegionId: "CN_Hohhot_B"}); err != nil {
		t.Errorf("FindNetworks after Close of a NewClient: %v", err)
	}
}

// TestFindNetworksIsNotRetried: FindNetworks is a read, so the mutation
// retries leave it alone: one Unavailable is the caller's to see.
func TestFindNetworksIsNotRetried(t *testing.T) {
	t.Parallel()
	nets := &fakeNetworks{err: status.Error(codes.Unavailable, "provider unreachable")}
	lis := serveBoth(t, &fakeService{}, nets)
	c, err := gpubms.Dial(context.Background(), bufTarget, gpubms.WithInsecure(),
		gpubms.WithDialOptions(grpc.WithContextDialer(bufconnDialer(lis))))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_, err = c.FindNetworks(context.Background(), &gpubmsv1.FindNetworksRequest{RegionId: "CN_Hohhot_B"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("FindNetworks: got %v, want Unavailable", err)
	}
	if reqs, _ := nets.seen(); len(reqs) != 1 {
		t.Errorf("FindNetworks calls: got %d, want 1", len(reqs))
	}
}
