package emulator

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const compute = "8fbdb61e-b941-46db-89f6-f8953b278ec9"
	body := createBody(2)
	body["AssignHostNo"] = "7"
	body["InstanceChargeType"] = "PrePaid"
	body["PrepaidMonth"] = 1
	body["BondMode"] = "bond6"
	body["VpcNetWork"] = map[string]any{"VpcId": hohhotVPC, "NetId": hohhotSubnet, "ReserveEip": true}

	taskID, ids := h.create(body)
	if len(ids) != 2 {
		t.Fatalf("create task covers %d servers, want 2", len(ids))
	}
	if got := h.taskStatus(taskID); got != taskInit {
		t.Errorf("create task: got %s, want init", got)
	}
	var list gpuList
	h.ok("DescribeGpu", nil, &list)
	if list.TotalCount != 2 || list.Records[0].Name != "bms007" || list.Records[1].Name != "bms008" {
		t.Fatalf("DescribeGpu: got %+v, want bms007 and bms008", list)
	}
	for _, r := range list.Records {
		if r.State != stateCreating || r.Status != "创建中" {
			t.Errorf("%s: got %s/%s, want creating/创建中", r.Name, r.State, r.Status)
		}
		if c := r.Networks.NetworkCards[0]; c.IPAddress == "" || c.EipAddress == "" {
			t.Errorf("%s: card %+v, want a private IP and an EIP", r.Name, c)
		}
	}
	if got := h.stock("CN_Hohhot_B", compute); got != 8 {
		t.Errorf("stock after creating 2: got %d, want 8", got)
	}

	h.clock.Advance(DefaultTaskDelay - time.Millisecond)
	if got := h.taskStatus(taskID); got != taskInit {
		t.Errorf("create task just before the delay: got %s, want init", got)
	}
	h.clock.Advance(time.Millisecond)
	if got := h.taskStatus(taskID); got != taskSucceed {
		t.Errorf("create task after the delay: got %s, want succeed", got)
	}
	a, b := ids[0], ids[1]
	d := h.detail(a)
	if d.State != stateRunning || d.Status != "运行" || d.ImageName != "ubuntu14.04_64" {
		t.Errorf("detail after create: got %s/%s %s, want running/运行 ubuntu14.04_64", d.State, d.Status, d.ImageName)
	}
	if d.CreateDate != "2020-04-30 11:22:41" || d.ExpireDate != "2020-06-01 00:00:00" || d.IsAutoRenew != 1 || d.BillStatus != "1" {
		t.Errorf("detail dates: got create %s expire %s renew %d bill %s, want 2020-04-30 11:22:41, 2020-06-01 00:00:00, 1, 1",
			d.CreateDate, d.ExpireDate, d.IsAutoRenew, d.BillStatus)
	}
	if d.RunningTime != "0天0小时0分钟3秒" {
		t.Errorf("RunningTime: got %s, want 0天0小时0分钟3秒", d.RunningTime)
	}
	nic := d.Networks.NetworkCards[0]
	if nic.EipAddress == "" || nic.EipLinkType == "" || len(nic.Mac) != 2 || nic.WorkMode != "bond6" {
		t.Errorf("detail card: got %+v, want eipAddress, eipLinkType, two MACs, bond6", nic)
	}
	if len(d.Volumes) != 1 || d.Volumes[0].Capacity != 480 || d.Volumes[0].VolumeType != "SSD" {
		t.Errorf("volumes: got %+v, want the compute's SSD 480", d.Volumes)
	}

	// stop a: one task per server, index-aligned.
	var power struct{ ResourceIDs, TaskIDs []string }
	res := h.ok("OperateGpuPower", map[string]any{"Operate": "stop", "ResourceIds": []string{a}}, &power)
	if res.Msg != "操作下发成功" || res.Msg2 != "" {
		t.Errorf("OperateGpuPower message: got Msg %q Message %q, want Msg only", res.Msg, res.Msg2)
	}
	if !slices.Equal(power.ResourceIDs, []string{a}) || len(power.TaskIDs) != 1 {
		t.Fatalf("OperateGpuPower: got %+v, want one task for %s", power, a)
	}
	if got := h.detail(a); got.State != stateStopping || got.Status != "关机中" {
		t.Errorf("after stop: got %s/%s, want stopping/关机中", got.State, got.Status)
	}
	h.fails("OperateGpuPower", map[string]any{"Operate": "start", "ResourceIds": []string{a}}, codeInstanceError)
	h.clock.Advance(DefaultTaskDelay)
	if got := h.taskStatus(power.TaskIDs[0]); got != taskSucceed {
		t.Errorf("stop task: got %s, want succeed", got)
	}
	if got := h.detail(a); got.State != stateStopped || got.Status != "关机" {
		t.Errorf("after the stop task: got %s/%s, want stopped/关机", got.State, got.Status)
	}
	h.fails("OperateGpuPower", map[string]any{"Operate": "stop", "ResourceIds": []string{a}}, codeInstanceError)
	h.fails("OperateGpuPower", map[string]any{"Operate": "reset", "ResourceIds": []string{a}}, codeInstanceError)
	// All or nothing: a running b and a stopped a cannot be stopped together.
	h.fails("OperateGpuPower", map[string]any{"Operate": "stop", "ResourceIds": []string{b, a}}, codeInstanceError)
	if got := h.state(b); got != stateRunning {
		t.Errorf("b after a refused batch: got %s, want running", got)
	}

	// start a, reset b: two servers, two tasks.
	h.ok("OperateGpuPower", map[string]any{"Operate": "start", "ResourceIds": []string{a}}, nil)
	h.ok("OperateGpuPower", map[string]any{"Operate": "reset", "ResourceIds": []string{b}}, &power)
	if got := h.state(a); got != stateStarting {
		t.Errorf("after start: got %s, want starting", got)
	}
	if got := h.detail(b); got.State != stateRestarting || got.Status != "重启中" {
		t.Errorf("after reset: got %s/%s, want restarting/重启中", got.State, got.Status)
	}
	h.clock.Advance(DefaultTaskDelay)
	if ga, gb := h.state(a), h.state(b); ga != stateRunning || gb != stateRunning {
		t.Errorf("after start and reset tasks: got %s and %s, want running", ga, gb)
	}

	// reinstall a with another image.
	var re struct{ TaskIDs []string }
	h.ok("ReinstallGpu", map[string]any{"ResourceId": a, "ImageId": "d6012cd8-b672-11e9-9265-525400b97470",
		"Password": "capitalonline", "Raid": 0, "CustomPartition": []string{"/", "swap"}, "CustomPartitionSize": []int{100, 16}}, &re)
	if len(re.TaskIDs) != 1 {
		t.Fatalf("ReinstallGpu: got %+v, want one task", re)
	}
	if got := h.detail(a); got.State != stateRebuilding || got.Status != "重装中" || got.ImageName != "ubuntu14.04_64" {
		t.Errorf("while rebuilding: got %s/%s %s, want rebuilding/重装中 on the old image", got.State, got.Status, got.ImageName)
	}
	h.fails("DeleteGpuInstances", map[string]any{"ResourceIds": []string{a}}, codeInstanceError)
	h.clock.Advance(DefaultTaskDelay)
	if got := h.detail(a); got.State != stateRunning || got.ImageName != "centos7.6_64" {
		t.Errorf("after reinstall: got %s %s, want running centos7.6_64", got.State, got.ImageName)
	}
	if got := h.taskStatus(re.TaskIDs[0]); got != taskSucceed {
		t.Errorf("reinstall task: got %s, want succeed", got)
	}

	// delete both: deleting until the (internal) task ends, then gone.
	res = h.ok("DeleteGpuInstances", map[string]any{"ResourceIds": []string{a, b}}, nil)
	if string(res.Data) != "{}" || res.Msg != "任务下发成功!" {
		t.Errorf("DeleteGpuInstances: got Data %s Msg %q, want {} and 任务下发成功!", res.Data, res.Msg)
	}
	if got := h.detail(b); got.State != stateDeleting || got.Status != "删除中" {
		t.Errorf("after delete: got %s/%s, want deleting/删除中", got.State, got.Status)
	}
	if got := h.stock("CN_Hohhot_B", compute); got != 8 {
		t.Errorf("stock while deleting: got %d, want 8", got)
	}
	h.clock.Advance(DefaultTaskDelay)
	h.fails("DescribeGpuDetail", url.Values{"ResourceId": {a}}, codeInstanceNotFound)
	h.ok("DescribeGpu", nil, &list)
	if list.TotalCount != 0 || len(list.Records) != 0 {
		t.Errorf("DescribeGpu after delete: got %+v, want none", list)
	}
	if got := h.stock("CN_Hohhot_B", compute); got != 10 {
		t.Errorf("stock after delete: got %d, want 10", got)
	}
}

