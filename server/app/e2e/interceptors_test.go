package e2e_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// TestAuth runs a server that requires a bearer token: GpuService calls
// and reflection need it, over gRPC and HTTP; health does not.
func TestAuth(t *testing.T) {
	t.Parallel()
	h := start(t, withAuthToken(authToken))

	t.Run("gRPC", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			md   []string // outgoing metadata pairs
			want codes.Code
		}{
			{"no token", nil, codes.Unauthenticated},
			{"wrong token", []string{"authorization", "Bearer " + wrongToken}, codes.Unauthenticated},
			{"not a bearer token", []string{"authorization", "Basic " + authToken}, codes.Unauthenticated},
			{"right token", []string{"authorization", "Bearer " + authToken}, codes.OK},
			{"right token, scheme in lower case", []string{"authorization", "bearer " + authToken}, codes.OK},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := metadata.AppendToOutgoingContext(ctx(t), tc.md...)
				_, err := h.c.DescribeGpuRegions(c, &gpubmsv1.DescribeGpuRegionsRequest{})
				if got := status.Code(err); got != tc.want {
					t.Errorf("DescribeGpuRegions: got %v (%v), want %v", got, err, tc.want)
				}
				// Streams are guarded the same way.
				s, err := h.c.WatchTask(c, &gpubmsv1.WatchTaskRequest{TaskId: "no-such-task"})
				if err == nil {
					err = drain(s.Recv)
				}
				want := tc.want
				if want == codes.OK {
					want = codes.NotFound // past the guard: the task is unknown
				}
				if got := status.Code(err); got != want {
					t.Errorf("WatchTask: got %v (%v), want %v", got, err, want)
				}
			})
		}
	})

	t.Run("HTTP", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			header http.Header
			path   string
			want   int
		}{
			{"no token", nil, "/v1/regions", http.StatusUnauthorized},
			{"wrong token", http.Header{"Authorization": {"Bearer " + wrongToken}}, "/v1/regions", http.StatusUnauthorized},
			{"right token", http.Header{"Authorization": {"Bearer " + authToken}}, "/v1/regions", http.StatusOK},
			{"OpenAPI document needs none", nil, "/openapi.json", http.StatusOK},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				if got, b := h.httpDo(t, http.MethodGet, tc.path, nil, tc.header); got != tc.want {
					t.Errorf("GET %s: got HTTP %d (%s), want %d", tc.path, got, b, tc.want)
				}
			})
		}
	})

	t.Run("health without a token", func(t *testing.T) {
		t.Parallel()
		hc := healthpb.NewHealthClient(h.c.conn)
		for _, svc := range []string{"", gpubmsv1.GpuService_ServiceDesc.ServiceName} {
			r, err := hc.Check(ctx(t), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatalf("health Check(%q): %v", svc, err)
			}
			if r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health Check(%q): got %v, want SERVING", svc, r.GetStatus())
			}
		}
	})

	t.Run("reflection needs a token", func(t *testing.T) {
		t.Parallel()
		s, err := rpb.NewServerReflectionClient(h.c.conn).ServerReflectionInfo(ctx(t))
		if err == nil {
			_, err = s.Recv()
		}
		if got := status.Code(err); got != codes.Unauthenticated {
			t.Fatalf("reflection without a token: got %v (%v), want Unauthenticated", got, err)
		}
		testReflection(t, metadata.AppendToOutgoingContext(ctx(t), "authorization", "Bearer "+authToken), h.c.conn)
	})
}

// testReflection lists the services as grpcurl does and resolves
// GpuService's file: every provider action is an RPC of the same name.
func testReflection(t *testing.T, c context.Context, conn *grpc.ClientConn) {
	t.Helper()
	s, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(c)
	if err != nil {
		t.Fatalf("ServerReflectionInfo: %v", err)
	}
	defer s.CloseSend()
	ask := func(req *rpb.ServerReflectionRequest) *rpb.ServerReflectionResponse {
		t.Helper()
		if err := s.Send(req); err != nil {
			t.Fatalf("reflection send: %v", err)
		}
		r, err := s.Recv()
		if err != nil {
			t.Fatalf("reflection recv: %v", err)
		}
		if e := r.GetErrorResponse(); e != nil {
			t.Fatalf("reflection error: %v", e)
		}
		return r
	}

	var services []string
	for _, svc := range ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}).GetListServicesResponse().GetService() {
		services = append(services, svc.GetName())
	}
	for _, want := range []string{"gpubms.v1.GpuService", "grpc.health.v1.Health"} {
		if !slices.Contains(services, want) {
			t.Errorf("reflection lists %v, want %s among them", services, want)
		}
	}

	r := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: "gpubms.v1.GpuService",
	}})
	var methods []string
	for _, raw := range r.GetFileDescriptorResponse().GetFileDescriptorProto() {
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(raw, &fd); err != nil {
			t.Fatalf("file descriptor: %v", err)
		}
		if fd.GetPackage() != "gpubms.v1" {
			continue
		}
		for _, sd := range fd.GetService() {
			if sd.GetName() == "GpuService" {
				for _, m := range sd.GetMethod() {
					methods = append(methods, m.GetName())
				}
			}
		}
	}
	for _, want := range []string{
		"DescribeGpuRegions", "DescribeGpuGoods", "DescribeGpuGoodsPrice", "DescribeGpu", "DescribeGpuDetail",
		"DescribeGpuTask", "ReinstallGpu", "DescribeGpuImage", "CreateGpuInstance", "OperateGpuPower",
		"DeleteGpuInstances", "WatchTask", "WatchTasks",
	} {
		if !slices.Contains(methods, want) {
			t.Errorf("reflected GpuService has methods %v, want %s", methods, want)
		}
	}
}

// TestRateLimit runs a server capped at one call a second: a burst of calls
// meets ResourceExhausted over gRPC and HTTP 429 over JSON.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	h := start(t, withRateLimit(1))

	t.Run("gRPC", func(t *testing.T) {
		var ok int
		for i := range 50 {
			_, err := h.c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{})
			switch status.Code(err) {
			case codes.OK:
				ok++
				continue
			case codes.ResourceExhausted:
				t.Logf("call %d refused after %d accepted: %v", i+1, ok, err)
				h.wantProviderRequests(t, "DescribeGpuRegions", ofClient(h.c), codes.ResourceExhausted, 0)
				// Probes and discovery are not rate limited.
				r, err := healthpb.NewHealthClient(h.c.conn).Check(ctx(t), &healthpb.HealthCheckRequest{})
				if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					t.Errorf("health check under the rate limit: %v, %v; want SERVING", r.GetStatus(), err)
				}
				testReflection(t, ctx(t), h.c.conn)
				return
			}
			t.Fatalf("DescribeGpuRegions: got %v, want OK or ResourceExhausted", err)
		}
		t.Errorf("50 calls in a burst were all accepted at 1 call/s")
	})

	t.Run("HTTP", func(t *testing.T) {
		for range 50 {
			switch code, b := h.httpDo(t, http.MethodGet, "/v1/regions", nil, nil); code {
			case http.StatusOK:
				continue
			case http.StatusTooManyRequests:
				if e := decodeHTTPError(t, b); codes.Code(e.Code) != codes.ResourceExhausted {
					t.Errorf("got %s, want code ResourceExhausted", b)
				}
				return
			default:
				t.Fatalf("GET /v1/regions: got HTTP %d %s, want 200 or 429", code, b)
			}
		}
		t.Errorf("50 requests in a burst were all accepted at 1 call/s")
	})
}
