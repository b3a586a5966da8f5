package main

import (
	"bytes"
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"buf.build/go/protovalidate"
	grpcvalidate "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// recorder is a GpuService and a NetworkService that records every request
// and answers from canned replies (FindNetworks: networks_test.go).
// Requests pass the contract's real validation first, so a request the CLI
// builds wrongly fails here as it would in production.
type recorder struct {
	gpubmsv1.UnimplementedGpuServiceServer
	gpubmsv1.UnimplementedNetworkServiceServer

	// errs makes the named method fail.
	errs map[string]error
	// flaky makes the named method's successive calls fail with these
	// errors, then succeed.
	flaky map[string][]error
	// events are the scripted events of each task; WatchTask(s) send them
	// and end OK. A task with "hang" as its last raw status blocks instead.
	events map[string][]*gpubmsv1.TaskEvent

	mu    sync.Mutex
	calls map[string]int
	reqs  []proto.Message
	auth  []string
	peers []string // common names of verified client certificates
}

func (r *recorder) record(method string, req proto.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	n := r.calls[method]
	r.calls[method]++
	if seq := r.flaky[method]; n < len(seq) {
		return seq[n]
	}
	return r.errs[method]
}

// The dry-run warnings of the canned replies.
const (
	warnStock  = "stock is a hint, not a promise: it can be gone by the time the order is placed"
	warnRenew  = "AutoRenew defaults to 1 at the provider: this prepaid order renews itself; set auto_renew to 0 to stop it"
	warnDelete = "the provider documents that it deletes only powered-off PostPaid servers (LogicError otherwise)"
)

// affected is the canned dry run of an action on servers.
func affected(ids []string, warnings ...string) *gpubmsv1.Validation {
	v := &gpubmsv1.Validation{Warnings: warnings}
	for i, id := range ids {
		state := "running"
		if i%2 == 1 {
			state = "stopped"
		}
		v.Servers = append(v.Servers, &gpubmsv1.AffectedServer{ResourceId: id, Name: "web-" + id, State: state, InstanceChargeType: "PostPaid"})
	}
	return v
}

func (r *recorder) requests() []proto.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func (r *recorder) tokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.auth)
}

func (r *recorder) clientCerts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.peers)
}

func (r *recorder) DescribeGpuRegions(_ context.Context, req *gpubmsv1.DescribeGpuRegionsRequest) (*gpubmsv1.DescribeGpuRegionsResponse, error) {
	if err := r.record("DescribeGpuRegions", req); err != nil {
		return nil, err
	}
	return &gpubmsv1.DescribeGpuRegionsResponse{Regions: []*gpubmsv1.Region{
		{RegionId: "CN_Hohhot_B", RegionName: "Hohhot B"},
		{RegionId: "CN_Qingyang_A", RegionName: "中国大陆-庆阳-可用区A"},
		{RegionId: "US_Dallas_A", RegionName: "Dallas A"},
	}}, nil
}

func (r *recorder) DescribeGpuGoods(_ context.Context, req *gpubmsv1.DescribeGpuGoodsRequest) (*gpubmsv1.DescribeGpuGoodsResponse, error) {
	if err := r.record("DescribeGpuGoods", req); err != nil {
		return nil, err
	}
	return &gpubmsv1.DescribeGpuGoodsResponse{PrePaid: []*gpubmsv1.Goods{{
		GoodsId: 11, GoodsName: "A100x8",
		Computes: []*gpubmsv1.Compute{{Id: "cmp-1", CpuInfo: "Xeon 8358", Cpu: 64, Ram: 1024, PurchaseNum: 3,
			Disks: []*gpubmsv1.Disk{{Type: "NVME", Capacity: 3840, Count: 2}}}},
	}}}, nil
}

func (r *recorder) DescribeGpuGoodsPrice(_ context.Context, req *gpubmsv1.DescribeGpuGoodsPriceRequest) (*gpubmsv1.DescribeGpuGoodsPriceResponse, error) {
	if err := r.record("DescribeGpuGoodsPrice", req); err != nil {
		return nil, err
	}
	return &gpubmsv1.DescribeGpuGoodsPriceResponse{TradeAmount: "6660.00", UnitPrice: "666.00", Currency: "CN"}, nil
}

func (r *recorder) DescribeGpuImage(_ context.Context, req *gpubmsv1.DescribeGpuImageRequest) (*gpubmsv1.DescribeGpuImageResponse, error) {
	if err := r.record("DescribeGpuImage", req); err != nil {
		return nil, err
	}
	return &gpubmsv1.DescribeGpuImageResponse{Families: []*gpubmsv1.ImageFamily{{
		OsFamily: "Ubuntu", Images: []*gpubmsv1.Image{{Id: "img-u22", Name: "Ubuntu 22.04", Type: "public"}},
	}}}, nil
}

