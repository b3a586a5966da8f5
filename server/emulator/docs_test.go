package emulator

import (
	"encoding/json"
	"net/url"
	"sort"
	"testing"
)

// The provider's documented replies (gpu-api.md), Data only. Each reply the
// emulator gives to the documented request must hold every key they show.
const (
	docRegions = `[{"RegionId": "CN_Hohhot_B", "RegionName": "中国大陆-呼和浩特-可用区B"}]`
	docGoods   = `{
		"PostPaid": [{"Computes": [{"Cpu": 32, "CpuInfo": "Intel Xeon Silver 4110",
			"Disks": [{"Capacity": 480, "Count": 1, "Id": "ab72e15b-f3ab-4448-9094-ab271813f405", "Type": "SSD"}],
			"Frequency": "2.1GHz", "Id": "8fbdb61e-b941-46db-89f6-f8953b278ec9", "Ram": 64}],
			"GoodsId": 7685, "GoodsName": "GPU服务器-02SS01（公测）"}],
		"PrePaid": [{"Computes": [{"Cpu": 32, "CpuInfo": "Intel Xeon Silver 6148",
			"Disks": [{"Capacity": 3200, "Count": 1, "Id": "d7a3f7ef-98e1-417c-a7e4-a5720e273f67", "Type": "NVME"}],
			"Frequency": "3.5GHz", "Id": "1b69ecca-453c-4535-8c96-16edf1ec6da9", "Ram": 64}],
			"GoodsId": 7793, "GoodsName": "GPU服务器-03SA03（公测）"}]}`
	docPrice = `{"Currency": "CN", "TradeAmount": "0.79", "UnitPrice": "10000.00"}`
	docList  = `{"Records": [{"ResourceId": "0d19f7e6-553f-43be-ab3f-b5c31b3511d9", "Cpu": 32, "CreateDate": "2020-04-16 11:56:58",
		"InstanceChargeType": "PostPaid", "IsAutoRenewal": 1, "Name": "test-wwh", "RegionName": "中国大陆-庆阳-可用区A",
		"AppName": "SLB", "AppId": "6d323aa0-9a46-11ee-9a07-622ad4e5a137",
		"Networks": {"NetworkCards": [{"Gateway": "10.240.57.1", "Id": "69ed5a7b-8599-4104-a1fa-211db097b73d",
			"IpAddress": "10.240.57.1", "IpType": "subnet", "IpVersion": "ipV4", "Netmask": "255.255.0.0",
			"VlanId": "3214", "EipAddress": "60.165.239.111", "EipLinkType": "电信"}]},
		"Ram": 64, "State": "running", "Status": "运行"}],
		"TotalCount": 3, "PageSize": 500, "PageNumber": 1}`
	docDetail = `{"ResourceId": "19cd1c58-11d4-4ed0-8c19-81aa4cf3574a", "BillStatus": "1", "Cpu": 32,
		"CreateDate": "2020-04-30 11:22:41", "ExpireDate": "2020-05-01 00:00:00", "ImageName": "centos7.6_64",
		"InstanceChargeType": "PrePaid", "IsAutoRenewal": 0, "Name": "openapi006",
		"Networks": {"NetworkCards": [{"Gateway": "10.240.57.1", "Id": "69ed5a7b-8599-4104-a1fa-211db097b73d",
			"IpAddress": "10.240.57.1", "IpType": "subnet", "IpVersion": "ipV4", "Netmask": "255.255.0.0",
			"Mac": ["6C:92:BF:FF:BD:6A", "6C:92:BF:FF:BD:6B"], "VlanId": "3214", "WorkMode": "bond6",
			"eipAddress": "60.165.239.111", "eipLinkType": "电信"}]},
		"Ram": 64, "RegionName": "中国大陆-庆阳-可用区A", "RunningTime": "0天7小时18分钟55秒",
		"State": "rebuilding", "Status": "重装中",
		"Volumes": [{"Capacity": 480, "Id": "a5f18fb1-f4a4-4e8c-973f-865ee8662b0c", "Type": "hard",
			"VolumeId": "454a1d9d-25c3-48cc-8787-404447e81f49", "VolumePath": "sda", "VolumeType": "SSD"}]}`
	docTask      = `{"ResourceIds": ["27f262ec-92fd-4a77-ba78-6f682b7533e3"], "Status": "succeed"}`
	docReinstall = `{"TaskIds": ["97fe8058-8524-11ea-80e3-0242ac110003"]}`
	docImages    = `{"Ubuntu": [{"Id": "d32af696-5774-4936-8f09-e9f4cf069b31", "Name": "ubuntu14.04_64", "Type": "public"}],
		"Redhat": [{"Id": "232af696-5774-4936-8f09-e9f4cf069b31", "Name": "rhel7.6_64", "Type": "public"}]}`
	docCreate = `{"taskId": "f232d398-a77c-11e9-9d43-0242ac110003"}`
	docPower  = `{"ResourceIds": ["2df3f6b4-26ed-4c93-943d-a81a39ced124"], "TaskIds": ["72dc0cae-a867-11e9-8184-0242ac110003"]}`
	docDelete = `{}`
)

