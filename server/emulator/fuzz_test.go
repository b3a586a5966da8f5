package emulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

var postActions = []string{"DescribeGpuGoodsPrice", "DescribeGpuImage", "ReinstallGpu", "CreateGpuInstance", "OperateGpuPower", "DeleteGpuInstances"}

// FuzzPostBody sends arbitrary bodies to every POST action: each reply must
// be a well-formed envelope, HTTP 200 with Success or 400 with a provider
// code (never InternalError, which would mean a handler failed).
func FuzzPostBody(f *testing.F) {
	for _, s := range []string{
		`{"RegionId":"CN_Hohhot_B","VpcNetWork":{"VpcId":"v","NetId":"n","ReserveEip":true,"EipIdList":["e"],"Segments":[{"SegmentId":"s","Address":"10.15.0.5"}]},"Password":"Tester@123","InstanceName":"bms","AssignHostNo":"001","InstanceChargeType":"PrePaid","AutoRenew":1,"PrepaidMonth":1,"ComputeId":"8fbdb61e-b941-46db-89f6-f8953b278ec9","GoodsId":7685,"ImageId":"d32af696-5774-4936-8f09-e9f4cf069b31","BondMode":"bond6","Raid":-2,"Amount":1,"CustomPartition":["/","swap"],"CustomPartitionSize":[100,8],"PortMode":"trunk"}`,
		`{"RegionId":"CN_Hohhot_B","GoodsId":7685,"ComputeId":"8fbdb61e-b941-46db-89f6-f8953b278ec9","InstanceChargeType":"PrePaid","PrepaidMonth":1,"Amount":1}`,
		`{"ImageType":"public","RegionId":"CN_Hohhot_B","ComputeId":"8fbdb61e-b941-46db-89f6-f8953b278ec9","OsType":"centos"}`,
		`{"Operate":"start","ResourceIds":["a","b"]}`,
		`{"ResourceId":"x","ImageId":"y","Password":"Tester@123","Raid":1}`,
		`{"Amount":1e2,"GoodsId":-0,"VpcNetWork":{"Segments":[{},null,1]}}`,
		`{"ResourceIds":[null,"",1.5]}`,
		`[]`, `null`, ``, `{`, `{"Amount":"1"}`,
	} {
		for i := range postActions {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		h := newHarness(t, WithTaskDelay(0))
		action := postActions[int(which)%len(postActions)]
		res := h.do(call{action: action, params: body})
		var env map[string]json.RawMessage
		if err := json.Unmarshal([]byte(res.raw), &env); err != nil {
			t.Fatalf("%s: reply is not JSON: %q", action, res.raw)
		}
		switch {
		case res.status == http.StatusOK && res.Code == codeSuccess:
		case res.status == http.StatusBadRequest && res.Code != "" && res.Code != codeSuccess && res.Code != codeInternalError:
		default:
			t.Fatalf("%s: got HTTP %d %s %q", action, res.status, res.Code, res.message())
		}
	})
}

// BenchmarkDescribeGpuRoundTrip signs and sends DescribeGpu over loopback
// HTTP to an emulator holding 10 servers.
func BenchmarkDescribeGpuRoundTrip(b *testing.B) {
	h := newHarness(b, WithTaskDelay(0), WithMaxNonces(10_000))
	h.create(createBody(10))
	srv := httptest.NewServer(h.e)
	defer srv.Close()
	base := srv.URL + "/gpubms/v1"
	client := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(signedURL(base, "DescribeGpu", h.clock.Now()))
		if err != nil {
			b.Fatal(err)
		}
		var env struct {
			Code string
			Data struct{ TotalCount int }
		}
		err = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if err != nil || env.Code != codeSuccess || env.Data.TotalCount != 10 {
			b.Fatalf("got %+v (%v), want Success with 10 servers", env, err)
		}
	}
}
