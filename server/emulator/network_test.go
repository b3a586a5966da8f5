package emulator

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

type (
	vpcList struct {
		Total   int
		VPCList []struct {
			VPCID      string `json:"VPCId"`
			VPCNmae    string
			VPCSegment string
			Status     string
			RegionCode string
			CreateTime string
		}
	}
	subnetList struct {
		Total      int
		SubnetList []struct {
			SubnetID          string `json:"SubnetId"`
			SubnetName        string
			SubnetSegment     string
			UsedIPNum         int
			VPCID             string `json:"VPCId"`
			VPCName           string
			AvailableZoneCode string
			Status            string
		}
	}
	eipList struct {
		Total   int
		EIPList []struct {
			ID            string `json:"Id"`
			IP            string
			RegionCode    string
			IsBind        bool
			BandwidthInfo struct {
				Qos           int
				BandwidthType string
			}
			BindResourceInfo *struct {
				SubnetID string `json:"SubnetId"`
				SubnetIP string
			}
		}
	}
)

func (l subnetList) ids() []string {
	var out []string
	for _, s := range l.SubnetList {
		out = append(out, s.SubnetID)
	}
	return out
}

func TestDescribeVPC(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var all vpcList
	res := h.ok("DescribeVPC", nil, &all)
	if all.Total != 3 || len(all.VPCList) != 3 {
		t.Fatalf("DescribeVPC: got %+v, want the 3 seeded VPCs", all)
	}
	if !strings.Contains(string(res.Data), `"VPCNmae":"default-hohhot"`) {
		t.Errorf("the name is spelled VPCNmae, as the provider does: %s", res.Data)
	}
	v := all.VPCList[0]
	if v.VPCID != hohhotVPC || v.VPCSegment != "10.15.0.0/16" || v.Status != "ok" || v.RegionCode != "CN_Hohhot" || v.CreateTime == "" {
		t.Errorf("Hohhot VPC: got %+v", v)
	}
	tests := []struct {
		name   string
		params map[string]any
		want   []string
		total  int
	}{
		{"region", map[string]any{"RegionCode": "CN_Qingyang"}, []string{qingyangVPC}, 1},
		{"keyword", map[string]any{"Keyword": "sjz"}, []string{"b2ca7892-a329-11ef-943a-66fdd349a9b1"}, 1},
		{"unknown region", map[string]any{"RegionCode": "CN_Nowhere"}, nil, 0},
		{"past the last page", map[string]any{"PageNumber": 2}, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l vpcList
			res := h.with(t).ok("DescribeVPC", tt.params, &l)
			var got []string
			for _, v := range l.VPCList {
				got = append(got, v.VPCID)
			}
			if !slices.Equal(got, tt.want) || l.Total != tt.total {
				t.Errorf("got %v total %d, want %v total %d", got, l.Total, tt.want, tt.total)
			}
			if l.VPCList == nil && !strings.Contains(string(res.Data), `"VPCList":[]`) {
				t.Errorf("an empty page is a list: %s", res.Data)
			}
		})
	}
	h.fails("DescribeVPC", map[string]any{"PageNumber": 0}, codeParameterInvalid)
	h.fails("DescribeVPC", map[string]any{"PageNumber": "1"}, codeParameterInvalid)
}