// TestDocumentedExamples sends the requests of the provider's reference,
// verbatim, and checks each reply against the documented one: Success, the
// documented message key, and every documented key present.
func TestDocumentedExamples(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	check := func(action string, params any, doc, msgKey string) result {
		t.Helper()
		res := h.do(call{action: action, params: params})
		if res.status != 200 || res.Code != codeSuccess {
			t.Fatalf("%s: got HTTP %d %s %q, want Success", action, res.status, res.Code, res.message())
		}
		var env map[string]any
		if err := json.Unmarshal([]byte(res.raw), &env); err != nil {
			t.Fatalf("%s: reply is not JSON: %v", action, err)
		}
		if _, ok := env[msgKey]; !ok {
			t.Errorf("%s: reply %s has no %q", action, res.raw, msgKey)
		}
		if doc != "" {
			var want, got any
			if err := json.Unmarshal([]byte(doc), &want); err != nil {
				t.Fatalf("%s: documented reply: %v", action, err)
			}
			if err := json.Unmarshal(res.Data, &got); err != nil {
				t.Fatalf("%s: Data: %v", action, err)
			}
			if missing := missingKeys("Data", want, got); len(missing) > 0 {
				t.Errorf("%s: reply lacks the documented %v\n%s", action, missing, res.Data)
			}
		}
		return res
	}
	data := func(res result, out any) {
		t.Helper()
		if err := json.Unmarshal(res.Data, out); err != nil {
			t.Fatalf("decode %s: %v", res.Data, err)
		}
	}

	check("DescribeGpuRegions", nil, docRegions, "Message")
	check("DescribeGpuGoods", url.Values{"RegionId": {"CN_Hohhot_B"}}, docGoods, "Message")
	check("DescribeGpuGoodsPrice", map[string]any{
		"RegionId": "CN_Hohhot_B", "InstanceChargeType": "PrePaid", "ComputeId": "8fbdb61e-b941-46db-89f6-f8953b278ec9",
		"PrepaidMonth": 1, "GoodsId": 7685, "Amount": 1,
	}, docPrice, "Message")
	// The table's example values.
	check("DescribeGpuGoodsPrice", map[string]any{
		"RegionId": "CN_Hohhot_B", "GoodsId": 7955, "ComputeId": "f7d3b7b4-e77d-47ac-aa37-8c9e3304e469",
		"InstanceChargeType": "PrePaid", "PrepaidMonth": 1, "Amount": 10,
	}, docPrice, "Message")
	check("DescribeGpuImage", map[string]any{
		"ImageType": "public", "RegionId": "CN_SJZ_B", "ComputeId": "219a3445-bb9c-4ae9-b50d-3f83c416c626",
	}, "", "Message")
	check("DescribeGpuImage", map[string]any{
		"ImageType": "public", "RegionId": "CN_Hohhot_B", "ComputeId": "8fbdb61e-b941-46db-89f6-f8953b278ec9",
	}, docImages, "Message")

	// The code example, then the table's example values (with Amount 1,
	// since the table's one EIP and one segment must match Amount).
	check("CreateGpuInstance", map[string]any{
		"RegionId": "CN_SJZ_B", "InstanceName": "shouduzaixbms", "Password": "Tester@123",
		"InstanceChargeType": "PrePaid", "AutoRenew": 1, "PrepaidMonth": 1,
		"ComputeId": "228c20b9-e27e-4bee-bea2-d7c2985a2f3d", "GoodsId": 8520,
		"ImageId": "bd597daa-2157-4a6f-8e29-8c212eb86tes", "Amount": 1,
		"VpcNetWork": map[string]any{"VpcId": "b2ca7892-a329-11ef-943a-66fdd349a9b1", "NetId": "b2cc9168-a329-11ef-943a-66fdd349a9b1"},
	}, docCreate, "Message")
	const vpc = "f91084b4-050d-11ef-b98e-4637f0e9cd45"
	var created struct {
		TaskID string `json:"taskId"`
	}
	data(check("CreateGpuInstance", []byte(`{"RegionId": "CN_Hohhot_B",
		"VpcNetWork": {"VpcId": "`+vpc+`", "ReserveEip": true, "NetId": "f9129e16-050d-11ef-b98e-4637f0e9cd45",
			"EipIdList": ["8e2330bc-fbc5-11ee-a916-8a891739d466"],
			"Segments": [{"SegmentId": "f912d2aa-050d-11ef-b98e-4637f0e9cd45", "Address": "10.15.0.5"}]},
		"Password": "MengYou&&Cds-2019", "InstanceName": "shouduzaixbms", "AssignHostNo": "001",
		"InstanceChargeType": "PostPaid", "AutoRenew": 1, "PrepaidMonth": 1,
		"ComputeId": "f7d3b7b4-e77d-47ac-aa37-8c9e3304e469", "GoodsId": 7955,
		"ImageId": "d6012cd8-b672-11e9-9265-525400b97470", "BondMode": "bond6", "Raid": 0, "Amount": 1,
		"CustomPartition": ["/", "swap", "/aaa"], "CustomPartitionSize": [100, 128, 300],
		"SubjectId": "68327", "PortMode": "trunk"}`), docCreate, "Message"), &created)

	h.clock.Advance(DefaultTaskDelay)
	var task taskInfo
	data(check("DescribeGpuTask", url.Values{"TaskId": {created.TaskID}}, docTask, "Message"), &task)
	id := task.ResourceIDs[0]
	check("DescribeGpu", url.Values{"Name": {"bms003"}}, "", "Message")
	check("DescribeGpu", url.Values{"AppId": {vpc}, "PageNumber": {"1"}, "PageSize": {"10"}}, docList, "Message")
	check("DescribeGpuDetail", url.Values{"ResourceId": {id}}, docDetail, "Message")

	check("ReinstallGpu", map[string]any{
		"ResourceId": id, "ImageId": "d6012cd8-b672-11e9-9265-525400b97470", "Password": "capitalonline",
		"Raid": 1, "CustomPartition": []string{"/", "swap", "/aaa"}, "CustomPartitionSize": []int{100, 128, 300},
	}, docReinstall, "Message")
	h.clock.Advance(DefaultTaskDelay)
	check("OperateGpuPower", map[string]any{"Operate": "stop", "ResourceIds": []string{id}}, docPower, "Msg")
	h.clock.Advance(DefaultTaskDelay)
	check("OperateGpuPower", map[string]any{"Operate": "start", "ResourceIds": []string{id}}, docPower, "Msg")
	h.clock.Advance(DefaultTaskDelay)
	check("DeleteGpuInstances", map[string]any{"ResourceIds": []string{id}}, docDelete, "Msg")
}

// missingKeys lists the paths of the object keys in doc that got lacks,
// looking into nested objects and the first element of each list.
func missingKeys(path string, doc, got any) []string {
	var out []string
	switch d := doc.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + " (an object)"}
		}
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, missingKeys(path+"."+k, d[k], gv)...)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || (len(d) > 0 && len(g) == 0) {
			return []string{path + " (a non-empty list)"}
		}
		if len(d) > 0 {
			out = append(out, missingKeys(path+"[0]", d[0], g[0])...)
		}
	}
	return out
}
