package e2e_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server"
	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/upstream"
)

// Documented catalogue ids (server/emulator/catalog.go), used only where
// the request never reaches the emulator's action: validation failures and
// injected faults.
const (
	docRegion  = "CN_Hohhot_B"
	docGoods   = 7685
	docCompute = "8fbdb61e-b941-46db-89f6-f8953b278ec9"
	docImage   = "d32af696-5774-4936-8f09-e9f4cf069b31"
	docVPC     = "f91084b4-050d-11ef-b98e-4637f0e9cd45" // the emulator's network of docRegion
	docSubnet  = "f9129e16-050d-11ef-b98e-4637f0e9cd45"
)

// docCreate is a valid order of the documented goods.
func docCreate() *gpubmsv1.CreateGpuInstanceRequest {
	return &gpubmsv1.CreateGpuInstanceRequest{
		RegionId: docRegion, VpcNetwork: &gpubmsv1.VpcNetwork{VpcId: docVPC, NetId: docSubnet},
		Password: createPassword, InstanceName: "err", InstanceChargeType: "PostPaid",
		ComputeId: docCompute, GoodsId: docGoods, ImageId: docImage, Raid: proto.Int32(0), Amount: 1,
	}
}

func withCreate(f func(*gpubmsv1.CreateGpuInstanceRequest)) *gpubmsv1.CreateGpuInstanceRequest {
	r := docCreate()
	f(r)
	return r
}

