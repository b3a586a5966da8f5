package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"github.com/google/go-cmp/cmp"
	pvinterceptor "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/signature"
	"github.com/gpubms/gpubms/server/upstream"
)

// The network tests run NetworkService and the network part of a create's
// dry run (checkNetwork) through a real gRPC chain over bufconn, against a
// stand-in provider (netProvider) that serves both the GPU API and the
// network API and answers each request by its Action, from a script per
// action.

const (
	netZone      = "CN_Hohhot_B" // the GPU region (zone) of the tests
	netRegion    = "CN_Hohhot"   // its region code by the rule
	netOtherZone = "CN_Hohhot_A"
	netKeyID     = "AKIDnetwork"
	netSecret    = "network-s3cret"
	netGPUPath   = "/gpubms/v1/"
	netVPCPath   = "/vpc/"
)

// netRequest is one request as the stand-in received it.
type netRequest struct {
	Path   string
	Method string
	Action string
	Body   []byte
	Page   string // the body's PageNumber as sent, raw JSON ("" when absent)
}

// netReply is one scripted answer.
type netReply struct {
	status int
	body   string
}

// netScript answers one action: page is the body's PageNumber without
// quotes ("" when absent), n how many requests of the action came before.
type netScript func(page string, n int) netReply

// netProvider is the stand-in provider. It verifies nothing; it records
// every request and answers by the Action query parameter.
type netProvider struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []netRequest
	scripts map[string]netScript
}

func (p *netProvider) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	action := r.URL.Query().Get(signature.ParamAction)
	var pn struct{ PageNumber json.RawMessage }
	_ = json.Unmarshal(body, &pn)
	p.mu.Lock()
	n := 0
	for _, q := range p.reqs {
		if q.Action == action {
			n++
		}
	}
	p.reqs = append(p.reqs, netRequest{Path: r.URL.Path, Method: r.Method, Action: action, Body: body, Page: string(pn.PageNumber)})
	script := p.scripts[action]
	p.mu.Unlock()
	rep := netReply{status: 400, body: `{"Code":"InvalidAction","Message":"not scripted: ` + action + `"}`}
	if script != nil {
		rep = script(strings.Trim(string(pn.PageNumber), `"`), n)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

// set scripts an action, replacing its script.
func (p *netProvider) set(action string, s netScript) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.scripts[action] = s
}

func (p *netProvider) requests() []netRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs)
}

// of returns the requests of one action, in order.
func (p *netProvider) of(action string) []netRequest {
	var out []netRequest
	for _, r := range p.requests() {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// pages returns the PageNumbers (raw JSON) the action's requests carried.
func (p *netProvider) pages(action string) []string {
	var out []string
	for _, r := range p.of(action) {
		out = append(out, r.Page)
	}
	return out
}

// netLog collects the service's log lines from concurrent handlers.
type netLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *netLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *netLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// netHarness is the service, GpuService and NetworkService, on a real gRPC
// server behind the protovalidate interceptor, as newHarness builds it,
// with the network API at the stand-in too.
type netHarness struct {
	gpu  gpubmsv1.GpuServiceClient
	net  gpubmsv1.NetworkServiceClient
	prov *netProvider
	logs *netLog
}

// newNetHarness starts a harness whose provider answers the default
// scripts (netDefaultScripts) until a test sets its own.
func newNetHarness(t *testing.T, upOpts []upstream.Option, svcOpts ...Option) *netHarness {
	t.Helper()
	prov := &netProvider{scripts: netDefaultScripts()}
	prov.srv = httptest.NewServer(http.HandlerFunc(prov.serve))
	t.Cleanup(prov.srv.Close)
	logs := &netLog{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := append([]upstream.Option{
		upstream.WithRetry(3, time.Microsecond, 10*time.Microsecond),
		upstream.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}),
		upstream.WithLogger(logger),
		upstream.WithVPCBaseURL(prov.srv.URL + "/vpc"),
	}, upOpts...)
	up, err := upstream.New(prov.srv.URL+"/gpubms/v1", netKeyID, netSecret, opts...)
	if err != nil {
		t.Fatalf("upstream.New: %v", err)
	}
	validator, err := protovalidate.New()
	if err != nil {
		t.Fatalf("protovalidate.New: %v", err)
	}
	svc := New(up, append([]Option{WithLogger(logger)}, svcOpts...)...)
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(pvinterceptor.UnaryServerInterceptor(validator)))
	gpubmsv1.RegisterGpuServiceServer(gs, svc)
	gpubmsv1.RegisterNetworkServiceServer(gs, svc.Networks())
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &netHarness{gpu: gpubmsv1.NewGpuServiceClient(conn), net: gpubmsv1.NewNetworkServiceClient(conn), prov: prov, logs: logs}
}

// Replies.

func netOK(data string) netReply {
	return netReply{status: 200, body: `{"Code":"Success","Message":"Success.","Data":` + data + `}`}
}

func netFail(status int, code, msg string) netReply {
	return netReply{status: status, body: fmt.Sprintf(`{"Code":%q,"Message":%q,"Data":null}`, code, msg)}
}

func always(r netReply) netScript { return func(string, int) netReply { return r } }

// byPage answers each page from pages, and any other page with other.
func byPage(pages map[string]netReply, other netReply) netScript {
	return func(page string, _ int) netReply {
		if r, ok := pages[page]; ok {
			return r
		}
		return other
	}
}

func netJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// The fixtures: VPCs, subnets and EIPs of region CN_Hohhot.

type fxVPC struct{ id, name, cidr string }

func (v fxVPC) wire() map[string]any {
	// The provider's spelling of the name.
	return map[string]any{"VPCId": v.id, "VPCNmae": v.name, "VPCSegment": v.cidr, "Status": "ok", "RegionCode": netRegion, "CreateTime": "2024-05-06 07:08:09"}
}

func (v fxVPC) proto() *gpubmsv1.Vpc {
	return &gpubmsv1.Vpc{VpcId: v.id, VpcName: v.name, VpcSegment: v.cidr, Status: "ok", RegionCode: netRegion, CreateTime: "2024-05-06 07:08:09"}
}

type fxSubnet struct{ id, vpc, vpcName, zone, cidr string }