func TestInvalidOperations(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	running := h.running(createBody(2))
	_, creating := h.create(createBody(1))
	tests := []struct {
		name   string
		action string
		body   map[string]any
		want   string
	}{
		{"start a running server", "OperateGpuPower", map[string]any{"Operate": "start", "ResourceIds": running[:1]}, codeInstanceError},
		{"stop a creating server", "OperateGpuPower", map[string]any{"Operate": "stop", "ResourceIds": creating}, codeInstanceError},
		{"reinstall a creating server", "ReinstallGpu", map[string]any{"ResourceId": creating[0],
			"ImageId": "d32af696-5774-4936-8f09-e9f4cf069b31", "Password": "Tester@123"}, codeInstanceError},
		{"delete a creating server", "DeleteGpuInstances", map[string]any{"ResourceIds": creating}, codeInstanceError},
		{"unknown server", "OperateGpuPower", map[string]any{"Operate": "stop", "ResourceIds": []string{"nope"}}, codeInstanceNotFound},
		{"one unknown among known", "OperateGpuPower", map[string]any{"Operate": "stop", "ResourceIds": []string{running[0], "nope"}}, codeInstanceNotFound},
		{"delete unknown", "DeleteGpuInstances", map[string]any{"ResourceIds": []string{"nope"}}, codeInstanceNotFound},
		{"reinstall unknown", "ReinstallGpu", map[string]any{"ResourceId": "nope",
			"ImageId": "d32af696-5774-4936-8f09-e9f4cf069b31", "Password": "Tester@123"}, codeInstanceNotFound},
		{"reinstall unknown image", "ReinstallGpu", map[string]any{"ResourceId": running[0],
			"ImageId": "nope", "Password": "Tester@123"}, codeImageNotFound},
		{"reinstall image of another region", "ReinstallGpu", map[string]any{"ResourceId": running[0],
			"ImageId": "bd597daa-2157-4a6f-8e29-8c212eb86tes", "Password": "Tester@123"}, codeImageNotFound},
		{"reinstall image of another compute", "ReinstallGpu", map[string]any{"ResourceId": running[0],
			"ImageId": "7e1c2f30-6a7b-4c55-9b0e-3d2a1f0e9c02", "Password": "Tester@123"}, codeImageNotFound},
		{"reinstall short password", "ReinstallGpu", map[string]any{"ResourceId": running[0],
			"ImageId": "d32af696-5774-4936-8f09-e9f4cf069b31", "Password": "short"}, codeParameterInvalid},
		{"reinstall bad raid", "ReinstallGpu", map[string]any{"ResourceId": running[0],
			"ImageId": "d32af696-5774-4936-8f09-e9f4cf069b31", "Password": "Tester@123", "Raid": 2}, codeParameterInvalid},
		{"reinstall no password", "ReinstallGpu", map[string]any{"ResourceId": running[0],
			"ImageId": "d32af696-5774-4936-8f09-e9f4cf069b31"}, codeParameterIsEmpty},
		{"repeated ids", "OperateGpuPower", map[string]any{"Operate": "stop", "ResourceIds": []string{running[0], running[0]}}, codeParameterInvalid},
		{"unknown operation", "OperateGpuPower", map[string]any{"Operate": "hibernate", "ResourceIds": running[:1]}, codeParameterInvalid},
		{"no operation", "OperateGpuPower", map[string]any{"ResourceIds": running[:1]}, codeParameterIsEmpty},
		{"empty ids", "OperateGpuPower", map[string]any{"Operate": "stop", "ResourceIds": []string{}}, codeParameterIsEmpty},
		{"ids as a string", "DeleteGpuInstances", map[string]any{"ResourceIds": running[0]}, codeParameterInvalid},
		{"ids of numbers", "DeleteGpuInstances", map[string]any{"ResourceIds": []int{1}}, codeParameterInvalid},
		{"101 ids", "DeleteGpuInstances", map[string]any{"ResourceIds": manyIDs(101)}, codeParameterInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.with(t).fails(tt.action, tt.body, tt.want)
		})
	}
	for _, id := range running {
		if got := h.state(id); got != stateRunning {
			t.Errorf("%s after refused operations: got %s, want running", id, got)
		}
	}
	h.fails("DescribeGpuTask", url.Values{"TaskId": {"nope"}}, codeDataNotExists)
	h.fails("DescribeGpuTask", nil, codeParameterIsEmpty)
	h.fails("DescribeGpuDetail", url.Values{"ResourceId": {"nope"}}, codeInstanceNotFound)
}

func manyIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint("id-", i)
	}
	return out
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	edit := func(f func(m map[string]any)) map[string]any {
		m := createBody(2)
		f(m)
		return m
	}
	net := func(m map[string]any) map[string]any { return m["VpcNetWork"].(map[string]any) }
	tests := []struct {
		name string
		body any
		want string
	}{
		{"amount 101", edit(func(m map[string]any) { m["Amount"] = 101 }), codeAmountOversize},
		{"amount 0", edit(func(m map[string]any) { m["Amount"] = 0 }), codeParameterInvalid},
		{"amount as a string", edit(func(m map[string]any) { m["Amount"] = "2" }), codeParameterInvalid},
		{"amount 2.5", edit(func(m map[string]any) { m["Amount"] = 2.5 }), codeParameterInvalid},
		{"month 37", edit(func(m map[string]any) { m["PrepaidMonth"] = 37 }), codeParameterInvalid},
		{"auto renew 2", edit(func(m map[string]any) { m["AutoRenew"] = 2 }), codeParameterInvalid},
		{"raid 3", edit(func(m map[string]any) { m["Raid"] = 3 }), codeParameterInvalid},
		{"raid as a string", edit(func(m map[string]any) { m["Raid"] = "0" }), codeParameterInvalid},
		{"bond mode", edit(func(m map[string]any) { m["BondMode"] = "bond4" }), codeParameterInvalid},
		{"port mode", edit(func(m map[string]any) { m["PortMode"] = "hybrid" }), codeParameterInvalid},
		{"charge type", edit(func(m map[string]any) { m["InstanceChargeType"] = "prepaid" }), codeParameterInvalid},
		{"first partition not /", edit(func(m map[string]any) {
			m["CustomPartition"], m["CustomPartitionSize"] = []string{"swap", "/"}, []int{8, 100}
		}), codeParameterInvalid},
		{"partition sizes short", edit(func(m map[string]any) {
			m["CustomPartition"], m["CustomPartitionSize"] = []string{"/", "swap", "/data"}, []int{100, 8}
		}), codeParameterInvalid},
		{"sizes without partitions", edit(func(m map[string]any) { m["CustomPartitionSize"] = []int{100} }), codeParameterInvalid},
		{"partition size 0", edit(func(m map[string]any) {
			m["CustomPartition"], m["CustomPartitionSize"] = []string{"/"}, []int{0}
		}), codeParameterInvalid},
		{"partition twice", edit(func(m map[string]any) {
			m["CustomPartition"], m["CustomPartitionSize"] = []string{"/", "/data", "/data"}, []int{100, 1, 1}
		}), codeParameterInvalid},
		{"password too short", edit(func(m map[string]any) { m["Password"] = "Ab1!" }), codeParameterInvalid},
		{"password too long", edit(func(m map[string]any) { m["Password"] = strings.Repeat("p", 65) }), codeParameterInvalid},
		{"password a number", edit(func(m map[string]any) { m["Password"] = 12345678 }), codeParameterInvalid},
		{"host number not digits", edit(func(m map[string]any) { m["AssignHostNo"] = "a1" }), codeParameterInvalid},
		{"name too long", edit(func(m map[string]any) { m["InstanceName"] = strings.Repeat("n", 65) }), codeParameterInvalid},
		{"vpc as a string", edit(func(m map[string]any) { m["VpcNetWork"] = "vpc-a" }), codeParameterInvalid},
		{"no VpcId", edit(func(m map[string]any) { delete(net(m), "VpcId") }), codeParameterIsEmpty},
		{"no NetId", edit(func(m map[string]any) { delete(net(m), "NetId") }), codeParameterIsEmpty},
		// Every server keeps its VpcId: an unbounded one would unbound memory.
		{"VpcId too long", edit(func(m map[string]any) { net(m)["VpcId"] = strings.Repeat("v", maxIDLen+1) }), codeParameterInvalid},
		{"NetId too long", edit(func(m map[string]any) { net(m)["NetId"] = strings.Repeat("n", maxIDLen+1) }), codeParameterInvalid},
		{"ReserveEip a string", edit(func(m map[string]any) { net(m)["ReserveEip"] = "true" }), codeParameterInvalid},
		{"EIPs without ReserveEip", edit(func(m map[string]any) { net(m)["EipIdList"] = []string{"e1", "e2"} }), codeParameterInvalid},
		{"EIPs fewer than servers", edit(func(m map[string]any) {
			net(m)["ReserveEip"], net(m)["EipIdList"] = true, []string{"e1"}
		}), codeParameterInvalid},
		{"segments fewer than servers", edit(func(m map[string]any) {
			net(m)["Segments"] = []map[string]any{{"SegmentId": "s", "Address": "10.15.0.5"}}
		}), codeParameterInvalid},
		{"segment not IPv4", edit(func(m map[string]any) {
			net(m)["Segments"] = []map[string]any{{"Address": "10.15.0.5"}, {"Address": "::1"}}
		}), codeParameterInvalid},
		{"segment address twice", edit(func(m map[string]any) {
			net(m)["Segments"] = []map[string]any{{"Address": "10.15.0.5"}, {"Address": "10.15.0.5"}}
		}), codeParameterInvalid},
		{"segment a string", edit(func(m map[string]any) { net(m)["Segments"] = []string{"10.15.0.5", "10.15.0.6"} }), codeParameterInvalid},
		{"unknown region", edit(func(m map[string]any) { m["RegionId"] = "CN_Nowhere" }), codeParameterInvalid},
		{"unknown compute", edit(func(m map[string]any) { m["ComputeId"] = "nope" }), codeParameterInvalid},
		{"unknown image", edit(func(m map[string]any) { m["ImageId"] = "nope" }), codeImageNotFound},
		{"image of another region", edit(func(m map[string]any) { m["ImageId"] = "bd597daa-2157-4a6f-8e29-8c212eb86tes" }), codeImageNotFound},
		{"image of another compute", edit(func(m map[string]any) { m["ImageId"] = "7e1c2f30-6a7b-4c55-9b0e-3d2a1f0e9c02" }), codeImageNotFound},
		{"sold out", edit(func(m map[string]any) {
			m["RegionId"], m["GoodsId"], m["ComputeId"], m["Amount"] = "CN_SJZ_B", 8520, "219a3445-bb9c-4ae9-b50d-3f83c416c626", 1
			m["ImageId"] = "bd597daa-2157-4a6f-8e29-8c212eb86tes"
			m["VpcNetWork"] = map[string]any{"VpcId": "b2ca7892-a329-11ef-943a-66fdd349a9b1", "NetId": "b2cc9168-a329-11ef-943a-66fdd349a9b1"}
		}), codeNotSufficient},
		{"more than in stock", edit(func(m map[string]any) { m["Amount"] = 11 }), codeNotSufficient},
	}
	for _, field := range []string{"RegionId", "VpcNetWork", "Password", "InstanceName", "InstanceChargeType", "ComputeId", "GoodsId", "ImageId", "Amount"} {
		tests = append(tests, struct {
			name string
			body any
			want string
		}{"no " + field, edit(func(m map[string]any) { delete(m, field) }), codeParameterIsEmpty})
	}
	h := newHarness(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.with(t).fails("CreateGpuInstance", tt.body, tt.want)
		})
	}
	var list gpuList
	h.ok("DescribeGpu", nil, &list)
	if list.TotalCount != 0 {
		t.Errorf("refused creates made %d servers, want 0", list.TotalCount)
	}
	if got := h.stock("CN_Hohhot_B", "8fbdb61e-b941-46db-89f6-f8953b278ec9"); got != 10 {
		t.Errorf("refused creates left stock %d, want 10", got)
	}
}

