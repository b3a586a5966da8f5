package upstream

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gpubms/gpubms/server/signature"
)

// actionCase is one action: what the client must send and what it must make
// of the provider's reply.
type actionCase struct {
	name      string
	call      func(context.Context, *Client) (any, error)
	reply     reply
	action    string
	method    string
	query     url.Values // action parameters in the query (GET only)
	body      string     // JSON body (POST only), compared as JSON values
	want      any
	mutating  bool
	passwords []string // must reach the body, never a log or error
}

func actionCases() []actionCase {
	return []actionCase{
		{
			name: "DescribeGpuRegions",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpuRegions(ctx, &DescribeGpuRegionsRequest{})
			},
			reply:  ok(`[{"RegionId":"CN_Hohhot_B","RegionName":"中国大陆-呼和浩特-可用区B"}]`),
			action: ActionDescribeGpuRegions, method: http.MethodGet, query: url.Values{},
			want: []Region{{RegionID: "CN_Hohhot_B", RegionName: "中国大陆-呼和浩特-可用区B"}},
		},
		{
			name: "DescribeGpuGoods",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpuGoods(ctx, &DescribeGpuGoodsRequest{RegionID: "CN_Hohhot_B"})
			},
			reply: ok(`{"PostPaid":[{"Computes":[{"Cpu":32,"CpuInfo":"Intel Xeon Silver 4110","Disks":[{"Capacity":480,"Count":1,"Id":"ab72","Type":"SSD"}],"Frequency":"2.1GHz","Id":"8fbd","Ram":64,"PurchaseNum":3}],"GoodsId":7685,"GoodsName":"GPU服务器-02SS01（公测）"}],
				"PrePaid":[{"Computes":[{"Cpu":32,"CpuInfo":"Intel Xeon Silver 6148","Disks":[{"Capacity":3200,"Count":2,"Id":"d7a3","Type":"NVME"}],"Frequency":"3.5GHz","Id":"1b69","Ram":64}],"GoodsId":7793,"GoodsName":"GPU服务器-03SA03（公测）"}]}`),
			action: ActionDescribeGpuGoods, method: http.MethodGet,
			query: url.Values{"RegionId": {"CN_Hohhot_B"}},
			want: &DescribeGpuGoodsData{
				PostPaid: []Goods{{GoodsID: 7685, GoodsName: "GPU服务器-02SS01（公测）", Computes: []Compute{{
					ID: "8fbd", CPUInfo: "Intel Xeon Silver 4110", CPU: 32, RAM: 64, Frequency: "2.1GHz", PurchaseNum: ptr[int32](3),
					Disks: []Disk{{ID: "ab72", Type: "SSD", Capacity: 480, Count: 1}},
				}}}},
				PrePaid: []Goods{{GoodsID: 7793, GoodsName: "GPU服务器-03SA03（公测）", Computes: []Compute{{
					ID: "1b69", CPUInfo: "Intel Xeon Silver 6148", CPU: 32, RAM: 64, Frequency: "3.5GHz",
					Disks: []Disk{{ID: "d7a3", Type: "NVME", Capacity: 3200, Count: 2}},
				}}}},
			},
		},
		{
			name: "DescribeGpuGoodsPrice/prepaid month 0 is sent",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpuGoodsPrice(ctx, &DescribeGpuGoodsPriceRequest{
					RegionID: "CN_Hohhot_B", GoodsID: 7685, ComputeID: "8fbd", InstanceChargeType: "PrePaid",
					PrepaidMonth: ptr[int32](0), Amount: 1,
				})
			},
			reply:  ok(`{"Currency":"CN","TradeAmount":"0.79","UnitPrice":"10000.00"}`),
			action: ActionDescribeGpuGoodsPrice, method: http.MethodPost,
			body: `{"RegionId":"CN_Hohhot_B","GoodsId":7685,"ComputeId":"8fbd","InstanceChargeType":"PrePaid","PrepaidMonth":0,"Amount":1}`,
			want: &DescribeGpuGoodsPriceData{Currency: "CN", TradeAmount: "0.79", UnitPrice: "10000.00"},
		},
		{
			name: "DescribeGpuGoodsPrice/unset prepaid month is absent, money as numbers",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpuGoodsPrice(ctx, &DescribeGpuGoodsPriceRequest{
					RegionID: "CN_Hohhot_B", GoodsID: 7685, ComputeID: "8fbd", InstanceChargeType: "PostPaid", Amount: 10,
				})
			},
			reply:  ok(`{"Currency":"US","TradeAmount":6660.00,"UnitPrice":666}`),
			action: ActionDescribeGpuGoodsPrice, method: http.MethodPost,
			body: `{"RegionId":"CN_Hohhot_B","GoodsId":7685,"ComputeId":"8fbd","InstanceChargeType":"PostPaid","Amount":10}`,
			want: &DescribeGpuGoodsPriceData{Currency: "US", TradeAmount: "6660.00", UnitPrice: "666"},
		},
		{
			name: "DescribeGpu/all parameters",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpu(ctx, &DescribeGpuRequest{AppID: "6d32", Name: "bms 003/a", PageNumber: ptr[int32](2), PageSize: ptr[int32](10)})
			},
			reply: ok(`{"Records":[{"ResourceId":"0d19","Cpu":32,"CreateDate":"2020-04-16 11:56:58","InstanceChargeType":"PostPaid","IsAutoRenewal":1,
				"Name":"test-wwh","RegionId":"CN_Qingyang_A","RegionName":"中国大陆-庆阳-可用区A","AppName":"SLB","AppId":"6d32",
				"Networks":{"NetworkCards":[{"Gateway":"10.240.57.1","Id":"69ed","IpAddress":"10.240.57.1","IpType":"subnet","IpVersion":"ipV4",
				"Netmask":"255.255.0.0","VlanId":"3214","EipAddress":"60.165.239.111","EipLinkType":"电信"}]},
				"Ram":64,"State":"running","Status":"运行"}],"TotalCount":3,"PageSize":10,"PageNumber":2,"Pages":1}`),
			action: ActionDescribeGpu, method: http.MethodGet,
			query: url.Values{"AppId": {"6d32"}, "Name": {"bms 003/a"}, "PageNumber": {"2"}, "PageSize": {"10"}},
			want: &DescribeGpuData{
				Records: []GpuRecord{{
					ResourceID: "0d19", Name: "test-wwh", CPU: 32, RAM: 64, State: "running", Status: "运行",
					RegionID: "CN_Qingyang_A", RegionName: "中国大陆-庆阳-可用区A", AppID: "6d32", AppName: "SLB",
					InstanceChargeType: "PostPaid", IsAutoRenewal: 1, CreateDate: "2020-04-16 11:56:58",
					Networks: Networks{NetworkCards: []NetworkCard{{
						ID: "69ed", VlanID: "3214", IPType: "subnet", IPVersion: "ipV4", IPAddress: "10.240.57.1",
						Netmask: "255.255.0.0", Gateway: "10.240.57.1", EipAddress: "60.165.239.111", EipLinkType: "电信",
					}}},
				}},
				TotalCount: 3, PageSize: 10, PageNumber: 2, Pages: 1,
			},
		},
		{
			name: "DescribeGpu/no parameters, data null",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpu(ctx, &DescribeGpuRequest{})
			},
			reply:  ok(`null`),
			action: ActionDescribeGpu, method: http.MethodGet, query: url.Values{},
			want: &DescribeGpuData{},
		},
		{
			name: "DescribeGpu/page 0 is sent",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpu(ctx, &DescribeGpuRequest{PageNumber: ptr[int32](0)})
			},
			reply:  reply{status: 200, body: `{"Code":"Success","Msg":"ok"}`},
			action: ActionDescribeGpu, method: http.MethodGet, query: url.Values{"PageNumber": {"0"}},
			want: &DescribeGpuData{},
		},
		{
			name: "DescribeGpuDetail/lower-case eip spellings",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpuDetail(ctx, &DescribeGpuDetailRequest{ResourceID: "19cd"})
			},
			reply: ok(`{"ResourceId":"19cd","BillStatus":"1","Cpu":32,"CreateDate":"2020-04-30 11:22:41","ExpireDate":"2020-05-01 00:00:00",
				"ImageName":"centos7.6_64","InstanceChargeType":"PrePaid","IsAutoRenewal":0,"Name":"openapi006","AppId":"2bba","AppName":"bms003","RegionId":"CN_Qingyang_A",
				"Networks":{"NetworkCards":[{"Gateway":"10.240.57.1","Id":"69ed","IpAddress":"10.240.57.1","IpType":"subnet","IpVersion":"ipV4",
				"Netmask":"255.255.0.0","Mac":["6C:92:BF:FF:BD:6A","6C:92:BF:FF:BD:6B"],"VlanId":"3214","WorkMode":"bond6",
				"eipAddress":"60.165.239.111","eipLinkType":"电信"}]},
				"Ram":64,"RegionName":"中国大陆-庆阳-可用区A","RunningTime":"0天7小时18分钟55秒","State":"rebuilding","Status":"重装中",
				"Volumes":[{"Capacity":480,"Id":"a5f1","Type":"hard","VolumeId":"454a","VolumePath":"sda","VolumeType":"SSD","UpdateDate":"2020-04-17T07:47:23.000+0000"}]}`),
			action: ActionDescribeGpuDetail, method: http.MethodGet, query: url.Values{"ResourceId": {"19cd"}},
			want: &DescribeGpuDetailData{
				ResourceID: "19cd", Name: "openapi006", CPU: 32, RAM: 64, State: "rebuilding", Status: "重装中",
				AppID: "2bba", AppName: "bms003", RegionID: "CN_Qingyang_A", RegionName: "中国大陆-庆阳-可用区A",
				ImageName: "centos7.6_64", InstanceChargeType: "PrePaid", BillStatus: "1", IsAutoRenewal: 0,
				RunningTime: "0天7小时18分钟55秒", CreateDate: "2020-04-30 11:22:41", ExpireDate: "2020-05-01 00:00:00",
				Volumes: []Volume{{ID: "a5f1", Type: "hard", Capacity: 480, VolumeType: "SSD", VolumeID: "454a", VolumePath: "sda", UpdateDate: "2020-04-17T07:47:23.000+0000"}},
				Networks: Networks{NetworkCards: []NetworkCard{{
					ID: "69ed", VlanID: "3214", IPType: "subnet", IPVersion: "ipV4", IPAddress: "10.240.57.1",
					Netmask: "255.255.0.0", Gateway: "10.240.57.1", EipAddress: "60.165.239.111", EipLinkType: "电信",
					Mac: []string{"6C:92:BF:FF:BD:6A", "6C:92:BF:FF:BD:6B"}, WorkMode: "bond6",
				}}},
			},
		},
		{
			name: "DescribeGpuDetail/both eip spellings, the empty one loses",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpuDetail(ctx, &DescribeGpuDetailRequest{ResourceID: "19cd"})
			},
			reply:  ok(`{"ResourceId":"19cd","Networks":{"NetworkCards":[{"EipAddress":"","eipAddress":"1.2.3.4","EipLinkType":"BGP","eipLinkType":""}]}}`),
			action: ActionDescribeGpuDetail, method: http.MethodGet, query: url.Values{"ResourceId": {"19cd"}},
			want: &DescribeGpuDetailData{ResourceID: "19cd", Networks: Networks{NetworkCards: []NetworkCard{{EipAddress: "1.2.3.4", EipLinkType: "BGP"}}}},
		},
		{
			name: "DescribeGpuTask/succeed",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpuTask(ctx, &DescribeGpuTaskRequest{TaskID: "f905"})
			},
			reply:  ok(`{"ResourceIds":["27f2"],"Status":"succeed"}`),
			action: ActionDescribeGpuTask, method: http.MethodGet, query: url.Values{"TaskId": {"f905"}},
			want: &DescribeGpuTaskData{ResourceIDs: []string{"27f2"}, Status: TaskStatusSucceed},
		},
		{
			name: "DescribeGpuTask/unknown status passes through",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpuTask(ctx, &DescribeGpuTaskRequest{TaskID: "f905"})
			},
			reply:  ok(`{"ResourceIds":"27f2","Status":"paused"}`),
			action: ActionDescribeGpuTask, method: http.MethodGet, query: url.Values{"TaskId": {"f905"}},
			want: &DescribeGpuTaskData{ResourceIDs: []string{"27f2"}, Status: "paused"},
		},
		{
			name: "ReinstallGpu/raid 0 and partitions",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ReinstallGpu(ctx, &ReinstallGpuRequest{
					ResourceID: "d226", ImageID: "d601", Password: "Reinst@ll-pw1", Raid: ptr[int32](0),
					CustomPartition: []string{"/", "swap", "/aaa"}, CustomPartitionSize: []int64{100, 128, 300},
				})
			},
			reply:  ok(`{"TaskIds":["97fe"]}`),
			action: ActionReinstallGpu, method: http.MethodPost, mutating: true, passwords: []string{"Reinst@ll-pw1"},
			body: `{"ResourceId":"d226","ImageId":"d601","Password":"Reinst@ll-pw1","Raid":0,"CustomPartition":["/","swap","/aaa"],"CustomPartitionSize":[100,128,300]}`,
			want: &ReinstallGpuData{TaskIDs: []string{"97fe"}},
		},
		{
			name: "ReinstallGpu/optional fields absent",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ReinstallGpu(ctx, &ReinstallGpuRequest{ResourceID: "d226", ImageID: "d601", Password: "Reinst@ll-pw2"})
			},
			reply:  ok(`{"TaskId":"97fe"}`),
			action: ActionReinstallGpu, method: http.MethodPost, mutating: true, passwords: []string{"Reinst@ll-pw2"},
			body: `{"ResourceId":"d226","ImageId":"d601","Password":"Reinst@ll-pw2"}`,
			want: &ReinstallGpuData{TaskIDs: []string{"97fe"}},
		},
		{
			name: "DescribeGpuImage/families sorted",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpuImage(ctx, &DescribeGpuImageRequest{ImageType: "public", RegionID: "CN_SJZ_B", ComputeID: "219a"})
			},
			reply:  ok(`{"Ubuntu":[{"Id":"d32a","Name":"ubuntu14.04_64","Type":"public"}],"Redhat":[{"Id":"232a","Name":"rhel7.6_64","Type":"public"},{"Id":"332a","Name":"rhel8_64","Type":"public"}]}`),
			action: ActionDescribeGpuImage, method: http.MethodPost,
			body: `{"ImageType":"public","RegionId":"CN_SJZ_B","ComputeId":"219a"}`,
			want: &DescribeGpuImageData{Families: []ImageFamily{
				{Family: "Redhat", Images: []Image{{ID: "232a", Name: "rhel7.6_64", Type: "public"}, {ID: "332a", Name: "rhel8_64", Type: "public"}}},
				{Family: "Ubuntu", Images: []Image{{ID: "d32a", Name: "ubuntu14.04_64", Type: "public"}}},
			}},
		},
		{
			name: "DescribeGpuImage/os type, empty data",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DescribeGpuImage(ctx, &DescribeGpuImageRequest{ImageType: "private", RegionID: "CN_SJZ_B", OsType: "centos"})
			},
			reply:  ok(`{}`),
			action: ActionDescribeGpuImage, method: http.MethodPost,
			body: `{"ImageType":"private","RegionId":"CN_SJZ_B","OsType":"centos"}`,
			want: &DescribeGpuImageData{Families: []ImageFamily{}},
		},
		{
			name: "CreateGpuInstance/every field",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateGpuInstance(ctx, &CreateGpuInstanceRequest{
					RegionID: "CN_Hohhot_B",
					VpcNetwork: VpcNetwork{
						VpcID: "f910", ReserveEip: ptr(true), NetID: "f912", EipIDList: []string{"8e23"},
						Segments: []Segment{{SegmentID: "f912d", Address: "10.15.0.5"}},
					},
					Password: "MengYou&&Cds-2019", InstanceName: "shouduzaixbms", AssignHostNo: "001",
					InstanceChargeType: "PrePaid", AutoRenew: ptr[int32](0), PrepaidMonth: ptr[int32](0),
					ComputeID: "f7d3", GoodsID: 7955, ImageID: "d601", BondMode: "bond6", Raid: ptr[int32](-2), Amount: 1,
					CustomPartition: []string{"/", "swap"}, CustomPartitionSize: []int64{100, 128},
					SubjectID: "68327", PortMode: "trunk",
				})
			},
			reply:  ok(`{"taskId":"f232"}`),
			action: ActionCreateGpuInstance, method: http.MethodPost, mutating: true, passwords: []string{"MengYou&&Cds-2019"},
			body: `{"RegionId":"CN_Hohhot_B","VpcNetWork":{"VpcId":"f910","ReserveEip":true,"NetId":"f912","EipIdList":["8e23"],
				"Segments":[{"SegmentId":"f912d","Address":"10.15.0.5"}]},"Password":"MengYou&&Cds-2019","InstanceName":"shouduzaixbms",
				"AssignHostNo":"001","InstanceChargeType":"PrePaid","AutoRenew":0,"PrepaidMonth":0,"ComputeId":"f7d3","GoodsId":7955,
				"ImageId":"d601","BondMode":"bond6","Raid":-2,"Amount":1,"CustomPartition":["/","swap"],"CustomPartitionSize":[100,128],
				"SubjectId":"68327","PortMode":"trunk"}`,
			want: &CreateGpuInstanceData{TaskID: "f232"},
		},
		{
			name: "CreateGpuInstance/required fields only, TaskId spelling",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateGpuInstance(ctx, &CreateGpuInstanceRequest{
					RegionID: "CN_SJZ_B", VpcNetwork: VpcNetwork{VpcID: "b2ca", NetID: "b2cc", ReserveEip: ptr(false)},
					Password: "Tester@123", InstanceName: "bms", InstanceChargeType: "PostPaid",
					ComputeID: "228c", GoodsID: 8520, ImageID: "bd59", Amount: 2,
				})
			},
			reply:  ok(`{"TaskId":"f233"}`),
			action: ActionCreateGpuInstance, method: http.MethodPost, mutating: true, passwords: []string{"Tester@123"},
			body: `{"RegionId":"CN_SJZ_B","VpcNetWork":{"VpcId":"b2ca","ReserveEip":false,"NetId":"b2cc"},"Password":"Tester@123",
				"InstanceName":"bms","InstanceChargeType":"PostPaid","ComputeId":"228c","GoodsId":8520,"ImageId":"bd59","Amount":2}`,
			want: &CreateGpuInstanceData{TaskID: "f233"},
		},
		{
			name: "OperateGpuPower/TaskIds and Msg",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.OperateGpuPower(ctx, &OperateGpuPowerRequest{Operate: "start", ResourceIDs: []string{"2df3", "2df4"}})
			},
			reply:  reply{status: 200, body: `{"Code":"Success","Msg":"操作下发成功","Data":{"ResourceIds":["2df3","2df4"],"TaskIds":["72dc","72dd"]}}`},
			action: ActionOperateGpuPower, method: http.MethodPost, mutating: true,
			body: `{"Operate":"start","ResourceIds":["2df3","2df4"]}`,
			want: &OperateGpuPowerData{ResourceIDs: []string{"2df3", "2df4"}, TaskIDs: []string{"72dc", "72dd"}},
		},
		{
			name: "OperateGpuPower/TaskId list",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.OperateGpuPower(ctx, &OperateGpuPowerRequest{Operate: "reset", ResourceIDs: []string{"d226"}})
			},
			reply:  ok(`{"ResourceIds":["d226"],"TaskId":["72dc"]}`),
			action: ActionOperateGpuPower, method: http.MethodPost, mutating: true,
			body: `{"Operate":"reset","ResourceIds":["d226"]}`,
			want: &OperateGpuPowerData{ResourceIDs: []string{"d226"}, TaskIDs: []string{"72dc"}},
		},
		{
			name: "DeleteGpuInstances",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DeleteGpuInstances(ctx, &DeleteGpuInstancesRequest{ResourceIDs: []string{"00cc"}})
			},
			reply:  reply{status: 200, body: `{"Code":"Success","Msg":"任务下发成功!","Data":{}}`},
			action: ActionDeleteGpuInstances, method: http.MethodPost, mutating: true,
			body: `{"ResourceIds":["00cc"]}`,
			want: &DeleteGpuInstancesData{},
		},
	}
}