func (s fxSubnet) wire() map[string]any {
	return map[string]any{
		"SubnetId": s.id, "SubnetName": "sn-" + s.id, "SubnetSegment": s.cidr, "UsedIPNum": 3,
		"VPCId": s.vpc, "VPCName": s.vpcName, "AvailableZoneCode": s.zone, "Status": "ok",
	}
}

func (s fxSubnet) proto() *gpubmsv1.Subnet {
	return &gpubmsv1.Subnet{
		SubnetId: s.id, SubnetName: "sn-" + s.id, SubnetSegment: s.cidr, UsedIpNum: 3,
		VpcId: s.vpc, VpcName: s.vpcName, AvailableZoneCode: s.zone, Status: "ok",
	}
}

type fxEIP struct {
	id, ip, zone string
	bound        bool
}

func (e fxEIP) wire() map[string]any {
	m := map[string]any{
		"Id": e.id, "IP": e.ip, "RegionCode": netRegion, "AvailableZoneCode": e.zone, "Status": "ok",
		"Description": "d-" + e.id, "IsBind": e.bound, "CreateTime": "2024-05-06 07:08:09",
		"BandwidthInfo": map[string]any{
			"Id": "bw-" + e.id, "Name": "bw", "Qos": 10, "AvailableZoneCode": e.zone,
			"BandwidthType": "Bandwidth_China_Telecom", "BillScheme": "BandwIdth", "Status": "ok", "CreateTime": "2024-05-06 07:08:09",
		},
		"BindResourceInfo": nil,
	}
	if e.bound {
		m["BindResourceInfo"] = map[string]any{"SubnetId": "f912", "SubnetIP": "10.15.1.9"}
	}
	return m
}

func (e fxEIP) proto() *gpubmsv1.Eip {
	out := &gpubmsv1.Eip{
		Id: e.id, Ip: e.ip, RegionCode: netRegion, AvailableZoneCode: e.zone, Status: "ok",
		Description: "d-" + e.id, IsBind: e.bound, CreateTime: "2024-05-06 07:08:09",
		Bandwidth: &gpubmsv1.EipBandwidth{
			Id: "bw-" + e.id, Name: "bw", Qos: 10, AvailableZoneCode: e.zone,
			BandwidthType: "Bandwidth_China_Telecom", BillScheme: "BandwIdth", Status: "ok", CreateTime: "2024-05-06 07:08:09",
		},
	}
	if e.bound {
		out.Binding = &gpubmsv1.EipBinding{SubnetId: "f912", SubnetIp: "10.15.1.9"}
	}
	return out
}

func vpcPage(total int, vpcs ...fxVPC) netReply {
	items := []any{}
	for _, v := range vpcs {
		items = append(items, v.wire())
	}
	return netOK(netJSON(map[string]any{"Total": total, "VPCList": items}))
}

func subnetPage(total int, subnets ...fxSubnet) netReply {
	items := []any{}
	for _, s := range subnets {
		items = append(items, s.wire())
	}
	return netOK(netJSON(map[string]any{"Total": total, "SubnetList": items}))
}

func eipList(eips ...fxEIP) netReply {
	items := []any{}
	for _, e := range eips {
		items = append(items, e.wire())
	}
	return netOK(netJSON(map[string]any{"Total": len(eips), "EIPList": items}))
}

var (
	fxMain      = fxVPC{"f910", "main", "10.15.0.0/16"}
	fxSecond    = fxVPC{"f920", "second", "10.16.0.0/16"}
	fxElsewhere = fxVPC{"f950", "elsewhere", "10.18.0.0/16"} // subnets in another zone only
	fxVPCs      = []fxVPC{fxMain, fxSecond, fxElsewhere}

	fxSubnetMain  = fxSubnet{"f912", "f910", "main", netZone, "10.15.1.0/24"}
	fxSubnetA     = fxSubnet{"f913", "f910", "main", netOtherZone, "10.15.2.0/24"}
	fxSubnet28    = fxSubnet{"f914", "f910", "main", netZone, "10.15.4.20/28"} // unaligned: 10.15.4.16/28
	fxSubnetAuto  = fxSubnet{"f931", "f910", "main", netZone, "auto"}          // not a CIDR
	fxSubnet2     = fxSubnet{"f922", "f920", "second", netZone, "10.16.1.0/24"}
	fxSubnetGhost = fxSubnet{"f930", "f930", "ghost", netZone, "10.17.0.0/24"} // its VPC is not listed
	fxSubnetElse  = fxSubnet{"f951", "f950", "elsewhere", netOtherZone, "10.18.1.0/24"}
	fxSubnets     = []fxSubnet{fxSubnetMain, fxSubnetA, fxSubnet28, fxSubnetAuto, fxSubnet2, fxSubnetGhost, fxSubnetElse}

	fxFree     = fxEIP{"e1", "203.0.113.1", "", false}
	fxBound    = fxEIP{"e2", "203.0.113.2", "", true}
	fxEdgeA    = fxEIP{"e3", "203.0.113.3", netOtherZone, false} // an edge site's, of another zone
	fxEdgeHere = fxEIP{"e4", "203.0.113.4", netZone, false}
	fxEIPs     = []fxEIP{fxFree, fxBound, fxEdgeA, fxEdgeHere}
)

// netDefaultScripts is a region CN_Hohhot whose zone CN_Hohhot_B sells
// goods 7955 compute f7d3 (5 in stock) with public image d601, and has the
// fixtures' networks, each listing on one page.
func netDefaultScripts() map[string]netScript {
	return map[string]netScript{
		upstream.ActionDescribeGpuRegions: always(netOK(`[{"RegionId":"CN_Hohhot_B","RegionName":"呼和浩特B"},{"RegionId":"CN_Hohhot_A","RegionName":"呼和浩特A"}]`)),
		upstream.ActionDescribeGpuGoods: always(netOK(`{"PostPaid":[{"GoodsId":7955,"GoodsName":"G1","Computes":[{"Id":"f7d3","Cpu":32,"Ram":64,"PurchaseNum":5}]}],
			"PrePaid":[{"GoodsId":7955,"GoodsName":"G1","Computes":[{"Id":"f7d3","Cpu":32,"Ram":64,"PurchaseNum":5}]}]}`)),
		upstream.ActionDescribeGpuImage: func(string, int) netReply {
			return netOK(`{"Ubuntu":[{"Id":"d601","Name":"ubuntu22.04_64","Type":"public"}]}`)
		},
		upstream.ActionDescribeGpuGoodsPrice: always(netOK(`{"Currency":"CN","TradeAmount":"10.00","UnitPrice":"10.00"}`)),
		upstream.ActionDescribeVPC:           byPage(map[string]netReply{"1": vpcPage(len(fxVPCs), fxVPCs...)}, vpcPage(len(fxVPCs))),
		upstream.ActionDescribeSubnet:        byPage(map[string]netReply{"1": subnetPage(len(fxSubnets), fxSubnets...)}, subnetPage(len(fxSubnets))),
		upstream.ActionDescribeEIP:           always(eipList(fxEIPs...)),
	}
}