func TestNamesAndAddresses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithTaskDelay(0))
	names := func(body map[string]any) []string {
		_, ids := h.create(body)
		var out []string
		for _, id := range ids {
			out = append(out, h.detail(id).Name)
		}
		return out
	}
	b := createBody(2)
	if got := names(b); !slices.Equal(got, []string{"bms001", "bms002"}) {
		t.Errorf("names without AssignHostNo: got %v, want bms001 bms002", got)
	}
	b = createBody(2)
	b["InstanceName"], b["AssignHostNo"] = "gpu-", "0099"
	if got := names(b); !slices.Equal(got, []string{"gpu-0099", "gpu-0100"}) {
		t.Errorf("names from 0099: got %v, want gpu-0099 gpu-0100", got)
	}
	b = createBody(2)
	b["InstanceName"], b["AssignHostNo"] = "x", "999"
	if got := names(b); !slices.Equal(got, []string{"x999", "x1000"}) {
		t.Errorf("names past 999: got %v, want x999 x1000", got)
	}

	seg := func(addrs ...string) map[string]any {
		b := createBody(len(addrs))
		var segs []map[string]any
		for _, a := range addrs {
			segs = append(segs, map[string]any{"SegmentId": "seg", "Address": a})
		}
		b["VpcNetWork"] = map[string]any{"VpcId": hohhotVPC, "NetId": hohhotSubnet, "Segments": segs}
		return b
	}
	_, ids := h.create(seg("10.15.100.5"))
	if got := h.detail(ids[0]).Networks.NetworkCards[0].IPAddress; got != "10.15.100.5" {
		t.Errorf("segment address: got %s, want 10.15.100.5", got)
	}
	h.fails("CreateGpuInstance", seg("10.15.100.5"), codeParameterInvalid)
	h.fails("CreateGpuInstance", seg("10.15.0.2"), codeParameterInvalid) // the first server's
	// The subnet is 10.15.0.0/17: its network, gateway and broadcast
	// addresses are reserved, and an address outside it is refused.
	for _, ip := range []string{"10.15.0.0", "10.15.0.1", "10.15.127.255", "10.15.128.9", "10.16.0.5"} {
		h.fails("CreateGpuInstance", seg(ip), codeParameterInvalid)
	}
	h.create(seg("10.15.127.254"))

	var list gpuList
	h.ok("DescribeGpu", nil, &list)
	seen := map[string]bool{}
	for _, r := range list.Records {
		key := r.AppID + "/" + r.Networks.NetworkCards[0].IPAddress
		if seen[key] {
			t.Errorf("address %s used twice", key)
		}
		seen[key] = true
	}
}

func TestPagingAndFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithTaskDelay(0))
	b := createBody(5) // in the Hohhot VPC
	b["InstanceName"] = "train"
	h.create(b)
	infer := map[string]any{ // in the Qingyang VPC
		"RegionId": "CN_Qingyang_A", "VpcNetWork": map[string]any{"VpcId": qingyangVPC, "NetId": qingyangSubnets[1]},
		"Password": "Tester@123", "InstanceName": "infer", "InstanceChargeType": "PostPaid",
		"ComputeId": "c3b0c9d2-7e41-4f0a-9a35-2f1e6b7d8c01", "GoodsId": 8001, "ImageId": "7e1c2f30-6a7b-4c55-9b0e-3d2a1f0e9c11", "Amount": 2,
	}
	h.create(infer)
	names := func(h *harness, q url.Values) (gpuList, []string) {
		var l gpuList
		h.ok("DescribeGpu", q, &l)
		var out []string
		for _, r := range l.Records {
			out = append(out, r.Name)
		}
		return l, out
	}
	tests := []struct {
		name              string
		q                 url.Values
		want              []string
		total, pages      int
		pageSize, pageNum int
	}{
		{"defaults", nil, []string{"train001", "train002", "train003", "train004", "train005", "infer001", "infer002"}, 7, 1, 500, 1},
		{"page 2 of 3", url.Values{"PageSize": {"3"}, "PageNumber": {"2"}}, []string{"train004", "train005", "infer001"}, 7, 3, 3, 2},
		{"last page", url.Values{"PageSize": {"3"}, "PageNumber": {"3"}}, []string{"infer002"}, 7, 3, 3, 3},
		{"past the end", url.Values{"PageSize": {"3"}, "PageNumber": {"9"}}, nil, 7, 3, 3, 9},
		{"name substring", url.Values{"Name": {"rain"}}, []string{"train001", "train002", "train003", "train004", "train005"}, 5, 1, 500, 1},
		{"exact name", url.Values{"Name": {"infer002"}}, []string{"infer002"}, 1, 1, 500, 1},
		{"vpc", url.Values{"AppId": {qingyangVPC}}, []string{"infer001", "infer002"}, 2, 1, 500, 1},
		{"vpc and name", url.Values{"AppId": {qingyangVPC}, "Name": {"train"}}, nil, 0, 0, 500, 1},
		{"unknown vpc", url.Values{"AppId": {"vpc-z"}}, nil, 0, 0, 500, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, got := names(h.with(t), tt.q)
			if !slices.Equal(got, tt.want) {
				t.Errorf("records: got %v, want %v", got, tt.want)
			}
			if l.TotalCount != tt.total || l.Pages != tt.pages || l.PageSize != tt.pageSize || l.PageNumber != tt.pageNum {
				t.Errorf("paging: got total %d pages %d size %d number %d, want %d %d %d %d",
					l.TotalCount, l.Pages, l.PageSize, l.PageNumber, tt.total, tt.pages, tt.pageSize, tt.pageNum)
			}
		})
	}
	res := h.ok("DescribeGpu", url.Values{"AppId": {"vpc-z"}}, nil)
	if !strings.Contains(string(res.Data), `"Records":[]`) {
		t.Errorf("empty page %s: want Records []", res.Data)
	}
	for _, q := range []url.Values{{"PageSize": {"0"}}, {"PageSize": {"1001"}}, {"PageNumber": {"0"}}, {"PageNumber": {"x"}}, {"PageSize": {"1.5"}}} {
		h.fails("DescribeGpu", q, codeParameterInvalid)
	}
}

