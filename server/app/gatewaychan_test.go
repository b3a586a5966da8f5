package app

import (
	"context"
	"testing"

	"github.com/fullstorydev/grpchan/inprocgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

type callerValueKey struct{}

// chanService answers DescribeGpuDetail with what it saw of the call.
type chanService struct {
	gpubmsv1.UnimplementedGpuServiceServer
	sawValue   bool
	sawMD      []string
	sawPeer    string
	intercepts int
}

func (s *chanService) DescribeGpuDetail(ctx context.Context, req *gpubmsv1.DescribeGpuDetailRequest) (*gpubmsv1.DescribeGpuDetailResponse, error) {
	s.sawValue = ctx.Value(callerValueKey{}) != nil
	s.sawMD = metadata.ValueFromIncomingContext(ctx, "x-test")
	if p, ok := peer.FromContext(ctx); ok && p.AuthInfo != nil {
		s.sawPeer = p.AuthInfo.AuthType()
	}
	switch req.GetResourceId() {
	case "fail":
		return nil, status.Error(codes.NotFound, "no such server")
	case "nothing":
		return nil, nil
	}
	req.ResourceId = "changed by the handler"
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-header", "h"))
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t"))
	return &gpubmsv1.DescribeGpuDetailResponse{ResourceId: "gpu-1", Name: "n"}, nil
}

// TestGatewayChannelUnary: a unary call through the gateway's channel runs
// the interceptor, gives the handler a copy of the request and none of the
// caller's context values, its metadata as incoming and the in-process
// peer, and brings back a copy of the reply, the headers, the trailers and
// the handler's error.
func TestGatewayChannelUnary(t *testing.T) {
	svc := &chanService{}
	unary := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		svc.intercepts++
		return handler(ctx, req)
	}
	c := newGatewayChannel(new(inprocgrpc.Channel).WithServerUnaryInterceptor(unary), unary, true)
	c.RegisterService(&gpubmsv1.GpuService_ServiceDesc, svc)
	client := gpubmsv1.NewGpuServiceClient(c)

	ctx := metadata.AppendToOutgoingContext(context.WithValue(t.Context(), callerValueKey{}, 1), "x-test", "v")
	req := &gpubmsv1.DescribeGpuDetailRequest{ResourceId: "gpu-1"}
	var header, trailer metadata.MD
	resp, err := client.DescribeGpuDetail(ctx, req, grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetResourceId() != "gpu-1" || resp.GetName() != "n" {
		t.Errorf("reply %v, want gpu-1 named n", resp)
	}
	if req.GetResourceId() != "gpu-1" {
		t.Errorf("the caller's request was changed to %q: the handler must get a copy", req.GetResourceId())
	}
	if svc.intercepts != 1 {
		t.Errorf("the interceptor ran %d times, want 1", svc.intercepts)
	}
	if svc.sawValue {
		t.Error("the handler saw a value of the caller's context")
	}
	if len(svc.sawMD) != 1 || svc.sawMD[0] != "v" {
		t.Errorf("the handler saw x-test %q, want [v]", svc.sawMD)
	}
	if svc.sawPeer != "inproc" || !fromGateway(gatewayPeerInfo.AuthInfo) {
		t.Errorf("the handler's peer says %q, want the gateway's (inproc)", svc.sawPeer)
	}
	if got := header.Get("x-header"); len(got) != 1 || got[0] != "h" {
		t.Errorf("header x-header %q, want [h]", got)
	}
	if got := trailer.Get("x-trailer"); len(got) != 1 || got[0] != "t" {
		t.Errorf("trailer x-trailer %q, want [t]", got)
	}

	_, err = client.DescribeGpuDetail(ctx, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: "fail"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("error %v, want the handler's NotFound", err)
	}

	_, err = client.DescribeGpuDetail(ctx, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: "nothing"})
	if status.Code(err) != codes.Internal {
		t.Errorf("a handler that returned neither reply nor error: %v, want Internal", err)
	}

	// A method the channel does not serve is Unimplemented, as over the
	// network.
	err = c.Invoke(ctx, "/gpubms.v1.GpuService/NoSuchMethod", req, &gpubmsv1.DescribeGpuDetailResponse{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown method: %v, want Unimplemented", err)
	}

	// A cancelled caller's context is the handler's too.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	blocking := func(ctx context.Context, _ any, _ *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	c2 := newGatewayChannel(new(inprocgrpc.Channel), blocking, true)
	c2.RegisterService(&gpubmsv1.GpuService_ServiceDesc, svc)
	_, err = gpubmsv1.NewGpuServiceClient(c2).DescribeGpuDetail(cctx, req)
	if status.Code(err) != codes.Canceled {
		t.Errorf("cancelled call: %v, want Canceled", err)
	}
}
