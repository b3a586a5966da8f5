package e2e_test

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// testLifecycleHTTP walks the main path through the JSON gateway only, with
// the routes of the proto's google.api.http annotations and snake_case
// field names both ways.
func testLifecycleHTTP(t *testing.T, h *harness) {
	const name = "httplc"

	// Catalogue: the first compute with two in stock and two images.
	var regions gpubmsv1.DescribeGpuRegionsResponse
	h.httpOK(t, http.MethodGet, "/v1/regions", nil, &regions)
	var (
		region, charge string
		goodsID        int64
		compute        *gpubmsv1.Compute
		images         []*gpubmsv1.Image
	)
	for _, r := range regions.GetRegions() {
		var goods gpubmsv1.DescribeGpuGoodsResponse
		raw := h.httpOK(t, http.MethodGet, "/v1/regions/"+r.GetRegionId()+"/goods", nil, &goods)
		if !strings.Contains(string(raw), `"purchase_num"`) {
			t.Errorf("goods reply has no purchase_num: %s", raw)
		}
		for _, list := range []struct {
			charge string
			goods  []*gpubmsv1.Goods
		}{{"PostPaid", goods.GetPostPaid()}, {"PrePaid", goods.GetPrePaid()}} {
			for _, g := range list.goods {
				for _, cp := range g.GetComputes() {
					if compute != nil || cp.GetPurchaseNum() < 2 {
						continue
					}
					var imr gpubmsv1.DescribeGpuImageResponse
					q := url.Values{"image_type": {"public"}, "compute_id": {cp.GetId()}}
					h.httpOK(t, http.MethodGet, "/v1/regions/"+r.GetRegionId()+"/images?"+q.Encode(), nil, &imr)
					var ims []*gpubmsv1.Image
					for _, f := range imr.GetFamilies() {
						ims = append(ims, f.GetImages()...)
					}
					if distinctNames(ims) >= 2 {
						region, charge, goodsID, compute, images = r.GetRegionId(), list.charge, g.GetGoodsId(), cp, ims
					}
				}
			}
		}
		if compute != nil {
			break
		}
	}
	if compute == nil {
		t.Fatal("no compute with two in stock and two public images over HTTP")
	}
	// The network to create in: the region's first VPC and subnet.
	var nets gpubmsv1.FindNetworksResponse
	raw := h.httpOK(t, http.MethodGet, "/v1/regions/"+region+"/networks", nil, &nets)
	if len(nets.GetVpcs()) == 0 || len(nets.GetVpcs()[0].GetSubnets()) == 0 {
		t.Fatalf("region %s has no network: %s", region, raw)
	}
	vpc, subnet := nets.GetVpcs()[0].GetVpc().GetVpcId(), nets.GetVpcs()[0].GetSubnets()[0].GetSubnetId()

	t.Run("price", func(t *testing.T) {
		var p gpubmsv1.DescribeGpuGoodsPriceResponse
		raw := h.httpOK(t, http.MethodPost, fmt.Sprintf("/v1/regions/%s/goods/%d:price", region, goodsID), map[string]any{
			"compute_id": compute.GetId(), "instance_charge_type": "PrePaid", "prepaid_month": 3, "amount": 2,
		}, &p)
		want := new(big.Int).Mul(cents(t, p.GetUnitPrice()), big.NewInt(2*3))
		if got := cents(t, p.GetTradeAmount()); got.Cmp(want) != 0 {
			t.Errorf("got trade_amount %s with unit_price %s, want unit × 2 × 3", p.GetTradeAmount(), p.GetUnitPrice())
		}
		if !strings.Contains(string(raw), `"trade_amount"`) || !strings.Contains(string(raw), `"unit_price"`) {
			t.Errorf("price reply: got %s, want trade_amount and unit_price", raw)
		}
	})

	// Create two servers numbered from 7, with an explicit raid 0.
	body := map[string]any{
		"region_id":            region,
		"vpc_network":          map[string]any{"vpc_id": vpc, "net_id": subnet},
		"password":             createPassword,
		"instance_name":        name,
		"assign_host_no":       "7",
		"instance_charge_type": charge,
		"compute_id":           compute.GetId(),
		"goods_id":             goodsID,
		"image_id":             images[0].GetId(),
		"raid":                 0,
		"amount":               2,
	}
	if charge == "PrePaid" {
		body["prepaid_month"], body["auto_renew"] = 1, 0
	}
	var created gpubmsv1.CreateGpuInstanceResponse
	raw = h.httpOK(t, http.MethodPost, "/v1/gpus", body, &created)
	if !strings.Contains(string(raw), `"task_id"`) || created.GetTaskId() == "" {
		t.Fatalf("POST /v1/gpus: got %s, want a task_id", raw)
	}
	h.httpWatch(t, created.GetTaskId())
	var task gpubmsv1.DescribeGpuTaskResponse
	raw = h.httpOK(t, http.MethodGet, "/v1/tasks/"+created.GetTaskId(), nil, &task)
	if !strings.Contains(string(raw), `"task_status":"TASK_STATUS_SUCCEED"`) || len(task.GetResourceIds()) != 2 {
		t.Fatalf("GET /v1/tasks/%s: got %s, want TASK_STATUS_SUCCEED over two servers", created.GetTaskId(), raw)
	}
	ids := task.GetResourceIds()

	list := func(t *testing.T, q url.Values) *gpubmsv1.DescribeGpuResponse {
		t.Helper()
		var l gpubmsv1.DescribeGpuResponse
		raw := h.httpOK(t, http.MethodGet, "/v1/gpus?"+q.Encode(), nil, &l)
		if !strings.Contains(string(raw), `"total_count"`) {
			t.Errorf("GET /v1/gpus: got %s, want total_count", raw)
		}
		return &l
	}
	wantStates := func(t *testing.T, want string) {
		t.Helper()
		var got []string
		for _, r := range list(t, url.Values{"name": {name}}).GetRecords() {
			got = append(got, r.GetResourceId()+" "+r.GetState())
		}
		if diff := cmp.Diff([]string{ids[0] + " " + want, ids[1] + " " + want}, got); diff != "" {
			t.Errorf("GET /v1/gpus?name=%s states (-want +got):\n%s", name, diff)
		}
	}
	wantStates(t, "running")

	t.Run("paging", func(t *testing.T) {
		for page, want := range map[string]string{"1": name + "007", "2": name + "008"} {
			l := list(t, url.Values{"name": {name}, "page_size": {"1"}, "page_number": {page}})
			if l.GetTotalCount() != 2 || len(l.GetRecords()) != 1 || l.GetRecords()[0].GetName() != want {
				t.Errorf("page %s of size 1: got total_count %d records %v, want 2 and [%s]", page, l.GetTotalCount(), l.GetRecords(), want)
			}
		}
	})

	t.Run("detail", func(t *testing.T) {
		var d gpubmsv1.DescribeGpuDetailResponse
		raw := h.httpOK(t, http.MethodGet, "/v1/gpus/"+ids[0], nil, &d)
		for _, key := range []string{`"network_cards"`, `"volumes"`, `"image_name"`, `"running_time"`} {
			if !strings.Contains(string(raw), key) {
				t.Errorf("GET /v1/gpus/%s: got %s, want %s", ids[0], raw, key)
			}
		}
		if d.GetState() != "running" || d.GetImageName() != images[0].GetName() || len(d.GetVolumes()) == 0 ||
			len(d.GetNetworks().GetNetworkCards()) == 0 {
			t.Errorf("GET /v1/gpus/%s: got %v, want running %s with volumes and networks", ids[0], &d, images[0].GetName())
		}
	})

	power := func(t *testing.T, op, want string) {
		t.Helper()
		var r gpubmsv1.OperateGpuPowerResponse
		h.httpOK(t, http.MethodPost, "/v1/gpus:power", map[string]any{"operate": op, "resource_ids": ids}, &r)
		if !slices.Equal(r.GetResourceIds(), ids) || len(r.GetTaskIds()) != 2 {
			t.Fatalf("POST /v1/gpus:power %s: got %v, want a task per server", op, &r)
		}
		// Both tasks on one stream, each event tagged with its task.
		resp := h.openStream(t, ctx(t), http.MethodPost, "/v1/tasks:watch", map[string]any{"task_ids": r.GetTaskIds()})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /v1/tasks:watch: got HTTP %d, want 200", resp.StatusCode)
		}
		byTask := map[string][]*gpubmsv1.TaskEvent{}
		for _, l := range readLines(t, resp.Body) {
			if l.Error != nil {
				t.Fatalf("POST /v1/tasks:watch: stream error %+v", *l.Error)
			}
			var e gpubmsv1.WatchTasksResponse
			if err := protojson.Unmarshal(l.Result, &e); err != nil {
				t.Fatal(err)
			}
			byTask[e.GetEvent().GetTaskId()] = append(byTask[e.GetEvent().GetTaskId()], e.GetEvent())
		}
		for i, tid := range r.GetTaskIds() {
			checkTaskEvents(t, tid, byTask[tid])
			if evs := byTask[tid]; !slices.Equal(evs[len(evs)-1].GetResourceIds(), ids[i:i+1]) {
				t.Errorf("power task %d: got resource_ids %v, want [%s]", i, evs[len(evs)-1].GetResourceIds(), ids[i])
			}
		}
		wantStates(t, want)
	}
	step(t, "stop", func(t *testing.T) { power(t, "stop", "stopped") })
	step(t, "start", func(t *testing.T) { power(t, "start", "running") })

	step(t, "reinstall", func(t *testing.T) {
		im := secondImage(t, images, images[0])
		var r gpubmsv1.ReinstallGpuResponse
		h.httpOK(t, http.MethodPost, "/v1/gpus/"+ids[1]+":reinstall", map[string]any{
			"image_id": im.GetId(), "password": reinstallPassword, "raid": 0,
		}, &r)
		if len(r.GetTaskIds()) != 1 {
			t.Fatalf("reinstall: got task_ids %v, want one", r.GetTaskIds())
		}
		h.httpWatch(t, r.GetTaskIds()[0])
		var d gpubmsv1.DescribeGpuDetailResponse
		h.httpOK(t, http.MethodGet, "/v1/gpus/"+ids[1], nil, &d)
		if d.GetState() != "running" || d.GetImageName() != im.GetName() {
			t.Errorf("after reinstall: got state %s image %s, want running %s", d.GetState(), d.GetImageName(), im.GetName())
		}
	})

	step(t, "delete", func(t *testing.T) {
		code, b := h.httpDo(t, http.MethodPost, "/v1/gpus:batchDelete", map[string]any{"resource_ids": ids}, nil)
		// Every field is in a reply, set or not: only validation, unset
		// but for a dry run.
		if code != http.StatusOK || strings.TrimSpace(string(b)) != `{"validation":null}` {
			t.Fatalf("POST /v1/gpus:batchDelete: got HTTP %d %s, want 200 {\"validation\":null}", code, b)
		}
		for _, id := range ids {
			eventually(t, "server "+id+" gone", func() (bool, error) {
				code, b := h.httpDo(t, http.MethodGet, "/v1/gpus/"+id, nil, nil)
				switch code {
				case http.StatusOK:
					return false, nil
				case http.StatusNotFound:
					if e := decodeHTTPError(t, b); e.reason() != "InstanceNotFound" || e.Code != 5 {
						t.Errorf("GET /v1/gpus/%s: got %s, want code 5 reason InstanceNotFound", id, b)
					}
					return true, nil
				}
				t.Fatalf("GET /v1/gpus/%s: got HTTP %d %s", id, code, b)
				return false, nil
			})
		}
		if l := list(t, url.Values{"name": {name}}); l.GetTotalCount() != 0 {
			t.Errorf("after delete: got %d servers, want none", l.GetTotalCount())
		}
	})
}