func TestDetailOfOtherGoods(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := createBody(1)
	b["GoodsId"], b["ComputeId"] = 7955, "f7d3b7b4-e77d-47ac-aa37-8c9e3304e469"
	b["ImageId"] = "7e1c2f30-6a7b-4c55-9b0e-3d2a1f0e9c02" // offered for this compute only
	ids := h.running(b)
	h.clock.Advance(27*time.Hour + 95*time.Second - DefaultTaskDelay)
	d := h.detail(ids[0])
	if d.RunningTime != "1天3小时1分钟35秒" {
		t.Errorf("RunningTime: got %s, want 1天3小时1分钟35秒", d.RunningTime)
	}
	if d.ExpireDate != "" || d.IsAutoRenew != 0 {
		t.Errorf("PostPaid: got ExpireDate %q IsAutoRenewal %d, want empty and 0", d.ExpireDate, d.IsAutoRenew)
	}
	if d.Networks.NetworkCards[0].EipAddress != "" || d.Networks.NetworkCards[0].WorkMode != "noBond" {
		t.Errorf("card: got %+v, want no EIP, noBond", d.Networks.NetworkCards[0])
	}
	var paths []string
	for _, v := range d.Volumes {
		paths = append(paths, v.VolumePath+":"+v.VolumeType)
	}
	want := []string{"sda:SSD", "sdb:SSD", "sdc:NVME", "sdd:NVME", "sde:NVME", "sdf:NVME"}
	if !slices.Equal(paths, want) {
		t.Errorf("volumes: got %v, want %v", paths, want)
	}
}

