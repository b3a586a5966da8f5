package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/app"
	"github.com/gpubms/gpubms/server/signature"
	"github.com/gpubms/gpubms/server/upstream"
)

// The benchmarks here put one DescribeGpuDetail (never cached) through four
// paths against the same stand-in provider, which checks every signature
// and answers a canned reply: a caller signing its own GET (direct), a bare
// grpc-go server written here (the floor: one signed GET, one JSON decode,
// one conversion, no middleware), gpubms over gRPC with all its checks on,
// and gpubms's JSON face. Each runs at 1 and 16 concurrent callers and
// reports p50 latency beside ns/op. Resource ids rotate, so gpubms's
// coalescing of identical reads does not flatter it.

const benchToken = "bench-bearer-T0ken-0123456789"

// detailReply is the canned Data of DescribeGpuDetail (the provider's
// documented example).
const detailReply = `{"ResourceId":"19cd","BillStatus":"1","Cpu":32,"CreateDate":"2020-04-30 11:22:41","ExpireDate":"2020-05-01 00:00:00",
"ImageName":"centos7.6_64","InstanceChargeType":"PrePaid","IsAutoRenewal":0,"Name":"openapi006","AppId":"2bba","AppName":"bms003","RegionId":"CN_Qingyang_A",
"Networks":{"NetworkCards":[{"Gateway":"10.240.57.1","Id":"69ed","IpAddress":"10.240.57.1","IpType":"subnet","IpVersion":"ipV4",
"Netmask":"255.255.0.0","Mac":["6C:92:BF:FF:BD:6A","6C:92:BF:FF:BD:6B"],"VlanId":"3214","WorkMode":"bond6",
"eipAddress":"60.165.239.111","eipLinkType":"电信"}]},
"Ram":64,"RegionName":"中国大陆-庆阳-可用区A","RunningTime":"0天7小时18分钟55秒","State":"running","Status":"运行中",
"Volumes":[{"Capacity":480,"Id":"a5f1","Type":"hard","VolumeId":"454a","VolumePath":"sda","VolumeType":"SSD","UpdateDate":"2020-04-17T07:47:23.000+0000"}]}`

const regionsReply = `[{"RegionId":"CN_Hohhot_B","RegionName":"中国大陆-呼和浩特-可用区B"},{"RegionId":"CN_Qingyang_A","RegionName":"中国大陆-庆阳-可用区A"}]`

// standIn is a provider that checks signatures and answers canned replies,
// after delay.
func standIn(tb testing.TB, delay time.Duration) string {
	tb.Helper()
	return serveStandIn(tb, delay, nil)
}

// standInTasks is standIn, counting its DescribeGpuTask requests in polls;
// every task is still running.
func standInTasks(tb testing.TB, polls *atomic.Int64) string {
	tb.Helper()
	return serveStandIn(tb, 0, polls)
}

func serveStandIn(tb testing.TB, delay time.Duration, polls *atomic.Int64) string {
	tb.Helper()
	ts := httptest.NewServer(standInHandler(delay, polls))
	tb.Cleanup(ts.Close)
	return ts.URL + "/gpubms/v1"
}