// TestActions checks, for every action, the exact request on the wire (method,
// path, query, body, signature) and the reply mapped field by field.
func TestActions(t *testing.T) {
	t.Parallel()
	for _, tc := range actionCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs logBuffer
			p := newProvider(t, tc.reply)
			c := p.client(t, WithLogger(logs.logger()))
			got, err := tc.call(t.Context(), c)
			if err != nil {
				t.Fatalf("call: got error %v, want none", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("reply mismatch (-want +got):\n%s", diff)
			}
			reqs := p.requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tc.method {
				t.Errorf("got method %s, want %s", r.Method, tc.method)
			}
			if r.Path != "/gpubms/v1/" {
				t.Errorf("got path %q, want %q", r.Path, "/gpubms/v1/")
			}
			if r.SigErr != nil {
				t.Errorf("signature does not verify: %v", r.SigErr)
			}
			wantCommon := map[string]string{
				signature.ParamAction: tc.action, signature.ParamAccessKeyID: testKeyID,
				signature.ParamSignatureMethod: "HMAC-SHA1", signature.ParamSignatureVersion: "1.0",
				signature.ParamVersion: "2019-08-08", signature.ParamTimestamp: "2026-03-04T05:06:07Z",
				signature.ParamSignatureNonce: "nonce-1",
			}
			for k, want := range wantCommon {
				if got := r.Query.Get(k); got != want {
					t.Errorf("got query %s=%q, want %q", k, got, want)
				}
			}
			if tc.method == http.MethodGet {
				if diff := cmp.Diff(tc.query, actionParams(r.Query)); diff != "" {
					t.Errorf("action query mismatch (-want +got):\n%s", diff)
				}
				if len(r.Body) != 0 {
					t.Errorf("got GET body %q, want none", r.Body)
				}
			} else {
				if got := actionParams(r.Query); len(got) != 0 {
					t.Errorf("got action parameters %v in a POST query, want none", got)
				}
				if r.ContentType != "application/json" {
					t.Errorf("got Content-Type %q, want application/json", r.ContentType)
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
			mustNotLeak(t, "log", logs.String(), tc.passwords...)
		})
	}
}