// netCreate is a create in the fixtures' main subnet that the default
// scripts accept.
func netCreate() *gpubmsv1.CreateGpuInstanceRequest {
	return &gpubmsv1.CreateGpuInstanceRequest{
		RegionId:           netZone,
		VpcNetwork:         &gpubmsv1.VpcNetwork{VpcId: "f910", NetId: "f912"},
		Password:           "Create-pw-0001",
		InstanceName:       "bms",
		InstanceChargeType: "PostPaid",
		ComputeId:          "f7d3",
		GoodsId:            7955,
		ImageId:            "d601",
		Amount:             1,
		ValidateOnly:       true,
	}
}

// netFields is what the BadRequest details of err name.
func netFields(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

// netInfoAction is the action of err's ErrorInfo ("" without one).
func netInfoAction(err error) string {
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei.GetMetadata()["action"]
		}
	}
	return ""
}

// TestNetworkReadsRPC: the three network reads reach the network API's base
// URL as POSTs with the JSON body the provider documents (DescribeVPC's
// PageNumber a number, DescribeSubnet's a string), and map its reply field
// by field (the VPCNmae spelling, the binding of a bound EIP).
func TestNetworkReadsRPC(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		call   func(context.Context, gpubmsv1.NetworkServiceClient) (proto.Message, error)
		action string
		body   string
		want   proto.Message
	}{
		{
			name: "DescribeVPC",
			call: func(ctx context.Context, c gpubmsv1.NetworkServiceClient) (proto.Message, error) {
				return c.DescribeVPC(ctx, &gpubmsv1.DescribeVPCRequest{RegionCode: netRegion, PageNumber: proto.Int32(2), Keyword: "ma"})
			},
			action: upstream.ActionDescribeVPC,
			body:   `{"RegionCode":"CN_Hohhot","PageNumber":2,"Keyword":"ma"}`,
			want:   &gpubmsv1.DescribeVPCResponse{Total: 3, Vpcs: []*gpubmsv1.Vpc{fxMain.proto()}},
		},
		{
			name: "DescribeVPC/empty request",
			call: func(ctx context.Context, c gpubmsv1.NetworkServiceClient) (proto.Message, error) {
				return c.DescribeVPC(ctx, &gpubmsv1.DescribeVPCRequest{})
			},
			action: upstream.ActionDescribeVPC,
			body:   `{}`,
			want:   &gpubmsv1.DescribeVPCResponse{Total: 3, Vpcs: []*gpubmsv1.Vpc{fxMain.proto()}},
		},
		{
			name: "DescribeSubnet",
			call: func(ctx context.Context, c gpubmsv1.NetworkServiceClient) (proto.Message, error) {
				return c.DescribeSubnet(ctx, &gpubmsv1.DescribeSubnetRequest{
					RegionCode: netRegion, Keyword: "k", PageNumber: proto.Int32(3), VpcId: "f910", AvailableZoneCode: netZone,
				})
			},
			action: upstream.ActionDescribeSubnet,
			body:   `{"RegionCode":"CN_Hohhot","Keyword":"k","PageNumber":"3","VPCId":"f910","AvailableZoneCode":"CN_Hohhot_B"}`,
			want:   &gpubmsv1.DescribeSubnetResponse{Total: 7, Subnets: []*gpubmsv1.Subnet{fxSubnetMain.proto()}},
		},
		{
			name: "DescribeSubnet/region only",
			call: func(ctx context.Context, c gpubmsv1.NetworkServiceClient) (proto.Message, error) {
				return c.DescribeSubnet(ctx, &gpubmsv1.DescribeSubnetRequest{RegionCode: netRegion})
			},
			action: upstream.ActionDescribeSubnet,
			body:   `{"RegionCode":"CN_Hohhot"}`,
			want:   &gpubmsv1.DescribeSubnetResponse{Total: 7, Subnets: []*gpubmsv1.Subnet{fxSubnetMain.proto()}},
		},
		{
			name: "DescribeEIP",
			call: func(ctx context.Context, c gpubmsv1.NetworkServiceClient) (proto.Message, error) {
				return c.DescribeEIP(ctx, &gpubmsv1.DescribeEIPRequest{RegionCode: netRegion, AvailableZoneCode: netZone, Keyword: "203.0"})
			},
			action: upstream.ActionDescribeEIP,
			body:   `{"RegionCode":"CN_Hohhot","AvailableZoneCode":"CN_Hohhot_B","Keyword":"203.0"}`,
			want:   &gpubmsv1.DescribeEIPResponse{Total: 2, Eips: []*gpubmsv1.Eip{fxFree.proto(), fxBound.proto()}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newNetHarness(t, nil)
			h.prov.set(upstream.ActionDescribeVPC, always(vpcPage(3, fxMain)))
			h.prov.set(upstream.ActionDescribeSubnet, always(subnetPage(7, fxSubnetMain)))
			h.prov.set(upstream.ActionDescribeEIP, always(eipList(fxFree, fxBound)))
			got, err := tc.call(t.Context(), h.net)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
			reqs := h.prov.requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d provider requests, want 1: %+v", len(reqs), reqs)
			}
			r := reqs[0]
			if r.Action != tc.action || r.Method != http.MethodPost || r.Path != netVPCPath {
				t.Errorf("got %s %s (Action %s), want POST %s (Action %s)", r.Method, r.Path, r.Action, netVPCPath, tc.action)
			}
			var want, gotBody any
			if err := json.Unmarshal([]byte(tc.body), &want); err != nil {
				t.Fatalf("bad want body: %v", err)
			}
			if err := json.Unmarshal(r.Body, &gotBody); err != nil {
				t.Fatalf("body %q is not JSON: %v", r.Body, err)
			}
			if diff := cmp.Diff(want, gotBody); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("a provider error is mapped", func(t *testing.T) {
		t.Parallel()
		h := newNetHarness(t, nil)
		h.prov.set(upstream.ActionDescribeSubnet, always(netFail(400, "ParameterInvalid", "RegionCode is wrong")))
		got, err := h.net.DescribeSubnet(t.Context(), &gpubmsv1.DescribeSubnetRequest{RegionCode: netRegion})
		if status.Code(err) != codes.InvalidArgument || got != nil || netInfoAction(err) != upstream.ActionDescribeSubnet {
			t.Fatalf("got %v, %v (action %q), want InvalidArgument of DescribeSubnet and no reply", got, err, netInfoAction(err))
		}
	})
}

// TestFindNetworksPages: FindNetworks reads every page of the subnets (and
// the VPCs), asking for pages 1, 2, ... until it has Total items, or, when
// the provider reports no Total, until a page is empty.
func TestFindNetworksPages(t *testing.T) {
	t.Parallel()
	s1 := fxSubnet{"s1", "f910", "main", netZone, "10.15.11.0/24"}
	s2 := fxSubnet{"s2", "f910", "main", netZone, "10.15.12.0/24"}
	s3 := fxSubnet{"s3", "f910", "main", netZone, "10.15.13.0/24"}
	sA := fxSubnet{"sA", "f910", "main", netOtherZone, "10.15.14.0/24"}
	empty := subnetPage(0)
	for _, tc := range []struct {
		name        string
		vpcs        netScript
		subnets     netScript
		wantVPCs    []fxVPC
		wantSubnets map[string][]fxSubnet // by VPC
		vpcPages    []string
		subnetPages []string
	}{
		{
			name:     "subnets on two pages",
			vpcs:     always(vpcPage(1, fxMain)),
			subnets:  byPage(map[string]netReply{"1": subnetPage(3, s1, s2), "2": subnetPage(3, s3)}, netFail(400, "ParameterInvalid", "no such page")),
			wantVPCs: []fxVPC{fxMain}, wantSubnets: map[string][]fxSubnet{"f910": {s1, s2, s3}},
			vpcPages: []string{"1"}, subnetPages: []string{`"1"`, `"2"`},
		},
		{
			name:     "another zone's subnet on page 2 is left out",
			vpcs:     always(vpcPage(1, fxMain)),
			subnets:  byPage(map[string]netReply{"1": subnetPage(4, s1, s2), "2": subnetPage(4, sA, s3)}, netFail(400, "ParameterInvalid", "no such page")),
			wantVPCs: []fxVPC{fxMain}, wantSubnets: map[string][]fxSubnet{"f910": {s1, s2, s3}},
			vpcPages: []string{"1"}, subnetPages: []string{`"1"`, `"2"`},
		},
		{
			name:     "no Total: until an empty page",
			vpcs:     always(vpcPage(1, fxMain)),
			subnets:  byPage(map[string]netReply{"1": subnetPage(0, s1, s2), "2": subnetPage(0, s3)}, empty),
			wantVPCs: []fxVPC{fxMain}, wantSubnets: map[string][]fxSubnet{"f910": {s1, s2, s3}},
			vpcPages: []string{"1"}, subnetPages: []string{`"1"`, `"2"`, `"3"`},
		},
		{
			name:     "VPCs on two pages, in the provider's order",
			vpcs:     byPage(map[string]netReply{"1": vpcPage(2, fxSecond), "2": vpcPage(2, fxMain)}, netFail(400, "ParameterInvalid", "no such page")),
			subnets:  always(subnetPage(3, s1, fxSubnet2, s2)),
			wantVPCs: []fxVPC{fxSecond, fxMain}, wantSubnets: map[string][]fxSubnet{"f910": {s1, s2}, "f920": {fxSubnet2}},
			vpcPages: []string{"1", "2"}, subnetPages: []string{`"1"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newNetHarness(t, nil)
			h.prov.set(upstream.ActionDescribeVPC, tc.vpcs)
			h.prov.set(upstream.ActionDescribeSubnet, tc.subnets)
			got, err := h.net.FindNetworks(t.Context(), &gpubmsv1.FindNetworksRequest{RegionId: netZone})
			if err != nil {
				t.Fatal(err)
			}
			want := &gpubmsv1.FindNetworksResponse{RegionId: netZone, RegionCode: netRegion,
				FreeEips: []*gpubmsv1.Eip{fxFree.proto(), fxEdgeHere.proto()}}
			for _, v := range tc.wantVPCs {
				c := &gpubmsv1.NetworkChoice{Vpc: v.proto()}
				for _, s := range tc.wantSubnets[v.id] {
					c.Subnets = append(c.Subnets, s.proto())
				}
				want.Vpcs = append(want.Vpcs, c)
			}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("FindNetworks mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.subnetPages, h.prov.pages(upstream.ActionDescribeSubnet)); diff != "" {
				t.Errorf("DescribeSubnet PageNumbers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.vpcPages, h.prov.pages(upstream.ActionDescribeVPC)); diff != "" {
				t.Errorf("DescribeVPC PageNumbers (-want +got):\n%s", diff)
			}
			for _, r := range h.prov.requests() {
				var b struct{ RegionCode string }
				if r.Path == netVPCPath && (json.Unmarshal(r.Body, &b) != nil || b.RegionCode != netRegion) {
					t.Errorf("%s body %s: want RegionCode %s", r.Action, r.Body, netRegion)
				}
			}
		})
	}
}

// TestFindNetworksIgnoredPageNumber: a provider that answers the same page
// whatever PageNumber says (and a Total larger than what it lists) is read
// twice, the second page bringing nothing new, and nothing is listed twice;
// one that brings new ids on every page is read maxNetworkPages times, not
// forever, and the truncation is logged.
func TestFindNetworksIgnoredPageNumber(t *testing.T) {
	t.Parallel()
	s1 := fxSubnet{"s1", "f910", "main", netZone, "10.15.11.0/24"}
	s2 := fxSubnet{"s2", "f910", "main", netZone, "10.15.12.0/24"}
	for _, tc := range []struct {
		name                   string
		vpcs, subnets          netScript
		wantVPCReqs, wantSNReq int
		wantVPCs               []string
		wantSubnets            []string
		truncated              bool
	}{
		{
			name:        "subnets",
			vpcs:        always(vpcPage(1, fxMain)),
			subnets:     always(subnetPage(10, s1, s2)),
			wantVPCReqs: 1, wantSNReq: 2,
			wantVPCs: []string{"f910"}, wantSubnets: []string{"s1", "s2"},
		},
		{
			name:        "VPCs",
			vpcs:        always(vpcPage(10, fxMain, fxSecond)),
			subnets:     always(subnetPage(2, s1, fxSubnet2)),
			wantVPCReqs: 2, wantSNReq: 1,
			wantVPCs: []string{"f910", "f920"}, wantSubnets: []string{"s1", "f922"},
		},
		{
			name: "new ids on every page, forever",
			vpcs: always(vpcPage(1, fxMain)),
			subnets: func(page string, _ int) netReply {
				return subnetPage(1<<20, fxSubnet{"p" + page, "f910", "main", netZone, "10.15.0.0/24"})
			},
			wantVPCReqs: 1, wantSNReq: maxNetworkPages,
			wantVPCs:  []string{"f910"},
			truncated: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newNetHarness(t, nil)
			h.prov.set(upstream.ActionDescribeVPC, tc.vpcs)
			h.prov.set(upstream.ActionDescribeSubnet, tc.subnets)
			got, err := h.net.FindNetworks(t.Context(), &gpubmsv1.FindNetworksRequest{RegionId: netZone})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(h.prov.of(upstream.ActionDescribeVPC)); n != tc.wantVPCReqs {
				t.Errorf("sent %d DescribeVPC, want %d", n, tc.wantVPCReqs)
			}
			if n := len(h.prov.of(upstream.ActionDescribeSubnet)); n != tc.wantSNReq {
				t.Errorf("sent %d DescribeSubnet, want %d", n, tc.wantSNReq)
			}
			var vpcs, subnets []string
			for _, c := range got.GetVpcs() {
				vpcs = append(vpcs, c.GetVpc().GetVpcId())
				for _, s := range c.GetSubnets() {
					subnets = append(subnets, s.GetSubnetId())
				}
			}
			if diff := cmp.Diff(tc.wantVPCs, vpcs); diff != "" {
				t.Errorf("VPCs (-want +got):\n%s", diff)
			}
			if tc.truncated {
				if len(subnets) != maxNetworkPages {
					t.Errorf("got %d subnets, want the %d of the pages read", len(subnets), maxNetworkPages)
				}
				if !strings.Contains(h.logs.String(), "network listing truncated") {
					t.Errorf("no truncation warning in the log:\n%s", h.logs.String())
				}
			} else if diff := cmp.Diff(tc.wantSubnets, subnets); diff != "" {
				t.Errorf("subnets (-want +got):\n%s", diff)
			}
			seen := map[string]bool{}
			for _, s := range subnets {
				if seen[s] {
					t.Errorf("subnet %s listed twice", s)
				}
				seen[s] = true
			}
		})
	}
}

// TestFindNetworksZone: of the region's networks, FindNetworks answers the
// VPCs with a subnet in the zone (listed ones in the provider's order, then
// those known only from their subnets, named as the subnet names them),
// each with its subnets in the zone only; and the EIPs that are unbound and
// usable in the zone (not another edge zone's).
func TestFindNetworksZone(t *testing.T) {
	t.Parallel()
	h := newNetHarness(t, nil)
	got, err := h.net.FindNetworks(t.Context(), &gpubmsv1.FindNetworksRequest{RegionId: netZone})
	if err != nil {
		t.Fatal(err)
	}
	want := &gpubmsv1.FindNetworksResponse{
		RegionId: netZone, RegionCode: netRegion,
		Vpcs: []*gpubmsv1.NetworkChoice{
			{Vpc: fxMain.proto(), Subnets: []*gpubmsv1.Subnet{fxSubnetMain.proto(), fxSubnet28.proto(), fxSubnetAuto.proto()}},
			{Vpc: fxSecond.proto(), Subnets: []*gpubmsv1.Subnet{fxSubnet2.proto()}},
			// Known only from its subnet: what the subnet says of it.
			{Vpc: &gpubmsv1.Vpc{VpcId: "f930", VpcName: "ghost", RegionCode: netRegion}, Subnets: []*gpubmsv1.Subnet{fxSubnetGhost.proto()}},
		},
		FreeEips: []*gpubmsv1.Eip{fxFree.proto(), fxEdgeHere.proto()},
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("FindNetworks mismatch (-want +got):\n%s", diff)
	}
	for _, a := range []string{upstream.ActionDescribeVPC, upstream.ActionDescribeSubnet, upstream.ActionDescribeEIP} {
		if n := len(h.prov.of(a)); n != 1 {
			t.Errorf("sent %d %s, want 1", n, a)
		}
	}
	for _, r := range h.prov.requests() {
		wantPath := netGPUPath
		if slices.Contains([]string{upstream.ActionDescribeVPC, upstream.ActionDescribeSubnet, upstream.ActionDescribeEIP}, r.Action) {
			wantPath = netVPCPath
		}
		if r.Path != wantPath {
			t.Errorf("%s went to %s, want %s", r.Action, r.Path, wantPath)
		}
	}

	t.Run("the other zone", func(t *testing.T) {
		t.Parallel()
		h := newNetHarness(t, nil)
		got, err := h.net.FindNetworks(t.Context(), &gpubmsv1.FindNetworksRequest{RegionId: netOtherZone})
		if err != nil {
			t.Fatal(err)
		}
		want := &gpubmsv1.FindNetworksResponse{
			RegionId: netOtherZone, RegionCode: netRegion,
			Vpcs: []*gpubmsv1.NetworkChoice{
				{Vpc: fxMain.proto(), Subnets: []*gpubmsv1.Subnet{fxSubnetA.proto()}},
				{Vpc: fxElsewhere.proto(), Subnets: []*gpubmsv1.Subnet{fxSubnetElse.proto()}},
			},
			FreeEips: []*gpubmsv1.Eip{fxFree.proto(), fxEdgeA.proto()},
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("FindNetworks(%s) mismatch (-want +got):\n%s", netOtherZone, diff)
		}
	})
}

// TestFindNetworksFailures: a read that fails fails FindNetworks, with the
// code the provider's answer maps to and the failing action named, and no
// partial answer; reads are retried only when the failure is temporary.
func TestFindNetworksFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		action     string // the failing action
		script     netScript
		code       codes.Code
		field      string // the BadRequest field, if any
		wantReqs   int    // requests of the failing action
		noNetworks bool   // no network read is sent at all
	}{
		{
			name: "DescribeSubnet error envelope", action: upstream.ActionDescribeSubnet,
			script: always(netFail(400, "ParameterInvalid", "RegionCode is wrong")),
			code:   codes.InvalidArgument, wantReqs: 1,
		},
		{
			name: "DescribeSubnet not found", action: upstream.ActionDescribeSubnet,
			script: always(netFail(400, "DataNotExists", "no such region")),
			code:   codes.NotFound, wantReqs: 1,
		},
		{
			name: "DescribeSubnet HTTP 500, retried until exhausted", action: upstream.ActionDescribeSubnet,
			script: always(netFail(500, "ServiceUnavailable", "try later")),
			code:   codes.Unavailable, wantReqs: 3,
		},
		{
			name: "DescribeSubnet HTTP 500 without an envelope, retried", action: upstream.ActionDescribeSubnet,
			script: always(netReply{status: 500, body: "<html>oops</html>"}),
			code:   codes.Unavailable, wantReqs: 3,
		},
		{
			name: "DescribeSubnet page 2 fails", action: upstream.ActionDescribeSubnet,
			script: byPage(map[string]netReply{"1": subnetPage(9, fxSubnetMain)}, netFail(400, "ParameterInvalid", "PageNumber")),
			code:   codes.InvalidArgument, wantReqs: 2,
		},
		{
			name: "DescribeVPC page 2 fails", action: upstream.ActionDescribeVPC,
			script: byPage(map[string]netReply{"1": vpcPage(9, fxMain)}, netFail(400, "ParameterInvalid", "PageNumber")),
			code:   codes.InvalidArgument, wantReqs: 2,
		},
		{
			name: "DescribeEIP fails", action: upstream.ActionDescribeEIP,
			script: always(netFail(400, "AccessDenied", "no")),
			code:   codes.Internal, wantReqs: 1,
		},
		{
			name: "DescribeGpuRegions fails", action: upstream.ActionDescribeGpuRegions,
			script: always(netFail(503, "InternalError", "busy")),
			code:   codes.Unavailable, wantReqs: 3, noNetworks: true,
		},
		{
			name: "the zone is not a GPU region", action: upstream.ActionDescribeGpuRegions,
			script: always(netOK(`[{"RegionId":"CN_Beijing_A","RegionName":"北京A"}]`)),
			code:   codes.NotFound, field: "region_id", wantReqs: 1, noNetworks: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newNetHarness(t, nil)
			h.prov.set(tc.action, tc.script)
			got, err := h.net.FindNetworks(t.Context(), &gpubmsv1.FindNetworksRequest{RegionId: netZone})
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want code %v", err, tc.code)
			}
			if got != nil {
				t.Errorf("got a partial answer %v", got)
			}
			if tc.field != "" {
				if f := netFields(err); !slices.Contains(f, tc.field) {
					t.Errorf("the error names %v, want %s", f, tc.field)
				}
			} else if a := netInfoAction(err); a != tc.action {
				t.Errorf("the error's ErrorInfo names action %q, want %s", a, tc.action)
			}
			if n := len(h.prov.of(tc.action)); n != tc.wantReqs {
				t.Errorf("sent %d %s, want %d", n, tc.action, tc.wantReqs)
			}
			if tc.noNetworks {
				for _, r := range h.prov.requests() {
					if r.Path == netVPCPath {
						t.Errorf("sent %s, want no network read", r.Action)
					}
				}
			}
		})
	}
}

// TestCreateDryRunNetwork: a create's dry run checks its vpc_network
// against the provider's networks, each refusal naming the field at fault
// in a BadRequest detail; what passes is quoted.
func TestCreateDryRunNetwork(t *testing.T) {
	t.Parallel()
	seg := func(addr string) []*gpubmsv1.Segment {
		return []*gpubmsv1.Segment{{SegmentId: "f912", Address: addr}}
	}
	for _, tc := range []struct {
		name      string
		edit      func(*gpubmsv1.CreateGpuInstanceRequest)
		scripts   map[string]netScript
		code      codes.Code
		field     string // "" for none
		msg       string // in the message
		eipReads  int    // DescribeEIP requests
		wantQuote bool
	}{
		{name: "valid", code: codes.OK, wantQuote: true},
		{name: "valid, pinned address", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.Segments = seg("10.15.1.2")
		}, code: codes.OK, wantQuote: true},
		{name: "valid, last host of an unaligned /28", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.NetId, r.VpcNetwork.Segments = "f914", seg("10.15.4.30")
		}, code: codes.OK, wantQuote: true},
		{name: "valid, VPC known only from its subnet", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.VpcId, r.VpcNetwork.NetId = "f930", "f930"
		}, code: codes.OK, wantQuote: true},
		{name: "valid, a free EIP by id", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.ReserveEip, r.VpcNetwork.EipIdList = proto.Bool(true), []string{"e4"}
		}, code: codes.OK, eipReads: 1, wantQuote: true},
		{name: "valid, as many free EIPs as servers", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.ReserveEip, r.Amount = proto.Bool(true), 2
		}, code: codes.OK, eipReads: 1, wantQuote: true},
		{name: "valid, reserve_eip false sends no DescribeEIP", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.ReserveEip = proto.Bool(false)
		}, code: codes.OK, wantQuote: true},

		{name: "VPC not in the region", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.VpcId = "f999"
		}, code: codes.NotFound, field: "vpc_network.vpc_id", msg: "f999"},
		{name: "VPC with subnets in another zone only", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.VpcId, r.VpcNetwork.NetId = "f950", "f951" // f950 is not listed here, and its subnet is of another zone
		}, scripts: map[string]netScript{
			upstream.ActionDescribeVPC: always(vpcPage(1, fxMain)),
		}, code: codes.NotFound, field: "vpc_network.vpc_id"},
		{name: "region with no VPCs", scripts: map[string]netScript{
			upstream.ActionDescribeVPC:    always(vpcPage(0)),
			upstream.ActionDescribeSubnet: always(subnetPage(1, fxSubnetA)),
		}, code: codes.NotFound, field: "vpc_network.vpc_id", msg: "GPUBMS_ZONE_REGIONS"},
		{name: "subnet unknown", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.NetId = "f404"
		}, code: codes.NotFound, field: "vpc_network.net_id", msg: "f404"},
		{name: "subnet of another VPC", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.NetId = "f922"
		}, code: codes.NotFound, field: "vpc_network.net_id", msg: "f920"},
		{name: "subnet of another zone", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.NetId = "f913"
		}, code: codes.NotFound, field: "vpc_network.net_id", msg: netOtherZone},
		{name: "address outside the CIDR", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.Segments = seg("10.15.2.5")
		}, code: codes.InvalidArgument, field: "vpc_network.segments[0].address", msg: "not in subnet"},
		{name: "network address", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.Segments = seg("10.15.1.0")
		}, code: codes.InvalidArgument, field: "vpc_network.segments[0].address", msg: "reserved"},
		{name: "gateway (first host)", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.Segments = seg("10.15.1.1")
		}, code: codes.InvalidArgument, field: "vpc_network.segments[0].address", msg: "reserved"},
		{name: "broadcast address", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.Segments = seg("10.15.1.255")
		}, code: codes.InvalidArgument, field: "vpc_network.segments[0].address", msg: "reserved"},
		{name: "network address of an unaligned /28", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.NetId, r.VpcNetwork.Segments = "f914", seg("10.15.4.16")
		}, code: codes.InvalidArgument, field: "vpc_network.segments[0].address", msg: "reserved"},
		{name: "broadcast of a /28", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.NetId, r.VpcNetwork.Segments = "f914", seg("10.15.4.31")
		}, code: codes.InvalidArgument, field: "vpc_network.segments[0].address", msg: "reserved"},
		{name: "just past a /28", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.NetId, r.VpcNetwork.Segments = "f914", seg("10.15.4.32")
		}, code: codes.InvalidArgument, field: "vpc_network.segments[0].address", msg: "not in subnet"},
		{name: "second address of two at fault", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.Amount = 2
			r.VpcNetwork.Segments = []*gpubmsv1.Segment{{SegmentId: "f912", Address: "10.15.1.7"}, {SegmentId: "f912", Address: "10.15.1.255"}}
		}, code: codes.InvalidArgument, field: "vpc_network.segments[1].address", msg: "reserved"},
		{name: "subnet segment not a CIDR, addresses pinned", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.NetId, r.VpcNetwork.Segments = "f931", seg("10.15.1.2")
		}, code: codes.FailedPrecondition, msg: "not an IPv4 CIDR"},
		{name: "subnet segment not a CIDR, nothing pinned", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.NetId = "f931"
		}, code: codes.OK, wantQuote: true},
		{name: "EIP unknown", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.ReserveEip, r.VpcNetwork.EipIdList = proto.Bool(true), []string{"e404"}
		}, code: codes.NotFound, field: "vpc_network.eip_id_list[0]", msg: "e404", eipReads: 1},
		{name: "EIP of another edge zone", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.ReserveEip, r.VpcNetwork.EipIdList = proto.Bool(true), []string{"e3"}
		}, code: codes.NotFound, field: "vpc_network.eip_id_list[0]", eipReads: 1},
		{name: "EIP bound", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.ReserveEip, r.VpcNetwork.EipIdList = proto.Bool(true), []string{"e2"}
		}, code: codes.FailedPrecondition, field: "vpc_network.eip_id_list[0]", msg: "bound", eipReads: 1},
		{name: "second EIP bound", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.Amount = 2
			r.VpcNetwork.ReserveEip, r.VpcNetwork.EipIdList = proto.Bool(true), []string{"e1", "e2"}
		}, code: codes.FailedPrecondition, field: "vpc_network.eip_id_list[1]", msg: "bound", eipReads: 1},
		{name: "too few free EIPs", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.ReserveEip, r.Amount = proto.Bool(true), 3 // e1 and e4 are free here
		}, code: codes.ResourceExhausted, field: "vpc_network.reserve_eip", msg: "2 unbound", eipReads: 1},
		{name: "DescribeEIP fails", edit: func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.ReserveEip = proto.Bool(true)
		}, scripts: map[string]netScript{
			upstream.ActionDescribeEIP: always(netFail(400, "ParameterInvalid", "RegionCode")),
		}, code: codes.InvalidArgument, eipReads: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newNetHarness(t, nil)
			for a, s := range tc.scripts {
				h.prov.set(a, s)
			}
			req := netCreate()
			if tc.edit != nil {
				tc.edit(req)
			}
			got, err := h.gpu.CreateGpuInstance(t.Context(), req)
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Fatalf("got %v (%q), want code %v", st.Code(), st.Message(), tc.code)
			}
			if tc.field != "" {
				if f := netFields(err); !slices.Contains(f, tc.field) {
					t.Errorf("the error (%q) names %v, want %s", st.Message(), f, tc.field)
				}
			}
			if tc.msg != "" && !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("got message %q, want it to mention %q", st.Message(), tc.msg)
			}
			if tc.wantQuote && got.GetValidation().GetQuote().GetTradeAmount() != "10.00" {
				t.Errorf("got validation %v, want the quote", got.GetValidation())
			}
			if err != nil && got != nil {
				t.Errorf("got a reply %v with the error", got)
			}
			if n := len(h.prov.of(upstream.ActionDescribeEIP)); n != tc.eipReads {
				t.Errorf("sent %d DescribeEIP, want %d", n, tc.eipReads)
			}
			// Each dry run reads the VPCs and subnets (once: one page each);
			// a failing read stops the others, which may not be sent.
			for _, a := range []string{upstream.ActionDescribeVPC, upstream.ActionDescribeSubnet} {
				if n := len(h.prov.of(a)); n > 1 || (n == 0 && tc.code == codes.OK) {
					t.Errorf("sent %d %s, want 1", n, a)
				}
			}
			for _, r := range h.prov.requests() {
				if r.Action == upstream.ActionCreateGpuInstance {
					t.Errorf("a dry run sent CreateGpuInstance")
				}
				if strings.Contains(string(r.Body), "Create-pw-0001") {
					t.Errorf("a dry run sent the password to %s", r.Action)
				}
			}
		})
	}
}

// TestCreateDryRunNetworkRefusesCache: with the network reads cached, a
// FindNetworks answered from the cache sends no DescribeVPC or
// DescribeSubnet, but a dry run sends both (and sees what changed since).
func TestCreateDryRunNetworkRefusesCache(t *testing.T) {
	t.Parallel()
	h := newNetHarness(t, []upstream.Option{upstream.WithCache(upstream.CacheTTLs{Networks: time.Hour})})
	count := func(a string) int { return len(h.prov.of(a)) }
	for i := range 2 {
		if _, err := h.net.FindNetworks(t.Context(), &gpubmsv1.FindNetworksRequest{RegionId: netZone}); err != nil {
			t.Fatalf("FindNetworks #%d: %v", i+1, err)
		}
	}
	if v, s, e := count(upstream.ActionDescribeVPC), count(upstream.ActionDescribeSubnet), count(upstream.ActionDescribeEIP); v != 1 || s != 1 || e != 2 {
		t.Fatalf("two FindNetworks sent %d DescribeVPC, %d DescribeSubnet, %d DescribeEIP; want 1, 1 (cached) and 2 (never cached)", v, s, e)
	}

	if _, err := h.gpu.CreateGpuInstance(t.Context(), netCreate()); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if v, s := count(upstream.ActionDescribeVPC), count(upstream.ActionDescribeSubnet); v != 2 || s != 2 {
		t.Errorf("after the dry run: %d DescribeVPC, %d DescribeSubnet sent in all, want 2 each (the dry run refuses the cache)", v, s)
	}

	// The subnet is gone at the provider; the cache still has it, a dry run
	// does not.
	h.prov.set(upstream.ActionDescribeSubnet, always(subnetPage(1, fxSubnet2)))
	_, err := h.gpu.CreateGpuInstance(t.Context(), netCreate())
	if status.Code(err) != codes.NotFound || !slices.Contains(netFields(err), "vpc_network.net_id") {
		t.Errorf("dry run in a subnet gone: got %v (fields %v), want NotFound vpc_network.net_id", err, netFields(err))
	}
	if s := count(upstream.ActionDescribeSubnet); s != 3 {
		t.Errorf("%d DescribeSubnet sent in all, want 3", s)
	}
}

// TestRegionCode: the network API's region of a zone is the zone without
// its last "_X" part, unless WithZoneRegions says otherwise for that zone;
// FindNetworks and the dry run use it in every network read.
func TestRegionCode(t *testing.T) {
	t.Parallel()
	overrides := map[string]string{"CN_Hohhot_B": "CN_Huhehaote", "US_East": "US_Virginia"}
	for _, tc := range []struct {
		zone, want, wantOverridden string
	}{
		{"CN_Hohhot_B", "CN_Hohhot", "CN_Huhehaote"},
		{"CN_Hohhot_A", "CN_Hohhot", "CN_Hohhot"},
		{"US_West_Coast_A", "US_West_Coast", "US_West_Coast"},
		{"US_East", "US", "US_Virginia"},
		{"Hohhot", "Hohhot", "Hohhot"},
		{"_B", "_B", "_B"},
	} {
		up, err := upstream.New("http://127.0.0.1:1/gpubms/v1", netKeyID, netSecret)
		if err != nil {
			t.Fatal(err)
		}
		if got := New(up).RegionCode(tc.zone); got != tc.want {
			t.Errorf("RegionCode(%q) = %q, want %q", tc.zone, got, tc.want)
		}
		if got := New(up, WithZoneRegions(overrides)).RegionCode(tc.zone); got != tc.wantOverridden {
			t.Errorf("with overrides, RegionCode(%q) = %q, want %q", tc.zone, got, tc.wantOverridden)
		}
	}

	t.Run("the option's map is copied", func(t *testing.T) {
		t.Parallel()
		up, err := upstream.New("http://127.0.0.1:1/gpubms/v1", netKeyID, netSecret)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{"CN_Hohhot_B": "X"}
		s := New(up, WithZoneRegions(m))
		m["CN_Hohhot_B"] = "Y"
		if got := s.RegionCode("CN_Hohhot_B"); got != "X" {
			t.Errorf("RegionCode after the caller changed its map = %q, want X", got)
		}
	})

	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"by the rule", nil, netRegion},
		{"overridden", []Option{WithZoneRegions(map[string]string{netZone: "CN_Huhehaote"})}, "CN_Huhehaote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newNetHarness(t, nil, tc.opts...)
			got, err := h.net.FindNetworks(t.Context(), &gpubmsv1.FindNetworksRequest{RegionId: netZone})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetRegionCode() != tc.want {
				t.Errorf("FindNetworks region_code = %q, want %q", got.GetRegionCode(), tc.want)
			}
			req := netCreate()
			req.VpcNetwork.ReserveEip = proto.Bool(true)
			if _, err := h.gpu.CreateGpuInstance(t.Context(), req); err != nil {
				t.Fatalf("dry run: %v", err)
			}
			n := 0
			for _, r := range h.prov.requests() {
				if r.Path != netVPCPath {
					continue
				}
				n++
				var b struct{ RegionCode string }
				if err := json.Unmarshal(r.Body, &b); err != nil || b.RegionCode != tc.want {
					t.Errorf("%s body %s: want RegionCode %q", r.Action, r.Body, tc.want)
				}
			}
			if n != 6 { // VPCs, subnets and EIPs, for each call
				t.Errorf("sent %d network reads, want 6", n)
			}
		})
	}
}