// testOpenAPI checks that /openapi.json is the OpenAPI document of every
// route.
func testOpenAPI(t *testing.T, h *harness) {
	code, b := h.httpDo(t, http.MethodGet, "/openapi.json", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("GET /openapi.json: got HTTP %d, want 200", code)
	}
	var doc struct {
		Swagger string                    `json:"swagger"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("GET /openapi.json: not JSON: %v", err)
	}
	if doc.Swagger != "2.0" {
		t.Errorf("got swagger %q, want 2.0", doc.Swagger)
	}
	for _, tc := range []struct{ path, method, op string }{
		{"/v1/regions", "get", "DescribeGpuRegions"},
		{"/v1/regions/{region_id}/goods", "get", "DescribeGpuGoods"},
		{"/v1/regions/{region_id}/goods/{goods_id}:price", "post", "DescribeGpuGoodsPrice"},
		{"/v1/regions/{region_id}/images", "get", "DescribeGpuImage"},
		{"/v1/gpus", "get", "DescribeGpu"},
		{"/v1/gpus", "post", "CreateGpuInstance"},
		{"/v1/gpus/{resource_id}", "get", "DescribeGpuDetail"},
		{"/v1/gpus/{resource_id}:reinstall", "post", "ReinstallGpu"},
		{"/v1/gpus:power", "post", "OperateGpuPower"},
		{"/v1/gpus:batchDelete", "post", "DeleteGpuInstances"},
		{"/v1/tasks/{task_id}", "get", "DescribeGpuTask"},
		{"/v1/tasks/{task_id}:watch", "get", "WatchTask"},
		{"/v1/tasks:watch", "post", "WatchTasks"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			op, ok := doc.Paths[tc.path][tc.method].(map[string]any)
			if !ok {
				t.Fatalf("got no %s %s in the document", tc.method, tc.path)
			}
			if id, _ := op["operationId"].(string); !strings.HasSuffix(id, tc.op) {
				t.Errorf("got operationId %q, want …%s", id, tc.op)
			}
		})
	}
}