// TestMutatingActionsNeverRetried sends every action against a provider that
// always answers 503, and against one that drops the connection: reads are
// tried three times, mutating actions once.
func TestMutatingActionsNeverRetried(t *testing.T) {
	t.Parallel()
	failures := map[string]reply{
		"503":             {status: 503, body: "<html>unavailable</html>"},
		"InternalError":   fail(400, CodeInternalError, "boom"),
		"network failure": {abort: true},
	}
	for _, tc := range actionCases() {
		for fname, rep := range failures {
			t.Run(tc.name+"/"+fname, func(t *testing.T) {
				t.Parallel()
				var logs logBuffer
				p := newProvider(t, rep)
				c := p.client(t, WithLogger(logs.logger()))
				ctx, counter := WithAttemptCounter(t.Context())
				_, err := tc.call(ctx, c)
				if err == nil {
					t.Fatal("got no error, want one")
				}
				want := 3
				if tc.mutating {
					want = 1
				}
				if got := len(p.requests()); got != want {
					t.Errorf("got %d requests, want %d", got, want)
				}
				if got := counter.Load(); got != int64(want) {
					t.Errorf("counter: got %d, want %d", got, want)
				}
				nonces := map[string]bool{}
				for _, r := range p.requests() {
					if r.SigErr != nil {
						t.Errorf("attempt signature does not verify: %v", r.SigErr)
					}
					nonces[r.Query.Get(signature.ParamSignatureNonce)] = true
				}
				if len(nonces) != want {
					t.Errorf("got %d distinct nonces over %d attempts, want one per attempt", len(nonces), want)
				}
				mustNotLeak(t, "error", err.Error(), tc.passwords...)
				mustNotLeak(t, "log", logs.String(), tc.passwords...)
			})
		}
	}
}
