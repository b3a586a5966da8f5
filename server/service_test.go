package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/signature"
)

func okData(data string) providerReply {
	return providerReply{status: 200, body: `{"Code":"Success","Message":"Success.","Data":` + data + `}`}
}

type rpcCase struct {
	name     string
	call     func(context.Context, gpubmsv1.GpuServiceClient) (proto.Message, error)
	reply    providerReply
	action   string
	method   string
	query    url.Values // action parameters in the query (GET)
	body     string     // JSON body (POST), compared as JSON values
	want     proto.Message
	password string // must reach the body and nowhere else
}

func validCreate() *gpubmsv1.CreateGpuInstanceRequest {
	return &gpubmsv1.CreateGpuInstanceRequest{
		RegionId:           "CN_Hohhot_B",
		VpcNetwork:         &gpubmsv1.VpcNetwork{VpcId: "f910", NetId: "f912"},
		Password:           "Create-pw-0001",
		InstanceName:       "bms",
		InstanceChargeType: "PostPaid",
		ComputeId:          "f7d3",
		GoodsId:            7955,
		ImageId:            "d601",
		Amount:             1,
	}
}

func rpcCases() []rpcCase {
	return []rpcCase{
		{
			name: "DescribeGpuRegions",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpuRegions(ctx, &gpubmsv1.DescribeGpuRegionsRequest{})
			},
			reply:  okData(`[{"RegionId":"CN_Hohhot_B","RegionName":"中国大陆-呼和浩特-可用区B"},{"RegionId":"CN_Qingyang_A","RegionName":"庆阳"}]`),
			action: "DescribeGpuRegions", method: http.MethodGet, query: url.Values{},
			want: &gpubmsv1.DescribeGpuRegionsResponse{Regions: []*gpubmsv1.Region{
				{RegionId: "CN_Hohhot_B", RegionName: "中国大陆-呼和浩特-可用区B"}, {RegionId: "CN_Qingyang_A", RegionName: "庆阳"},
			}},
		},
		{
			name: "DescribeGpuGoods",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpuGoods(ctx, &gpubmsv1.DescribeGpuGoodsRequest{RegionId: "CN_Hohhot_B"})
			},
			reply: okData(`{"PostPaid":[{"Computes":[{"Cpu":32,"CpuInfo":"Intel Xeon Silver 4110","Disks":[{"Capacity":480,"Count":1,"Id":"ab72","Type":"SSD"}],"Frequency":"2.1GHz","Id":"8fbd","Ram":64,"PurchaseNum":2}],"GoodsId":7685,"GoodsName":"G1"}],
				"PrePaid":[{"Computes":[{"Cpu":16,"CpuInfo":"6148","Disks":[{"Capacity":3200,"Count":2,"Id":"d7a3","Type":"NVME"}],"Frequency":"3.5GHz","Id":"1b69","Ram":128}],"GoodsId":7793,"GoodsName":"G2"}]}`),
			action: "DescribeGpuGoods", method: http.MethodGet, query: url.Values{"RegionId": {"CN_Hohhot_B"}},
			want: &gpubmsv1.DescribeGpuGoodsResponse{
				PostPaid: []*gpubmsv1.Goods{{GoodsId: 7685, GoodsName: "G1", Computes: []*gpubmsv1.Compute{{
					Id: "8fbd", CpuInfo: "Intel Xeon Silver 4110", Cpu: 32, Ram: 64, Frequency: "2.1GHz", PurchaseNum: 2,
					Disks: []*gpubmsv1.Disk{{Id: "ab72", Type: "SSD", Capacity: 480, Count: 1}},
				}}}},
				PrePaid: []*gpubmsv1.Goods{{GoodsId: 7793, GoodsName: "G2", Computes: []*gpubmsv1.Compute{{
					Id: "1b69", CpuInfo: "6148", Cpu: 16, Ram: 128, Frequency: "3.5GHz",
					Disks: []*gpubmsv1.Disk{{Id: "d7a3", Type: "NVME", Capacity: 3200, Count: 2}},
				}}}},
			},
		},
		{
			name: "DescribeGpuGoodsPrice/prepaid month 0 sent",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpuGoodsPrice(ctx, &gpubmsv1.DescribeGpuGoodsPriceRequest{
					RegionId: "CN_Hohhot_B", GoodsId: 7685, ComputeId: "8fbd", InstanceChargeType: "PrePaid", PrepaidMonth: ptr[int32](0), Amount: 100,
				})
			},
			reply:  okData(`{"Currency":"CN","TradeAmount":"6660.00","UnitPrice":"666.00"}`),
			action: "DescribeGpuGoodsPrice", method: http.MethodPost,
			body: `{"RegionId":"CN_Hohhot_B","GoodsId":7685,"ComputeId":"8fbd","InstanceChargeType":"PrePaid","PrepaidMonth":0,"Amount":100}`,
			want: &gpubmsv1.DescribeGpuGoodsPriceResponse{TradeAmount: "6660.00", UnitPrice: "666.00", Currency: "CN"},
		},
		{
			name: "DescribeGpuGoodsPrice/prepaid month unset absent",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpuGoodsPrice(ctx, &gpubmsv1.DescribeGpuGoodsPriceRequest{
					RegionId: "CN_Hohhot_B", GoodsId: 1, ComputeId: "8fbd", InstanceChargeType: "PostPaid", Amount: 1,
				})
			},
			reply:  okData(`{"Currency":"US","TradeAmount":"1.00","UnitPrice":"1.00"}`),
			action: "DescribeGpuGoodsPrice", method: http.MethodPost,
			body: `{"RegionId":"CN_Hohhot_B","GoodsId":1,"ComputeId":"8fbd","InstanceChargeType":"PostPaid","Amount":1}`,
			want: &gpubmsv1.DescribeGpuGoodsPriceResponse{TradeAmount: "1.00", UnitPrice: "1.00", Currency: "US"},
		},
		{
			name: "DescribeGpuImage",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpuImage(ctx, &gpubmsv1.DescribeGpuImageRequest{ImageType: "public", RegionId: "CN_SJZ_B", ComputeId: "219a", OsType: "ubuntu"})
			},
			reply:  okData(`{"Ubuntu":[{"Id":"d32a","Name":"ubuntu14.04_64","Type":"public"}],"Redhat":[{"Id":"232a","Name":"rhel7.6_64","Type":"public"}]}`),
			action: "DescribeGpuImage", method: http.MethodPost,
			body: `{"ImageType":"public","RegionId":"CN_SJZ_B","OsType":"ubuntu","ComputeId":"219a"}`,
			want: &gpubmsv1.DescribeGpuImageResponse{Families: []*gpubmsv1.ImageFamily{
				{OsFamily: "Redhat", Images: []*gpubmsv1.Image{{Id: "232a", Name: "rhel7.6_64", Type: "public"}}},
				{OsFamily: "Ubuntu", Images: []*gpubmsv1.Image{{Id: "d32a", Name: "ubuntu14.04_64", Type: "public"}}},
			}},
		},
		{
			name: "DescribeGpuImage/private, optional fields absent",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpuImage(ctx, &gpubmsv1.DescribeGpuImageRequest{ImageType: "private", RegionId: "CN_SJZ_B"})
			},
			reply:  okData(`null`),
			action: "DescribeGpuImage", method: http.MethodPost,
			body: `{"ImageType":"private","RegionId":"CN_SJZ_B"}`,
			want: &gpubmsv1.DescribeGpuImageResponse{},
		},
		{
			name: "DescribeGpu/empty request is valid",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpu(ctx, &gpubmsv1.DescribeGpuRequest{})
			},
			reply:  okData(`{"Records":[],"TotalCount":0,"PageSize":500,"PageNumber":1,"Pages":0}`),
			action: "DescribeGpu", method: http.MethodGet, query: url.Values{},
			want: &gpubmsv1.DescribeGpuResponse{PageSize: 500, PageNumber: 1},
		},
		{
			name: "DescribeGpu/filters and paging",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpu(ctx, &gpubmsv1.DescribeGpuRequest{AppId: "6d32", Name: "bms 003", PageNumber: ptr[int32](2), PageSize: ptr[int32](10)})
			},
			reply: okData(`{"Records":[{"ResourceId":"0d19","Cpu":32,"CreateDate":"2020-04-16 11:56:58","InstanceChargeType":"PostPaid","IsAutoRenewal":1,
				"Name":"test","RegionId":"CN_Qingyang_A","RegionName":"庆阳","AppName":"SLB","AppId":"6d32","Ram":64,"State":"running","Status":"运行",
				"Networks":{"NetworkCards":[{"Gateway":"10.240.57.1","Id":"69ed","IpAddress":"10.240.57.2","IpType":"subnet","IpVersion":"ipV4",
				"Netmask":"255.255.0.0","VlanId":"3214","EipAddress":"60.165.239.111","EipLinkType":"电信"}]}},
				{"ResourceId":"0d20","Name":"bare"}],"TotalCount":12,"PageSize":10,"PageNumber":2,"Pages":2}`),
			action: "DescribeGpu", method: http.MethodGet,
			query: url.Values{"AppId": {"6d32"}, "Name": {"bms 003"}, "PageNumber": {"2"}, "PageSize": {"10"}},
			want: &gpubmsv1.DescribeGpuResponse{
				Records: []*gpubmsv1.Gpu{
					{
						ResourceId: "0d19", Name: "test", Cpu: 32, Ram: 64, State: "running", Status: "运行",
						RegionId: "CN_Qingyang_A", RegionName: "庆阳", AppId: "6d32", AppName: "SLB",
						InstanceChargeType: "PostPaid", IsAutoRenewal: 1, CreateDate: "2020-04-16 11:56:58",
						Networks: &gpubmsv1.Networks{NetworkCards: []*gpubmsv1.NetworkCard{{
							Id: "69ed", VlanId: "3214", IpType: "subnet", IpVersion: "ipV4", IpAddress: "10.240.57.2",
							Netmask: "255.255.0.0", Gateway: "10.240.57.1", EipAddress: "60.165.239.111", EipLinkType: "电信",
						}}},
					},
					{ResourceId: "0d20", Name: "bare"},
				},
				TotalCount: 12, PageSize: 10, PageNumber: 2, Pages: 2,
			},
		},
		{
			name: "DescribeGpuDetail",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpuDetail(ctx, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: "19cd"})
			},
			reply: okData(`{"ResourceId":"19cd","BillStatus":"1","Cpu":32,"CreateDate":"2020-04-30 11:22:41","ExpireDate":"2020-05-01 00:00:00",
				"ImageName":"centos7.6_64","InstanceChargeType":"PrePaid","IsAutoRenewal":1,"Name":"openapi006","AppId":"2bba","AppName":"vdc","RegionId":"CN_Qingyang_A",
				"Networks":{"NetworkCards":[{"Gateway":"10.240.57.1","Id":"69ed","IpAddress":"10.240.57.3","IpType":"subnet","IpVersion":"ipV4",
				"Netmask":"255.255.0.0","Mac":["6C:92:BF:FF:BD:6A","6C:92:BF:FF:BD:6B"],"VlanId":"3214","WorkMode":"bond6",
				"eipAddress":"60.165.239.111","eipLinkType":"电信"}]},
				"Ram":64,"RegionName":"庆阳","RunningTime":"0天7小时18分钟55秒","State":"rebuilding","Status":"重装中",
				"Volumes":[{"Capacity":480,"Id":"a5f1","Type":"hard","VolumeId":"454a","VolumePath":"sda","VolumeType":"SSD","UpdateDate":"2020-04-17T07:47:23.000+0000"}]}`),
			action: "DescribeGpuDetail", method: http.MethodGet, query: url.Values{"ResourceId": {"19cd"}},
			want: &gpubmsv1.DescribeGpuDetailResponse{
				ResourceId: "19cd", Name: "openapi006", Cpu: 32, Ram: 64, State: "rebuilding", Status: "重装中",
				AppId: "2bba", RegionId: "CN_Qingyang_A", AppName: "vdc", RegionName: "庆阳", ImageName: "centos7.6_64",
				InstanceChargeType: "PrePaid", BillStatus: "1", IsAutoRenewal: 1, RunningTime: "0天7小时18分钟55秒",
				CreateDate: "2020-04-30 11:22:41", ExpireDate: "2020-05-01 00:00:00",
				Volumes: []*gpubmsv1.Volume{{Id: "a5f1", Type: "hard", Capacity: 480, VolumeType: "SSD", VolumeId: "454a", VolumePath: "sda", UpdateDate: "2020-04-17T07:47:23.000+0000"}},
				Networks: &gpubmsv1.Networks{NetworkCards: []*gpubmsv1.NetworkCard{{
					Id: "69ed", VlanId: "3214", IpType: "subnet", IpVersion: "ipV4", IpAddress: "10.240.57.3",
					Netmask: "255.255.0.0", Gateway: "10.240.57.1", EipAddress: "60.165.239.111", EipLinkType: "电信",
					Mac: []string{"6C:92:BF:FF:BD:6A", "6C:92:BF:FF:BD:6B"}, WorkMode: "bond6",
				}}},
			},
		},
		{
			name: "DescribeGpuTask/succeed",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpuTask(ctx, &gpubmsv1.DescribeGpuTaskRequest{TaskId: "f905"})
			},
			reply:  okData(`{"ResourceIds":["27f2","27f3"],"Status":"succeed"}`),
			action: "DescribeGpuTask", method: http.MethodGet, query: url.Values{"TaskId": {"f905"}},
			want: &gpubmsv1.DescribeGpuTaskResponse{Status: "succeed", TaskStatus: gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED, ResourceIds: []string{"27f2", "27f3"}},
		},
		{
			name: "DescribeGpuTask/init",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpuTask(ctx, &gpubmsv1.DescribeGpuTaskRequest{TaskId: "f905"})
			},
			reply:  okData(`{"ResourceIds":["27f2"],"Status":"init"}`),
			action: "DescribeGpuTask", method: http.MethodGet, query: url.Values{"TaskId": {"f905"}},
			want: &gpubmsv1.DescribeGpuTaskResponse{Status: "init", TaskStatus: gpubmsv1.TaskStatus_TASK_STATUS_INIT, ResourceIds: []string{"27f2"}},
		},
		{
			name: "DescribeGpuTask/failed",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpuTask(ctx, &gpubmsv1.DescribeGpuTaskRequest{TaskId: "f905"})
			},
			reply:  okData(`{"ResourceIds":[],"Status":"failed"}`),
			action: "DescribeGpuTask", method: http.MethodGet, query: url.Values{"TaskId": {"f905"}},
			want: &gpubmsv1.DescribeGpuTaskResponse{Status: "failed", TaskStatus: gpubmsv1.TaskStatus_TASK_STATUS_FAILED},
		},
		{
			name: "DescribeGpuTask/unknown status passes through",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DescribeGpuTask(ctx, &gpubmsv1.DescribeGpuTaskRequest{TaskId: "f905"})
			},
			reply:  okData(`{"ResourceIds":["27f2"],"Status":"suspended"}`),
			action: "DescribeGpuTask", method: http.MethodGet, query: url.Values{"TaskId": {"f905"}},
			want: &gpubmsv1.DescribeGpuTaskResponse{Status: "suspended", TaskStatus: gpubmsv1.TaskStatus_TASK_STATUS_UNSPECIFIED, ResourceIds: []string{"27f2"}},
		},
		{
			name: "CreateGpuInstance/every field, explicit zeros",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.CreateGpuInstance(ctx, &gpubmsv1.CreateGpuInstanceRequest{
					RegionId: "CN_Hohhot_B",
					VpcNetwork: &gpubmsv1.VpcNetwork{
						VpcId: "f910", ReserveEip: ptr(true), NetId: "f912", EipIdList: []string{"8e23"},
						Segments: []*gpubmsv1.Segment{{SegmentId: "f912d", Address: "10.15.0.5"}},
					},
					Password: "MengYou&&Cds-2019", InstanceName: "shouduzaixbms", AssignHostNo: "001",
					InstanceChargeType: "PrePaid", AutoRenew: ptr[int32](0), PrepaidMonth: ptr[int32](0),
					ComputeId: "f7d3", GoodsId: 7955, ImageId: "d601", BondMode: "bond6", Raid: ptr[int32](0), Amount: 1,
					CustomPartition: []string{"/", "swap", "/aaa"}, CustomPartitionSize: []int32{100, 128, 300},
					SubjectId: "68327", PortMode: "access",
				})
			},
			reply:  okData(`{"taskId":"f232"}`),
			action: "CreateGpuInstance", method: http.MethodPost, password: "MengYou&&Cds-2019",
			body: `{"RegionId":"CN_Hohhot_B","VpcNetWork":{"VpcId":"f910","ReserveEip":true,"NetId":"f912","EipIdList":["8e23"],
				"Segments":[{"SegmentId":"f912d","Address":"10.15.0.5"}]},"Password":"MengYou&&Cds-2019","InstanceName":"shouduzaixbms",
				"AssignHostNo":"001","InstanceChargeType":"PrePaid","AutoRenew":0,"PrepaidMonth":0,"ComputeId":"f7d3","GoodsId":7955,
				"ImageId":"d601","BondMode":"bond6","Raid":0,"Amount":1,"CustomPartition":["/","swap","/aaa"],"CustomPartitionSize":[100,128,300],
				"SubjectId":"68327","PortMode":"access"}`,
			want: &gpubmsv1.CreateGpuInstanceResponse{TaskId: "f232"},
		},
		{
			name: "CreateGpuInstance/required only, optional fields absent",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.CreateGpuInstance(ctx, validCreate())
			},
			reply:  okData(`{"TaskId":"f233"}`),
			action: "CreateGpuInstance", method: http.MethodPost, password: "Create-pw-0001",
			body: `{"RegionId":"CN_Hohhot_B","VpcNetWork":{"VpcId":"f910","NetId":"f912"},"Password":"Create-pw-0001",
				"InstanceName":"bms","InstanceChargeType":"PostPaid","ComputeId":"f7d3","GoodsId":7955,"ImageId":"d601","Amount":1}`,
			want: &gpubmsv1.CreateGpuInstanceResponse{TaskId: "f233"},
		},
		{
			name: "ReinstallGpu/raid -1 and partitions",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.ReinstallGpu(ctx, &gpubmsv1.ReinstallGpuRequest{
					ResourceId: "d226", ImageId: "d601", Password: "Reinstall-pw-1", Raid: ptr[int32](-1),
					CustomPartition: []string{"/", "swap"}, CustomPartitionSize: []int32{100, 16},
				})
			},
			reply:  okData(`{"TaskIds":["97fe"]}`),
			action: "ReinstallGpu", method: http.MethodPost, password: "Reinstall-pw-1",
			body: `{"ResourceId":"d226","ImageId":"d601","Password":"Reinstall-pw-1","Raid":-1,"CustomPartition":["/","swap"],"CustomPartitionSize":[100,16]}`,
			want: &gpubmsv1.ReinstallGpuResponse{TaskIds: []string{"97fe"}},
		},
		{
			name: "ReinstallGpu/optional fields absent",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.ReinstallGpu(ctx, &gpubmsv1.ReinstallGpuRequest{ResourceId: "d226", ImageId: "d601", Password: "Reinstall-pw-2"})
			},
			reply:  okData(`{"TaskIds":["97ff"]}`),
			action: "ReinstallGpu", method: http.MethodPost, password: "Reinstall-pw-2",
			body: `{"ResourceId":"d226","ImageId":"d601","Password":"Reinstall-pw-2"}`,
			want: &gpubmsv1.ReinstallGpuResponse{TaskIds: []string{"97ff"}},
		},
		{
			name: "OperateGpuPower/TaskIds with Msg",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.OperateGpuPower(ctx, &gpubmsv1.OperateGpuPowerRequest{Operate: "stop", ResourceIds: []string{"2df3", "2df4"}})
			},
			reply:  providerReply{status: 200, body: `{"Code":"Success","Msg":"操作下发成功","Data":{"ResourceIds":["2df3","2df4"],"TaskIds":["72dc","72dd"]}}`},
			action: "OperateGpuPower", method: http.MethodPost,
			body: `{"Operate":"stop","ResourceIds":["2df3","2df4"]}`,
			want: &gpubmsv1.OperateGpuPowerResponse{TaskIds: []string{"72dc", "72dd"}, ResourceIds: []string{"2df3", "2df4"}},
		},
		{
			name: "OperateGpuPower/TaskId spelling",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.OperateGpuPower(ctx, &gpubmsv1.OperateGpuPowerRequest{Operate: "start", ResourceIds: []string{"2df3"}})
			},
			reply:  okData(`{"ResourceIds":["2df3"],"TaskId":["72dc"]}`),
			action: "OperateGpuPower", method: http.MethodPost,
			body: `{"Operate":"start","ResourceIds":["2df3"]}`,
			want: &gpubmsv1.OperateGpuPowerResponse{TaskIds: []string{"72dc"}, ResourceIds: []string{"2df3"}},
		},
		{
			name: "DeleteGpuInstances",
			call: func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
				return c.DeleteGpuInstances(ctx, &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: []string{"00cc", "00cd"}})
			},
			reply:  providerReply{status: 200, body: `{"Code":"Success","Msg":"任务下发成功!","Data":{}}`},
			action: "DeleteGpuInstances", method: http.MethodPost,
			body: `{"ResourceIds":["00cc","00cd"]}`,
			want: &gpubmsv1.DeleteGpuInstancesResponse{},
		},
	}
}