func TestDescribeSubnet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithTaskDelay(0))
	hohhotA := seedID("subnet", "hohhot-a")
	tests := []struct {
		name   string
		params map[string]any
		want   []string
	}{
		{"region", map[string]any{"RegionCode": "CN_Hohhot"}, []string{hohhotSubnet, hohhotA}},
		{"zone", map[string]any{"RegionCode": "CN_Hohhot", "AvailableZoneCode": "CN_Hohhot_B"}, []string{hohhotSubnet}},
		{"two in a zone", map[string]any{"RegionCode": "CN_Qingyang", "AvailableZoneCode": "CN_Qingyang_A"}, qingyangSubnets},
		{"vpc", map[string]any{"RegionCode": "CN_Qingyang", "VPCId": qingyangVPC}, qingyangSubnets},
		{"vpc of another region", map[string]any{"RegionCode": "CN_Qingyang", "VPCId": hohhotVPC}, nil},
		{"keyword name", map[string]any{"RegionCode": "CN_Qingyang", "Keyword": "a-2"}, qingyangSubnets[1:]},
		{"keyword id", map[string]any{"RegionCode": "CN_Hohhot", "Keyword": hohhotA}, []string{hohhotA}},
		{"page as a string", map[string]any{"RegionCode": "CN_Hohhot", "PageNumber": "1"}, []string{hohhotSubnet, hohhotA}},
		{"page 2", map[string]any{"RegionCode": "CN_Hohhot", "PageNumber": "2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l subnetList
			h.with(t).ok("DescribeSubnet", tt.params, &l)
			if got := l.ids(); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	h.fails("DescribeSubnet", nil, codeParameterIsEmpty)
	h.fails("DescribeSubnet", map[string]any{"RegionCode": "CN_Hohhot", "PageNumber": "x"}, codeParameterInvalid)
	h.fails("DescribeSubnet", map[string]any{"RegionCode": "CN_Hohhot", "PageNumber": "0"}, codeParameterInvalid)

	// UsedIPNum counts the servers in the subnet.
	h.create(createBody(3))
	var l subnetList
	h.ok("DescribeSubnet", map[string]any{"RegionCode": "CN_Hohhot"}, &l)
	s := l.SubnetList[0]
	if s.UsedIPNum != 3 || l.SubnetList[1].UsedIPNum != 0 {
		t.Errorf("UsedIPNum: got %d and %d, want 3 and 0", s.UsedIPNum, l.SubnetList[1].UsedIPNum)
	}
	if s.SubnetName != "hohhot-b" || s.SubnetSegment != "10.15.0.0/17" || s.VPCID != hohhotVPC ||
		s.VPCName != "default-hohhot" || s.AvailableZoneCode != "CN_Hohhot_B" || s.Status != "ok" {
		t.Errorf("subnet: got %+v", s)
	}
}

// TestEIPs proves the EIP pool: a create with ReserveEip binds the EIPs it
// names or the first free ones, never one twice, and a deleted server frees
// its EIP.
func TestEIPs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithTaskDelay(0))
	eipsOf := func(region string) eipList {
		t.Helper()
		var l eipList
		h.ok("DescribeEIP", map[string]any{"RegionCode": region}, &l)
		return l
	}
	l := eipsOf("CN_Hohhot")
	if l.Total != EIPsPerRegion || len(l.EIPList) != EIPsPerRegion {
		t.Fatalf("Hohhot EIPs: got %d, want %d", l.Total, EIPsPerRegion)
	}
	first := l.EIPList[0]
	if first.ID != "8e2330bc-fbc5-11ee-a916-8a891739d466" || first.IP != "60.165.239.111" || first.IsBind ||
		first.BindResourceInfo != nil || first.BandwidthInfo.Qos == 0 || first.BandwidthInfo.BandwidthType != "Bandwidth_China_Telecom" {
		t.Errorf("first Hohhot EIP: got %+v", first)
	}
	reserve := func(amount int, ids ...string) map[string]any {
		b := createBody(amount)
		net := map[string]any{"VpcId": hohhotVPC, "NetId": hohhotSubnet, "ReserveEip": true}
		if ids != nil {
			net["EipIdList"] = ids
		}
		b["VpcNetWork"] = net
		return b
	}

	// Named EIPs: the third and fourth.
	_, named := h.create(reserve(2, l.EIPList[2].ID, l.EIPList[3].ID))
	for i, id := range named {
		d := h.detail(id)
		if got := d.Networks.NetworkCards[0].EipAddress; got != l.EIPList[2+i].IP {
			t.Errorf("server %d: EIP %s, want %s", i, got, l.EIPList[2+i].IP)
		}
		if d.Networks.NetworkCards[0].EipLinkType != "电信" {
			t.Errorf("server %d: link type %q, want 电信", i, d.Networks.NetworkCards[0].EipLinkType)
		}
	}
	h.fails("CreateGpuInstance", reserve(1, l.EIPList[2].ID), codeParameterInvalid) // bound
	h.fails("CreateGpuInstance", reserve(2, l.EIPList[0].ID, l.EIPList[0].ID), codeParameterInvalid)
	h.fails("CreateGpuInstance", reserve(1, "no-such-eip"), codeDataNotExists)
	h.fails("CreateGpuInstance", reserve(1, eipsOf("CN_SJZ").EIPList[0].ID), codeDataNotExists) // another region's

	// Free ones, in order: the first, second, fifth...
	_, auto := h.create(reserve(2))
	if got := h.detail(auto[1]).Networks.NetworkCards[0].EipAddress; got != l.EIPList[1].IP {
		t.Errorf("second automatic EIP: got %s, want %s", got, l.EIPList[1].IP)
	}
	h.fails("CreateGpuInstance", reserve(EIPsPerRegion-3), codeIPNotEnough)
	_, rest := h.create(reserve(EIPsPerRegion - 4))

	bound := map[string]string{} // IP → server
	for _, id := range slices.Concat(named, auto, rest) {
		ip := h.detail(id).Networks.NetworkCards[0].EipAddress
		if other, dup := bound[ip]; dup {
			t.Errorf("EIP %s given to %s and %s", ip, other, id)
		}
		bound[ip] = id
	}
	for _, e := range eipsOf("CN_Hohhot").EIPList {
		if !e.IsBind || e.BindResourceInfo == nil || e.BindResourceInfo.SubnetID != hohhotSubnet {
			t.Fatalf("EIP %s: got %+v, want bound in %s", e.IP, e, hohhotSubnet)
		}
		if want := h.detail(bound[e.IP]).Networks.NetworkCards[0].IPAddress; e.BindResourceInfo.SubnetIP != want {
			t.Errorf("EIP %s bound to %s, want %s", e.IP, e.BindResourceInfo.SubnetIP, want)
		}
	}
	if eipsOf("CN_SJZ").EIPList[0].IsBind {
		t.Error("an SJZ EIP is bound; only Hohhot ones were taken")
	}

	// A deleted server gives its EIP back.
	h.ok("DeleteGpuInstances", map[string]any{"ResourceIds": []string{named[0]}}, nil)
	h.ok("DescribeGpu", nil, nil) // the task finishes (no delay)
	for _, e := range eipsOf("CN_Hohhot").EIPList {
		if e.IsBind == (e.ID == l.EIPList[2].ID) {
			t.Errorf("after delete: EIP %s bound %v", e.IP, e.IsBind)
		}
	}
	h.create(reserve(1, l.EIPList[2].ID))

	var some eipList
	h.ok("DescribeEIP", map[string]any{"RegionCode": "CN_Hohhot", "Keyword": "239.111"}, &some)
	if some.Total != 1 || some.EIPList[0].ID != first.ID {
		t.Errorf("keyword: got %+v, want the first EIP", some)
	}
	h.ok("DescribeEIP", map[string]any{"RegionCode": "CN_Hohhot", "AvailableZoneCode": "CN_Hohhot_B"}, &some)
	if some.Total != 0 {
		t.Errorf("edge zone: got %d EIPs, want none (the seeded ones are in no zone)", some.Total)
	}
	h.fails("DescribeEIP", nil, codeParameterIsEmpty)
}