func TestStock(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const compute = "1b69ecca-453c-4535-8c96-16edf1ec6da9" // 5 in stock
	body := func(n int) map[string]any {
		b := createBody(n)
		b["GoodsId"], b["ComputeId"], b["InstanceChargeType"] = 7793, compute, "PrePaid"
		return b
	}
	ids := h.running(body(4))
	h.fails("CreateGpuInstance", body(2), codeNotSufficient)
	more := h.running(body(1))
	if got := h.stock("CN_Hohhot_B", compute); got != 0 {
		t.Errorf("stock after buying all: got %d, want 0", got)
	}
	h.fails("CreateGpuInstance", body(1), codeNotSufficient)
	h.ok("DeleteGpuInstances", map[string]any{"ResourceIds": append(ids[:1], more...)}, nil)
	h.fails("CreateGpuInstance", body(1), codeNotSufficient) // not back until the delete ends
	h.clock.Advance(DefaultTaskDelay)
	if got := h.stock("CN_Hohhot_B", compute); got != 2 {
		t.Errorf("stock after deleting 2: got %d, want 2", got)
	}
	h.running(body(2))
	h.fails("CreateGpuInstance", body(1), codeNotSufficient)
}

func TestMaxServers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithMaxServers(3))
	h.create(createBody(2))
	h.fails("CreateGpuInstance", createBody(2), codeNotSufficient)
	h.create(createBody(1))
}