func (r *recorder) DescribeGpu(_ context.Context, req *gpubmsv1.DescribeGpuRequest) (*gpubmsv1.DescribeGpuResponse, error) {
	if err := r.record("DescribeGpu", req); err != nil {
		return nil, err
	}
	return &gpubmsv1.DescribeGpuResponse{
		Records: []*gpubmsv1.Gpu{{
			ResourceId: "gpu-001", Name: "web-001", State: "running", RegionId: "CN_Hohhot_B", AppId: "app-1",
			Cpu: 64, Ram: 1024, InstanceChargeType: "PrePaid",
			Networks: &gpubmsv1.Networks{NetworkCards: []*gpubmsv1.NetworkCard{{IpAddress: "10.0.0.5", EipAddress: "203.0.113.7"}}},
		}, {
			// A name in Chinese, in a middle column: the columns after it
			// must still line up.
			ResourceId: "gpu-002", Name: "训练机-02", State: "stopped", RegionId: "CN_Qingyang_A", AppId: "app-2",
			Cpu: 128, Ram: 2048, InstanceChargeType: "PostPaid",
		}},
		TotalCount: 2, PageSize: 500, PageNumber: 1, Pages: 1,
	}, nil
}

func (r *recorder) DescribeGpuDetail(_ context.Context, req *gpubmsv1.DescribeGpuDetailRequest) (*gpubmsv1.DescribeGpuDetailResponse, error) {
	if err := r.record("DescribeGpuDetail", req); err != nil {
		return nil, err
	}
	return &gpubmsv1.DescribeGpuDetailResponse{
		ResourceId: req.GetResourceId(), Name: "web-001", State: "running", Status: "运行中", Cpu: 64, Ram: 1024,
		RegionId: "CN_Hohhot_B", RegionName: "Hohhot B", AppId: "app-1", ImageName: "Ubuntu 22.04",
		InstanceChargeType: "PrePaid", BillStatus: "1", IsAutoRenewal: 1, RunningTime: "0天3小时1分钟35秒",
		CreateDate: "2026-11-01 10:00:00", ExpireDate: "2026-12-01 10:00:00",
		Volumes: []*gpubmsv1.Volume{{Id: "vol-1", Type: "hard", Capacity: 3840, VolumeType: "NVME", VolumePath: "/dev/nvme0n1"}},
		Networks: &gpubmsv1.Networks{NetworkCards: []*gpubmsv1.NetworkCard{{
			Id: "nic-1", IpType: "subnet", IpAddress: "10.0.0.5", Netmask: "255.255.255.0", Gateway: "10.0.0.1",
			Mac: []string{"aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02"}, WorkMode: "bond6",
		}}},
	}, nil
}

func (r *recorder) CreateGpuInstance(_ context.Context, req *gpubmsv1.CreateGpuInstanceRequest) (*gpubmsv1.CreateGpuInstanceResponse, error) {
	if err := r.record("CreateGpuInstance", req); err != nil {
		return nil, err
	}
	if req.GetValidateOnly() {
		return &gpubmsv1.CreateGpuInstanceResponse{Validation: &gpubmsv1.Validation{
			Quote: &gpubmsv1.Quote{TradeAmount: "6660.00", UnitPrice: "666.00", Currency: "CN"},
			Stock: ptr[int32](3), Warnings: []string{warnStock, warnRenew},
		}}, nil
	}
	return &gpubmsv1.CreateGpuInstanceResponse{TaskId: "task-create"}, nil
}

func (r *recorder) ReinstallGpu(_ context.Context, req *gpubmsv1.ReinstallGpuRequest) (*gpubmsv1.ReinstallGpuResponse, error) {
	if err := r.record("ReinstallGpu", req); err != nil {
		return nil, err
	}
	if req.GetValidateOnly() {
		return &gpubmsv1.ReinstallGpuResponse{Validation: affected([]string{req.GetResourceId()})}, nil
	}
	return &gpubmsv1.ReinstallGpuResponse{TaskIds: []string{"task-reinstall"}}, nil
}

func (r *recorder) OperateGpuPower(_ context.Context, req *gpubmsv1.OperateGpuPowerRequest) (*gpubmsv1.OperateGpuPowerResponse, error) {
	if err := r.record("OperateGpuPower", req); err != nil {
		return nil, err
	}
	if req.GetValidateOnly() {
		return &gpubmsv1.OperateGpuPowerResponse{Validation: affected(req.GetResourceIds())}, nil
	}
	resp := &gpubmsv1.OperateGpuPowerResponse{ResourceIds: req.GetResourceIds()}
	for _, id := range req.GetResourceIds() {
		resp.TaskIds = append(resp.TaskIds, "task-"+id)
	}
	return resp, nil
}