// TestCreateChecksNetwork proves a create names a VPC of its region and a
// subnet of that VPC in its zone.
func TestCreateChecksNetwork(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	withNet := func(vpc, subnet string) map[string]any {
		b := createBody(1)
		b["VpcNetWork"] = map[string]any{"VpcId": vpc, "NetId": subnet}
		return b
	}
	tests := []struct {
		name, vpc, subnet, code string
	}{
		{"unknown vpc", "vpc-e2e", hohhotSubnet, codeVdcNotFound},
		{"vpc of another region", qingyangVPC, qingyangSubnets[0], codeVdcNotFound},
		{"unknown subnet", hohhotVPC, "net-e2e", codePipeIDNotFound},
		{"subnet of another vpc", hohhotVPC, qingyangSubnets[0], codePipeIDNotFound},
		{"subnet of another zone", hohhotVPC, seedID("subnet", "hohhot-a"), codePipeIDNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.with(t).fails("CreateGpuInstance", withNet(tt.vpc, tt.subnet), tt.code)
			if id := map[string]string{codeVdcNotFound: tt.vpc, codePipeIDNotFound: tt.subnet}[tt.code]; !strings.Contains(res.message(), id) {
				t.Errorf("message %q does not name %s", res.message(), id)
			}
		})
	}
	var list gpuList
	h.ok("DescribeGpu", nil, &list)
	if list.TotalCount != 0 {
		t.Errorf("refused creates made %d servers", list.TotalCount)
	}
	if got := h.stock("CN_Hohhot_B", "8fbdb61e-b941-46db-89f6-f8953b278ec9"); got != 10 {
		t.Errorf("stock after refused creates: got %d, want 10", got)
	}
	for _, zone := range []string{"CN_Hohhot_B", "CN_Qingyang_A", "CN_SJZ_B"} {
		vpc, subnet, ok := DefaultNetwork(zone)
		if !ok || subnetByID[subnet] == nil || subnetByID[subnet].vpc.id != vpc || subnetByID[subnet].zone != zone {
			t.Errorf("DefaultNetwork(%s) = %s, %s, %v: not a subnet of that zone", zone, vpc, subnet, ok)
		}
	}
	if _, _, ok := DefaultNetwork("CN_Nowhere_Z"); ok {
		t.Error("DefaultNetwork of an unknown zone: ok")
	}
}