// TestRPCs sends every RPC through a real gRPC server and checks the exact
// provider request (method, action, query or body, signature) and the reply
// mapped field by field.
func TestRPCs(t *testing.T) {
	t.Parallel()
	for _, tc := range rpcCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil, tc.reply)
			got, err := tc.call(t.Context(), h.client)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
			reqs := h.prov.requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d provider requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.SigErr != nil {
				t.Errorf("signature does not verify: %v", r.SigErr)
			}
			if r.Method != tc.method {
				t.Errorf("got method %s, want %s", r.Method, tc.method)
			}
			if got := r.Query.Get(signature.ParamAction); got != tc.action {
				t.Errorf("got Action %q, want %q", got, tc.action)
			}
			if tc.method == http.MethodGet {
				if diff := cmp.Diff(tc.query, actionParams(r.Query)); diff != "" {
					t.Errorf("query mismatch (-want +got):\n%s", diff)
				}
			} else {
				if got := actionParams(r.Query); len(got) != 0 {
					t.Errorf("got action parameters %v in a POST query, want none", got)
				}
				var want, gotBody any
				if err := json.Unmarshal([]byte(tc.body), &want); err != nil {
					t.Fatalf("bad want body: %v", err)
				}
				if err := json.Unmarshal(r.Body, &gotBody); err != nil {
					t.Fatalf("body is not JSON: %v", err)
				}
				if diff := cmp.Diff(want, gotBody); diff != "" {
					t.Errorf("body mismatch (-want +got):\n%s", diff)
				}
			}
			if tc.password != "" && strings.Contains(h.logs.String(), tc.password) {
				t.Errorf("log holds the password: %s", h.logs.String())
			}
		})
	}
}