func TestFinishedTasksExpire(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithTaskRetention(time.Minute))
	task, _ := h.create(createBody(1))
	h.clock.Advance(DefaultTaskDelay + time.Minute - time.Second)
	if got := h.taskStatus(task); got != taskSucceed {
		t.Errorf("task within retention: got %s, want succeed", got)
	}
	h.clock.Advance(time.Second)
	h.fails("DescribeGpuTask", url.Values{"TaskId": {task}}, codeDataNotExists)
	h.e.mu.Lock()
	defer h.e.mu.Unlock()
	if len(h.e.tasks) != 0 || len(h.e.finished) != 0 {
		t.Errorf("after expiry %d tasks and %d finished remembered, want none", len(h.e.tasks), len(h.e.finished))
	}
}

func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	const password = "Pa55word-Never-Shown"
	var logs bytes.Buffer
	h := newHarness(t, WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	var replies []string
	keep := func(r result) { replies = append(replies, r.raw) }

	b := createBody(1)
	b["Password"] = password
	_, ids := h.create(b)
	keep(h.do(call{action: "CreateGpuInstance", params: b}))
	bad := createBody(1)
	bad["Password"], bad["Amount"] = password, 1000
	keep(h.do(call{action: "CreateGpuInstance", params: bad}))
	h.clock.Advance(DefaultTaskDelay)
	keep(h.do(call{action: "ReinstallGpu", params: map[string]any{"ResourceId": ids[0], "ImageId": "nope", "Password": password}}))
	keep(h.do(call{action: "ReinstallGpu", params: map[string]any{"ResourceId": ids[0], "ImageId": "d6012cd8-b672-11e9-9265-525400b97470", "Password": password}}))
	keep(h.do(call{action: "ReinstallGpu", params: map[string]any{"ResourceId": ids[0], "ImageId": "x", "Password": []string{password}}}))
	keep(h.do(call{action: "DescribeGpuDetail", params: url.Values{"ResourceId": {ids[0]}}}))
	keep(h.do(call{action: "DescribeGpu", secret: "wrong"}))

	if logs.Len() == 0 {
		t.Fatal("no logs written at debug level")
	}
	for _, s := range append(replies, logs.String()) {
		if strings.Contains(s, password) || strings.Contains(s, testSecret) {
			t.Errorf("a password or the secret shown in %q", s)
		}
	}
}

func TestConcurrentCreatesRespectStock(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const workers = 24 // the compute has 10
	codes := make([]string, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			codes[i] = h.do(call{action: "CreateGpuInstance", params: createBody(1)}).Code
			h.do(call{action: "DescribeGpu"})
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[codeSuccess] != 10 || count[codeNotSufficient] != workers-10 {
		t.Errorf("got %v, want 10 Success and %d NotSufficient", count, workers-10)
	}
	var list gpuList
	h.ok("DescribeGpu", nil, &list)
	if list.TotalCount != 10 {
		t.Errorf("servers: got %d, want 10", list.TotalCount)
	}
	if got := h.stock("CN_Hohhot_B", "8fbdb61e-b941-46db-89f6-f8953b278ec9"); got != 0 {
		t.Errorf("stock: got %d, want 0", got)
	}
}