// drain receives from a server stream until it ends and returns how.
func drain[T any](recv func() (T, error)) error {
	for range 1000 {
		if _, err := recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
	return errors.New("stream does not end")
}

// TestErrors checks the failures a caller sees end to end, over gRPC and
// HTTP: validation (with no provider request), unknown ids, stock, state
// transitions.
func TestErrors(t *testing.T) {
	t.Parallel()
	h := start(t)

	// One running server, and a compute to order more of than is in stock.
	o := findOffer(t, h.c, 1)
	overStock := o.compute.GetPurchaseNum() + 1
	if overStock > 100 {
		t.Fatalf("compute %s has %d in stock: cannot order more within the amount limit", o.compute.GetId(), overStock-1)
	}
	created, err := h.c.CreateGpuInstance(ctx(t), o.createRequest("errsrv", 1))
	if err != nil {
		t.Fatalf("CreateGpuInstance: %v", err)
	}
	running := watchTask(t, h.c, created.GetTaskId())[0].GetResourceIds()[0]
	unknown := uuid.NewString()

	t.Run("gRPC", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			method  string // RPC whose "finished call" log line is checked
			call    func(context.Context, *client) error
			code    codes.Code
			field   string // must be named in the message, and in the violations unless message-level
			msgOnly bool
			reason  string // ErrorInfo reason
			reqs    int    // provider requests the call made
		}{
			{name: "amount 0", method: "CreateGpuInstance", field: "amount", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.CreateGpuInstance(c, withCreate(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.Amount = 0 }))
					return err
				}},
			{name: "amount 101", method: "CreateGpuInstance", field: "amount", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.CreateGpuInstance(c, withCreate(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.Amount = 101 }))
					return err
				}},
			{name: "raid 3", method: "CreateGpuInstance", field: "raid", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.CreateGpuInstance(c, withCreate(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.Raid = proto.Int32(3) }))
					return err
				}},
			{name: "short password", method: "CreateGpuInstance", field: "password", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.CreateGpuInstance(c, withCreate(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.Password = "abc" }))
					return err
				}},
			{name: "partition not rooted", method: "CreateGpuInstance", field: "custom_partition", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.CreateGpuInstance(c, withCreate(func(r *gpubmsv1.CreateGpuInstanceRequest) {
						r.CustomPartition, r.CustomPartitionSize = []string{"/data"}, []int32{100}
					}))
					return err
				}},
			{name: "vpc missing", method: "CreateGpuInstance", field: "vpc_network", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.CreateGpuInstance(c, withCreate(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.VpcNetwork = nil }))
					return err
				}},
			{name: "region with a slash", method: "DescribeGpuGoods", field: "region_id", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.DescribeGpuGoods(c, &gpubmsv1.DescribeGpuGoodsRequest{RegionId: "CN/../x"})
					return err
				}},
			{name: "prepaid 37 months", method: "DescribeGpuGoodsPrice", field: "prepaid_month", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.DescribeGpuGoodsPrice(c, &gpubmsv1.DescribeGpuGoodsPriceRequest{RegionId: docRegion, GoodsId: docGoods,
						ComputeId: docCompute, InstanceChargeType: "PrePaid", PrepaidMonth: proto.Int32(37), Amount: 1})
					return err
				}},
			{name: "public images without compute", method: "DescribeGpuImage", field: "compute_id", msgOnly: true, code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.DescribeGpuImage(c, &gpubmsv1.DescribeGpuImageRequest{ImageType: "public", RegionId: docRegion})
					return err
				}},
			{name: "page size 0", method: "DescribeGpu", field: "page_size", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.DescribeGpu(c, &gpubmsv1.DescribeGpuRequest{PageSize: proto.Int32(0)})
					return err
				}},
			{name: "resource id with a colon", method: "DescribeGpuDetail", field: "resource_id", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.DescribeGpuDetail(c, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: "a:b"})
					return err
				}},
			{name: "unknown power operation", method: "OperateGpuPower", field: "operate", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.OperateGpuPower(c, &gpubmsv1.OperateGpuPowerRequest{Operate: "halt", ResourceIds: []string{running}})
					return err
				}},
			{name: "no servers to power", method: "OperateGpuPower", field: "resource_ids", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.OperateGpuPower(c, &gpubmsv1.OperateGpuPowerRequest{Operate: "stop"})
					return err
				}},
			{name: "a server deleted twice", method: "DeleteGpuInstances", field: "resource_ids", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.DeleteGpuInstances(c, &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: []string{running, running}})
					return err
				}},
			{name: "reinstall without image", method: "ReinstallGpu", field: "image_id", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.ReinstallGpu(c, &gpubmsv1.ReinstallGpuRequest{ResourceId: running, Password: reinstallPassword})
					return err
				}},
			{name: "empty task id", method: "DescribeGpuTask", field: "task_id", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					_, err := cl.DescribeGpuTask(c, &gpubmsv1.DescribeGpuTaskRequest{})
					return err
				}},
			{name: "watch a task id with a slash", method: "WatchTask", field: "task_id", code: codes.InvalidArgument,
				call: func(c context.Context, cl *client) error {
					s, err := cl.WatchTask(c, &gpubmsv1.WatchTaskRequest{TaskId: "a/b"})
					if err != nil {
						return err
					}
					return drain(s.Recv)
				}},

			{name: "unknown server", method: "DescribeGpuDetail", code: codes.NotFound, reason: "InstanceNotFound", reqs: 1,
				call: func(c context.Context, cl *client) error {
					_, err := cl.DescribeGpuDetail(c, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: unknown})
					return err
				}},
			{name: "power an unknown server", method: "OperateGpuPower", code: codes.NotFound, reason: "InstanceNotFound", reqs: 1,
				call: func(c context.Context, cl *client) error {
					_, err := cl.OperateGpuPower(c, &gpubmsv1.OperateGpuPowerRequest{Operate: "stop", ResourceIds: []string{running, unknown}})
					return err
				}},
			{name: "unknown task", method: "DescribeGpuTask", code: codes.NotFound, reason: "DataNotExists", reqs: 1,
				call: func(c context.Context, cl *client) error {
					_, err := cl.DescribeGpuTask(c, &gpubmsv1.DescribeGpuTaskRequest{TaskId: unknown})
					return err
				}},
			{name: "watch an unknown task", method: "WatchTask", code: codes.NotFound, reason: "DataNotExists", reqs: 0,
				call: func(c context.Context, cl *client) error {
					s, err := cl.WatchTask(c, &gpubmsv1.WatchTaskRequest{TaskId: unknown})
					if err != nil {
						return err
					}
					return drain(s.Recv)
				}},
			{name: "more than in stock", method: "CreateGpuInstance", code: codes.ResourceExhausted, reason: "NotSufficient", reqs: 1,
				call: func(c context.Context, cl *client) error {
					req := o.createRequest("over", overStock)
					_, err := cl.CreateGpuInstance(c, req)
					return err
				}},
			{name: "start a running server", method: "OperateGpuPower", code: codes.FailedPrecondition, reason: "InstanceError", reqs: 1,
				call: func(c context.Context, cl *client) error {
					_, err := cl.OperateGpuPower(c, &gpubmsv1.OperateGpuPowerRequest{Operate: "start", ResourceIds: []string{running}})
					return err
				}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				cl := h.newClient(t) // its own connection: its log lines are its own
				err := tc.call(ctx(t), cl)
				wantCode(t, err, tc.code, tc.reason)
				msg := status.Convert(err).Message()
				if tc.field != "" {
					if !strings.Contains(msg, tc.field) {
						t.Errorf("got message %q, want it to name %s", msg, tc.field)
					}
					if got := violationFields(err); !tc.msgOnly && !slices.ContainsFunc(got, func(f string) bool { return strings.HasPrefix(f, tc.field) }) {
						t.Errorf("got violations of %v, want %s", got, tc.field)
					}
				}
				if ei := errorInfo(err); tc.reason != "" && (ei.GetDomain() != server.ErrorDomain || ei.GetMetadata()["action"] == "") {
					t.Errorf("got ErrorInfo %v, want domain %s and an action", ei, server.ErrorDomain)
				}
				h.wantProviderRequests(t, tc.method, ofClient(cl), tc.code, tc.reqs)
			})
		}
	})

	t.Run("HTTP", func(t *testing.T) {
		createBody := func(amount int32) map[string]any {
			return map[string]any{
				"region_id": o.regionID, "vpc_network": map[string]any{"vpc_id": o.vpcID, "net_id": o.netID},
				"password": createPassword, "instance_name": "httperr", "instance_charge_type": o.chargeType,
				"compute_id": o.compute.GetId(), "goods_id": o.goodsID, "image_id": o.images[0].GetId(), "amount": amount,
			}
		}
		for _, tc := range []struct {
			name         string
			method, path string
			body         any
			status       int
			code         codes.Code
			field        string // named in the message
			reason       string
			rpc          string // when set: its gateway calls made no provider request
		}{
			{name: "page size 0", method: http.MethodGet, path: "/v1/gpus?page_size=0",
				status: http.StatusBadRequest, code: codes.InvalidArgument, field: "page_size", rpc: "DescribeGpu"},
			{name: "amount 0", method: http.MethodPost, path: "/v1/gpus", body: createBody(0),
				status: http.StatusBadRequest, code: codes.InvalidArgument, field: "amount", rpc: "CreateGpuInstance"},
			{name: "unknown power operation", method: http.MethodPost, path: "/v1/gpus:power", body: map[string]any{"operate": "halt", "resource_ids": []string{running}},
				status: http.StatusBadRequest, code: codes.InvalidArgument, field: "operate", rpc: "OperateGpuPower"},
			{name: "unknown JSON field", method: http.MethodPost, path: "/v1/gpus:batchDelete", body: map[string]any{"ResourceIds": []string{running}},
				status: http.StatusBadRequest, code: codes.InvalidArgument, field: "ResourceIds"},
			{name: "body not JSON", method: http.MethodPost, path: "/v1/gpus", body: []byte("{"),
				status: http.StatusBadRequest, code: codes.InvalidArgument},
			{name: "unknown server", method: http.MethodGet, path: "/v1/gpus/" + unknown,
				status: http.StatusNotFound, code: codes.NotFound, reason: "InstanceNotFound"},
			{name: "unknown task", method: http.MethodGet, path: "/v1/tasks/" + unknown,
				status: http.StatusNotFound, code: codes.NotFound, reason: "DataNotExists"},
			{name: "more than in stock", method: http.MethodPost, path: "/v1/gpus", body: createBody(overStock),
				status: http.StatusTooManyRequests, code: codes.ResourceExhausted, reason: "NotSufficient"},
			{name: "start a running server", method: http.MethodPost, path: "/v1/gpus:power", body: map[string]any{"operate": "start", "resource_ids": []string{running}},
				status: http.StatusBadRequest, code: codes.FailedPrecondition, reason: "InstanceError"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				st, b := h.httpDo(t, tc.method, tc.path, tc.body, nil)
				if st != tc.status {
					t.Fatalf("%s %s: got HTTP %d (%s), want %d", tc.method, tc.path, st, b, tc.status)
				}
				e := decodeHTTPError(t, b)
				if codes.Code(e.Code) != tc.code {
					t.Errorf("got code %v, want %v", codes.Code(e.Code), tc.code)
				}
				if !strings.Contains(e.Message, tc.field) {
					t.Errorf("got message %q, want it to name %s", e.Message, tc.field)
				}
				if e.reason() != tc.reason {
					t.Errorf("got ErrorInfo reason %q, want %q", e.reason(), tc.reason)
				}
				if tc.rpc != "" {
					h.wantProviderRequests(t, tc.rpc, h.ofGateway(), codes.InvalidArgument, 0)
				}
			})
		}

		t.Run("watch an unknown task", func(t *testing.T) {
			t.Parallel()
			resp := h.openStream(t, ctx(t), http.MethodGet, "/v1/tasks/"+unknown+":watch", nil)
			lines := readLines(t, resp.Body)
			if resp.StatusCode != http.StatusNotFound || len(lines) != 1 || lines[0].Error == nil ||
				codes.Code(lines[0].Error.Code) != codes.NotFound || lines[0].Error.reason() != "DataNotExists" {
				t.Errorf("got HTTP %d %+v, want 404 and one error line NotFound DataNotExists", resp.StatusCode, lines)
			}
		})
	})

	t.Run("failed calls changed nothing", func(t *testing.T) {
		l, err := h.c.DescribeGpu(ctx(t), &gpubmsv1.DescribeGpuRequest{})
		if err != nil {
			t.Fatalf("DescribeGpu: %v", err)
		}
		if len(l.GetRecords()) != 1 || l.GetRecords()[0].GetResourceId() != running || l.GetRecords()[0].GetState() != "running" {
			t.Errorf("got servers %v, want only %s, running", l.GetRecords(), running)
		}
	})
}