func (r *recorder) DeleteGpuInstances(_ context.Context, req *gpubmsv1.DeleteGpuInstancesRequest) (*gpubmsv1.DeleteGpuInstancesResponse, error) {
	if err := r.record("DeleteGpuInstances", req); err != nil {
		return nil, err
	}
	if req.GetValidateOnly() {
		return &gpubmsv1.DeleteGpuInstancesResponse{Validation: affected(req.GetResourceIds(), warnDelete)}, nil
	}
	return &gpubmsv1.DeleteGpuInstancesResponse{}, nil
}

func (r *recorder) DescribeGpuTask(_ context.Context, req *gpubmsv1.DescribeGpuTaskRequest) (*gpubmsv1.DescribeGpuTaskResponse, error) {
	if err := r.record("DescribeGpuTask", req); err != nil {
		return nil, err
	}
	return &gpubmsv1.DescribeGpuTaskResponse{Status: "init", TaskStatus: gpubmsv1.TaskStatus_TASK_STATUS_INIT, ResourceIds: []string{"gpu-001", "gpu-002"}}, nil
}

func (r *recorder) WatchTask(req *gpubmsv1.WatchTaskRequest, stream grpc.ServerStreamingServer[gpubmsv1.WatchTaskResponse]) error {
	if err := r.record("WatchTask", req); err != nil {
		return err
	}
	return r.play(stream.Context(), []string{req.GetTaskId()}, func(ev *gpubmsv1.TaskEvent) error {
		return stream.Send(&gpubmsv1.WatchTaskResponse{Event: ev})
	})
}

func (r *recorder) WatchTasks(req *gpubmsv1.WatchTasksRequest, stream grpc.ServerStreamingServer[gpubmsv1.WatchTasksResponse]) error {
	if err := r.record("WatchTasks", req); err != nil {
		return err
	}
	return r.play(stream.Context(), req.GetTaskIds(), func(ev *gpubmsv1.TaskEvent) error {
		return stream.Send(&gpubmsv1.WatchTasksResponse{Event: ev})
	})
}

// play sends the scripted events of the tasks, task after task.
func (r *recorder) play(ctx context.Context, ids []string, send func(*gpubmsv1.TaskEvent) error) error {
	for _, id := range ids {
		for _, ev := range r.events[id] {
			if ev.GetRawStatus() == "hang" {
				<-ctx.Done()
				return status.FromContextError(ctx.Err()).Err()
			}
			if err := send(ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// serve starts rec on a loopback port and returns its address. opts are
// extra server options (TLS credentials).
func serve(t *testing.T, rec *recorder, opts ...grpc.ServerOption) string {
	t.Helper()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatalf("protovalidate.New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	recordAuth := func(ctx context.Context) {
		md, _ := metadata.FromIncomingContext(ctx)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.auth = append(rec.auth, md.Get("authorization")...)
		if p, ok := peer.FromContext(ctx); ok {
			if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.VerifiedChains) > 0 {
				rec.peers = append(rec.peers, info.State.VerifiedChains[0][0].Subject.CommonName)
			}
		}
	}
	srv := grpc.NewServer(append(opts,
		grpc.ChainUnaryInterceptor(
			func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				recordAuth(ctx)
				return h(ctx, req)
			},
			grpcvalidate.UnaryServerInterceptor(v),
		),
		grpc.ChainStreamInterceptor(
			func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				recordAuth(ss.Context())
				return h(srv, ss)
			},
			grpcvalidate.StreamServerInterceptor(v),
		),
	)...)
	gpubmsv1.RegisterGpuServiceServer(srv, rec)
	gpubmsv1.RegisterNetworkServiceServer(srv, rec)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// result is what one run of the CLI did.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command line with the given environment and stdin.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// ev builds a task event.
func ev(id, raw string, resources ...string) *gpubmsv1.TaskEvent {
	st := map[string]gpubmsv1.TaskStatus{
		"init":    gpubmsv1.TaskStatus_TASK_STATUS_INIT,
		"succeed": gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED,
		"failed":  gpubmsv1.TaskStatus_TASK_STATUS_FAILED,
	}[raw]
	return &gpubmsv1.TaskEvent{TaskId: id, Status: st, RawStatus: raw, ResourceIds: resources}
}