// standInHandler is the stand-in provider's handler.
func standInHandler(delay time.Duration, polls *atomic.Int64) http.Handler {
	detail := []byte(`{"Code":"Success","Message":"Success.","Data":` + detailReply + `}`)
	regions := []byte(`{"Code":"Success","Message":"Success.","Data":` + regionsReply + `}`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil || signature.Verify(r.Method, q, emulatorSecret) != nil || q.Get(signature.ParamAccessKeyID) != emulatorKeyID {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"Code":"SignatureDoesNotMatch","Message":"bad signature"}`)
			return
		}
		if delay > 0 {
			time.Sleep(delay)
		}
		w.Header().Set("Content-Type", "application/json")
		switch q.Get(signature.ParamAction) {
		case upstream.ActionDescribeGpuDetail:
			w.Write(detail)
		case upstream.ActionDescribeGpuRegions:
			w.Write(regions)
		case upstream.ActionDescribeGpuTask:
			if polls != nil {
				polls.Add(1)
			}
			io.WriteString(w, `{"Code":"Success","Message":"Success.","Data":{"Status":"init","ResourceIds":["gpu-0001"]}}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"Code":"InvalidAction","Message":"not in the stand-in"}`)
		}
	})
}

// resourceIDs rotate over the calls of a benchmark.
var resourceIDs = func() []string {
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("gpu-%04d", i)
	}
	return ids
}()

// latencies records per-call durations to report their median.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	b.ReportMetric(float64(l.d[len(l.d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(l.d[len(l.d)*99/100].Microseconds()), "p99-µs")
}

// runConcurrent runs call from c goroutines until b.N calls are done, and
// reports latency percentiles.
func runConcurrent(b *testing.B, c int, call func(i int) error) {
	b.Helper()
	var lat latencies
	lat.d = make([]time.Duration, 0, b.N)
	var next int64
	var mu sync.Mutex
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= int64(b.N) {
			return 0, false
		}
		next++
		return int(next), true
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	var failed error
	var fmu sync.Mutex
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				start := time.Now()
				if err := call(i); err != nil {
					fmu.Lock()
					failed = err
					fmu.Unlock()
					return
				}
				lat.add(time.Since(start))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	lat.report(b)
}

// directCall is what a caller without gpubms does: sign a GET, send it,
// decode the reply.
type directCall struct {
	base string
	hc   *http.Client
}

// get signs and sends one GET of action with the parameters q, and decodes
// the reply's Data into data; a Code other than Success is an error.
func (d *directCall) get(ctx context.Context, action string, q url.Values, data any) error {
	signature.Common(q, action, emulatorKeyID, uuid.NewString(), time.Now())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/?"+signature.SignedQuery(http.MethodGet, q, emulatorSecret), nil)
	if err != nil {
		return err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	env := struct {
		Code string
		Data any
	}{Data: data}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return err
	}
	if env.Code != "Success" {
		return fmt.Errorf("provider: %s", env.Code)
	}
	return nil
}

func (d *directCall) detail(ctx context.Context, id string) error {
	var data upstream.DescribeGpuDetailData
	return d.get(ctx, upstream.ActionDescribeGpuDetail, url.Values{"ResourceId": {id}}, &data)
}

// task is a direct DescribeGpuTask: the task's status.
func (d *directCall) task(ctx context.Context, id string) (gpubmsv1.TaskStatus, error) {
	var data struct{ Status string }
	if err := d.get(ctx, upstream.ActionDescribeGpuTask, url.Values{"TaskId": {id}}, &data); err != nil {
		return 0, err
	}
	switch data.Status {
	case "init":
		return gpubmsv1.TaskStatus_TASK_STATUS_INIT, nil
	case "succeed":
		return gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED, nil
	}
	return gpubmsv1.TaskStatus_TASK_STATUS_FAILED, nil
}

// regions is a direct DescribeGpuRegions.
func (d *directCall) regions() error {
	_, err := d.regionList()
	return err
}

func (d *directCall) regionList() ([]upstream.Region, error) {
	var data []upstream.Region
	err := d.get(context.Background(), upstream.ActionDescribeGpuRegions, url.Values{}, &data)
	return data, err
}

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }

// floorServer is the least a gRPC proxy can do: the generated service, one
// signed GET, one decode, one conversion; and, with tasks, the least a
// server streaming task changes can do (floorTasks).
type floorServer struct {
	gpubmsv1.UnimplementedGpuServiceServer
	d     *directCall
	tasks *floorTasks

	regions atomic.Pointer[gpubmsv1.DescribeGpuRegionsResponse]
}

// DescribeGpuRegions answers from memory what a signed GET fetched the first
// time it succeeded: a bare grpc-go server's least work for a call.
func (f *floorServer) DescribeGpuRegions(context.Context, *gpubmsv1.DescribeGpuRegionsRequest) (*gpubmsv1.DescribeGpuRegionsResponse, error) {
	if r := f.regions.Load(); r != nil {
		return r, nil
	}
	rs, err := f.d.regionList()
	if err != nil {
		return nil, err
	}
	r := &gpubmsv1.DescribeGpuRegionsResponse{}
	for _, x := range rs {
		r.Regions = append(r.Regions, &gpubmsv1.Region{RegionId: x.RegionID, RegionName: x.RegionName})
	}
	f.regions.CompareAndSwap(nil, r)
	return f.regions.Load(), nil
}

// WatchTask sends the task's status, then each change, until the status is
// final or the caller leaves: no middleware, no heartbeats, no limits.
func (f *floorServer) WatchTask(req *gpubmsv1.WatchTaskRequest, stream grpc.ServerStreamingServer[gpubmsv1.WatchTaskResponse]) error {
	if f.tasks == nil {
		return f.UnimplementedGpuServiceServer.WatchTask(req, stream)
	}
	t := f.tasks.get(req.GetTaskId())
	select {
	case <-t.ready:
	case <-stream.Context().Done():
		return stream.Context().Err()
	}
	for {
		st, changed := t.now()
		if err := stream.Send(&gpubmsv1.WatchTaskResponse{Event: &gpubmsv1.TaskEvent{TaskId: req.GetTaskId(), Status: st}}); err != nil {
			return err
		}
		if st != gpubmsv1.TaskStatus_TASK_STATUS_INIT {
			return nil
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// floorTasks polls each watched task once an interval (one signed
// DescribeGpuTask), whoever watches it, for as long as the process runs: it
// serves the floor's helper process (TestBenchHelper).
type floorTasks struct {
	d        *directCall
	interval time.Duration
	mu       sync.Mutex
	m        map[string]*floorTask
}

type floorTask struct {
	ready   chan struct{} // closed after the first poll that succeeds
	mu      sync.Mutex
	status  gpubmsv1.TaskStatus
	changed chan struct{} // closed, and replaced, at each change
}

func (ts *floorTasks) get(id string) *floorTask {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t := ts.m[id]; t != nil {
		return t
	}
	t := &floorTask{ready: make(chan struct{}), changed: make(chan struct{})}
	if ts.m == nil {
		ts.m = map[string]*floorTask{}
	}
	ts.m[id] = t
	go func() {
		ready := false
		for {
			if st, err := ts.d.task(context.Background(), id); err == nil {
				t.set(st)
				if !ready {
					close(t.ready)
					ready = true
				}
			}
			time.Sleep(ts.interval)
		}
	}()
	return t
}

func (t *floorTask) now() (gpubmsv1.TaskStatus, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status, t.changed
}

func (t *floorTask) set(st gpubmsv1.TaskStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st != t.status {
		t.status = st
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

func (f *floorServer) DescribeGpuDetail(ctx context.Context, req *gpubmsv1.DescribeGpuDetailRequest) (*gpubmsv1.DescribeGpuDetailResponse, error) {
	var d upstream.DescribeGpuDetailData
	if err := f.d.get(ctx, upstream.ActionDescribeGpuDetail, url.Values{"ResourceId": {req.GetResourceId()}}, &d); err != nil {
		return nil, err
	}
	// The whole reply, as gpubms gives it, so that both send the caller
	// the same message.
	out := &gpubmsv1.DescribeGpuDetailResponse{
		ResourceId: d.ResourceID, Name: d.Name, Cpu: d.CPU, Ram: d.RAM, State: d.State, Status: d.Status,
		AppId: d.AppID, RegionId: d.RegionID, AppName: d.AppName, RegionName: d.RegionName, ImageName: d.ImageName,
		InstanceChargeType: d.InstanceChargeType, BillStatus: d.BillStatus, IsAutoRenewal: d.IsAutoRenewal,
		RunningTime: d.RunningTime, CreateDate: d.CreateDate, ExpireDate: d.ExpireDate,
	}
	if len(d.Networks.NetworkCards) > 0 {
		out.Networks = &gpubmsv1.Networks{}
		for _, c := range d.Networks.NetworkCards {
			out.Networks.NetworkCards = append(out.Networks.NetworkCards, &gpubmsv1.NetworkCard{
				Id: c.ID, VlanId: c.VlanID, IpType: c.IPType, IpVersion: c.IPVersion, IpAddress: c.IPAddress,
				Netmask: c.Netmask, Gateway: c.Gateway, EipAddress: c.EipAddress, EipLinkType: c.EipLinkType,
				Mac: c.Mac, WorkMode: c.WorkMode,
			})
		}
	}
	for _, v := range d.Volumes {
		out.Volumes = append(out.Volumes, &gpubmsv1.Volume{
			Id: v.ID, Type: v.Type, Capacity: int32(min(v.Capacity, math.MaxInt32)), VolumeType: v.VolumeType,
			VolumeId: v.VolumeID, VolumePath: v.VolumePath, UpdateDate: v.UpdateDate,
		})
	}
	return out, nil
}

// sameReply fails tb unless the floor and gpubms answer a DescribeGpuDetail
// with the same message: the comparison is of two ways to one reply.
func sameReply(tb testing.TB, floor, gp gpubmsv1.GpuServiceClient, authed context.Context) {
	tb.Helper()
	req := &gpubmsv1.DescribeGpuDetailRequest{ResourceId: resourceIDs[0]}
	f, err := floor.DescribeGpuDetail(context.Background(), req)
	if err != nil {
		tb.Fatalf("floor: %v", err)
	}
	g, err := gp.DescribeGpuDetail(authed, req)
	if err != nil {
		tb.Fatalf("gpubms: %v", err)
	}
	if !proto.Equal(f, g) {
		tb.Fatalf("the floor answers\n%v\nand gpubms\n%v", f, g)
	}
}

func benchHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 64}}
}

// serveBench runs gpubms, as gpubmsd would be configured in production
// (callers authenticated, metrics, logging, validation, the store), on a
// stand-in provider, until the benchmark ends.
func serveBench(b *testing.B, providerURL string) (grpcAddr, httpAddr string) {
	b.Helper()
	var lc net.ListenConfig
	g, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	h, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	// gpubmsd's own defaults, so that a setting added later is set here as
	// it is in production.
	var cfg app.Config
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		b.Fatal(err)
	}
	cfg.AccessKeyID, cfg.AccessKeySecret = emulatorKeyID, emulatorSecret
	cfg.UpstreamURL = providerURL
	cfg.GRPCAddr, cfg.HTTPAddr, cfg.DataDir = g.Addr().String(), h.Addr().String(), b.TempDir()
	cfg.AuthToken = benchToken
	cfg.WatchPollInterval, cfg.WatchMaxDuration, cfg.WatchMaxPollRate = time.Second, time.Hour, 20
	cfg.Metrics, cfg.LogFormat, cfg.LogLevel = true, "json", slog.LevelInfo
	cfg.Cache = true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, cfg, g, h, cfg.Logger(io.Discard)) }()
	b.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(stopTimeout):
			b.Error("Serve did not return")
		}
	})
	// Serve refuses a bad configuration at once: say why, rather than
	// letting every call fail to connect.
	select {
	case err := <-done:
		b.Fatalf("Serve: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	return g.Addr().String(), h.Addr().String()
}

func dialBench(b *testing.B, addr string) *grpc.ClientConn {
	b.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}

var benchConcurrency = []int{1, 16}

// serveFloor runs the floor proxy on provider until the benchmark ends.
func serveFloor(b *testing.B, provider string) gpubmsv1.GpuServiceClient {
	b.Helper()
	var lc net.ListenConfig
	fl, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	fs := grpc.NewServer()
	gpubmsv1.RegisterGpuServiceServer(fs, &floorServer{d: &directCall{base: provider, hc: benchHTTPClient()}})
	go fs.Serve(fl)
	b.Cleanup(fs.Stop)
	return gpubmsv1.NewGpuServiceClient(dialBench(b, fl.Addr().String()))
}

// BenchmarkDescribeGpuDetail compares the four paths of one uncached read.
func BenchmarkDescribeGpuDetail(b *testing.B) {
	provider := standIn(b, 0)
	direct := &directCall{base: provider, hc: benchHTTPClient()}

	floor := serveFloor(b, provider)

	grpcAddr, httpAddr := serveBench(b, provider)
	gp := gpubmsv1.NewGpuServiceClient(dialBench(b, grpcAddr))
	authed := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+benchToken)
	hc := benchHTTPClient()
	sameReply(b, floor, gp, authed)

	paths := []struct {
		name string
		call func(i int) error
	}{
		{"direct", func(i int) error { return direct.detail(context.Background(), resourceIDs[i%len(resourceIDs)]) }},
		{"floor", func(i int) error {
			_, err := floor.DescribeGpuDetail(context.Background(), &gpubmsv1.DescribeGpuDetailRequest{ResourceId: resourceIDs[i%len(resourceIDs)]})
			return err
		}},
		{"gpubms", func(i int) error {
			_, err := gp.DescribeGpuDetail(authed, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: resourceIDs[i%len(resourceIDs)]})
			return err
		}},
		{"json", func(i int) error {
			req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/v1/gpus/"+resourceIDs[i%len(resourceIDs)], nil)
			req.Header.Set("Authorization", "Bearer "+benchToken)
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			return nil
		}},
	}
	for _, p := range paths {
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", p.name, c), func(b *testing.B) { runConcurrent(b, c, p.call) })
		}
	}
}

// BenchmarkDescribeGpuRegions compares a cached read through gpubms with
// the direct call, against a stand-in that answers at once and one that
// takes 20 ms, as a distant provider does; and, at once, with the floor
// answering from memory: a bare grpc-go server's least work for a call.
func BenchmarkDescribeGpuRegions(b *testing.B) {
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		provider := standIn(b, delay)
		direct := &directCall{base: provider, hc: benchHTTPClient()}
		grpcAddr, _ := serveBench(b, provider)
		gp := gpubmsv1.NewGpuServiceClient(dialBench(b, grpcAddr))
		authed := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+benchToken)
		regions := func(int) error { return direct.regions() }
		var floor gpubmsv1.GpuServiceClient
		if delay == 0 {
			floor = serveFloor(b, provider)
		}
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("delay=%v/direct/c=%d", delay, c), func(b *testing.B) { runConcurrent(b, c, regions) })
			if floor != nil {
				b.Run(fmt.Sprintf("delay=%v/floor/c=%d", delay, c), func(b *testing.B) {
					runConcurrent(b, c, func(int) error {
						_, err := floor.DescribeGpuRegions(context.Background(), &gpubmsv1.DescribeGpuRegionsRequest{})
						return err
					})
				})
			}
			b.Run(fmt.Sprintf("delay=%v/gpubms/c=%d", delay, c), func(b *testing.B) {
				runConcurrent(b, c, func(int) error {
					_, err := gp.DescribeGpuRegions(authed, &gpubmsv1.DescribeGpuRegionsRequest{})
					return err
				})
			})
		}
	}
}