// TestProviderFaults injects provider failures in the emulator: reads are
// retried and then fail Unavailable; creates are sent once.
func TestProviderFaults(t *testing.T) {
	t.Parallel()
	regions := func(c context.Context, cl *client) error {
		_, err := cl.DescribeGpuRegions(c, &gpubmsv1.DescribeGpuRegionsRequest{})
		return err
	}
	goods := func(c context.Context, cl *client) error {
		_, err := cl.DescribeGpuGoods(c, &gpubmsv1.DescribeGpuGoodsRequest{RegionId: docRegion})
		return err
	}
	create := func(c context.Context, cl *client) error {
		_, err := cl.CreateGpuInstance(c, docCreate())
		return err
	}
	type call struct {
		method string
		do     func(context.Context, *client) error
		code   codes.Code
		reason string
		reqs   int
	}
	for _, srv := range []struct {
		name   string
		faults emulator.Faults
		calls  []call
	}{
		{
			name:   "every reply a 503",
			faults: emulator.Faults{ServerErrorRate: 1},
			calls: []call{
				{"DescribeGpuRegions", regions, codes.Unavailable, server.ReasonUpstreamMalformed, upstream.DefaultMaxAttempts},
				{"DescribeGpuGoods", goods, codes.Unavailable, server.ReasonUpstreamMalformed, upstream.DefaultMaxAttempts},
				{"CreateGpuInstance", create, codes.Unavailable, server.ReasonUpstreamMalformed, 1},
			},
		},
		{
			name:   "InternalError from two actions",
			faults: emulator.Faults{ErrorRate: map[string]float64{"DescribeGpuGoods": 1, "CreateGpuInstance": 1}},
			calls: []call{
				{"DescribeGpuRegions", regions, codes.OK, "", 1},
				{"DescribeGpuGoods", goods, codes.Unavailable, "InternalError", upstream.DefaultMaxAttempts},
				{"CreateGpuInstance", create, codes.Unavailable, "InternalError", 1},
			},
		},
	} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, withFaults(srv.faults))
			for _, tc := range srv.calls {
				t.Run(tc.method, func(t *testing.T) {
					t.Parallel()
					cl := h.newClient(t)
					err := tc.do(ctx(t), cl)
					wantCode(t, err, tc.code, tc.reason)
					h.wantProviderRequests(t, tc.method, ofClient(cl), tc.code, tc.reqs)
				})
			}
			t.Run("HTTP 503", func(t *testing.T) {
				t.Parallel()
				// Another region than the gRPC call's, so the two reads are
				// not shared (identical concurrent reads are).
				st, b := h.httpDo(t, http.MethodGet, "/v1/regions/CN_Qingyang_A/goods", nil, nil)
				if e := decodeHTTPError(t, b); st != http.StatusServiceUnavailable || codes.Code(e.Code) != codes.Unavailable {
					t.Errorf("GET goods: got HTTP %d %s, want 503 Unavailable", st, b)
				}
			})
		})
	}
}