// TestAddressesWrap proves the private address allocator never hands out an
// address twice once its counter has gone round the subnet.
func TestAddressesWrap(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithTaskDelay(0))
	_, first := h.create(createBody(2))
	h.e.mu.Lock()
	h.e.ipNext[hohhotSubnet] = 128 * 250 // gone round the /17: it starts over
	h.e.mu.Unlock()
	_, second := h.create(createBody(2))
	seen := map[string]bool{}
	for _, id := range slices.Concat(first, second) {
		ip := h.detail(id).Networks.NetworkCards[0].IPAddress
		if seen[ip] || !strings.HasPrefix(ip, "10.15.") {
			t.Errorf("address %s: repeated or outside 10.15.0.0/17", ip)
		}
		seen[ip] = true
	}
}

// TestVPCPath proves the network API has its own path, actions and
// signature check.
func TestVPCPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	checkError(t, "DescribeVPC on the GPU path", h.do(call{action: "DescribeVPC", path: "/gpubms/v1/"}), codeInvalidAction)
	checkError(t, "DescribeGpuRegions on the VPC path", h.do(call{action: "DescribeGpuRegions", path: "/vpc/", method: http.MethodPost}), codeInvalidAction)
	checkError(t, "DescribeVPC as GET", h.do(call{action: "DescribeVPC", method: http.MethodGet}), codeInvalidAction)
	checkError(t, "a wrong signature", h.do(call{action: "DescribeVPC", secret: "wrong"}), codeSignatureDoesNotMatch)
	res := h.do(call{action: "DescribeVPC", path: "/vpc"})
	if res.Code != codeSuccess {
		t.Errorf("/vpc without the slash: %s", res.Code)
	}
	if res := h.do(call{action: "DescribeVPC", path: "/vpcx"}); res.status != http.StatusNotFound {
		t.Errorf("/vpcx: HTTP %d, want 404", res.status)
	}
	for zone, want := range map[string]string{"CN_Hohhot_B": "CN_Hohhot", "CN_Qingyang_A": "CN_Qingyang", "Zone": "Zone"} {
		if got := RegionCode(zone); got != want {
			t.Errorf("RegionCode(%s) = %s, want %s", zone, got, want)
		}
	}
}
