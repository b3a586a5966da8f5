package e2e_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/emulator"
)

// badRequestFields returns the fields a BadRequest detail of err names.
func badRequestFields(err error) []string {
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

// TestNetworks walks the path of a first create: FindNetworks, then a
// create in what it answered, with an EIP, to a running server whose EIP is
// no longer free; and the network reads over gRPC and HTTP. Run with the
// cache on too: a create's effect on the subnets and EIPs shows at once.
func TestNetworks(t *testing.T) {
	t.Parallel()
	testNetworks(t)
}

func TestNetworksCached(t *testing.T) {
	t.Parallel()
	testNetworks(t, withCache(), func(c *setup) { c.CacheTTLNetworks = time.Minute })
}

func testNetworks(t *testing.T, opts ...option) {
	h := start(t, append([]option{withCountedProvider()}, opts...)...)
	o := findOffer(t, h.c, 2)

	nets, err := h.c.FindNetworks(ctx(t), &gpubmsv1.FindNetworksRequest{RegionId: o.regionID})
	if err != nil {
		t.Fatal(err)
	}
	if nets.GetRegionId() != o.regionID || nets.GetRegionCode() != emulator.RegionCode(o.regionID) {
		t.Errorf("got region %s code %s, want %s and its region code", nets.GetRegionId(), nets.GetRegionCode(), o.regionID)
	}
	wantVPC, wantSubnet, _ := emulator.DefaultNetwork(o.regionID)
	if len(nets.GetVpcs()) != 1 || nets.GetVpcs()[0].GetVpc().GetVpcId() != wantVPC ||
		len(nets.GetVpcs()[0].GetSubnets()) != 1 || nets.GetVpcs()[0].GetSubnets()[0].GetSubnetId() != wantSubnet {
		t.Fatalf("FindNetworks(%s): got %v, want VPC %s with subnet %s only", o.regionID, nets.GetVpcs(), wantVPC, wantSubnet)
	}
	sn := nets.GetVpcs()[0].GetSubnets()[0]
	if sn.GetAvailableZoneCode() != o.regionID || sn.GetSubnetSegment() == "" || nets.GetVpcs()[0].GetVpc().GetVpcName() == "" {
		t.Errorf("subnet %v / VPC %v: want the zone, a CIDR and the VPC's name (spelled VPCNmae upstream)", sn, nets.GetVpcs()[0].GetVpc())
	}
	free := nets.GetFreeEips()
	if len(free) != emulator.EIPsPerRegion {
		t.Fatalf("free EIPs: got %d, want %d", len(free), emulator.EIPsPerRegion)
	}
	for _, e := range free {
		if e.GetIsBind() || e.GetBinding() != nil || e.GetIp() == "" || e.GetBandwidth().GetQos() == 0 {
			t.Errorf("free EIP %v: want unbound, with an address and a bandwidth", e)
		}
	}

	// Create with what FindNetworks answered, taking the second free EIP.
	req := o.createRequest("netwalk", 1)
	req.VpcNetwork = &gpubmsv1.VpcNetwork{
		VpcId: nets.GetVpcs()[0].GetVpc().GetVpcId(), NetId: sn.GetSubnetId(),
		ReserveEip: proto.Bool(true), EipIdList: []string{free[1].GetId()},
	}
	dry := proto.Clone(req).(*gpubmsv1.CreateGpuInstanceRequest)
	dry.ValidateOnly = true
	if _, err := h.c.CreateGpuInstance(ctx(t), dry); err != nil {
		t.Fatalf("dry run of a create in FindNetworks' answer: %v", err)
	}
	created, err := h.c.CreateGpuInstance(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	id := watchTask(t, h.c, created.GetTaskId())[0].GetResourceIds()[0]
	d, err := h.c.DescribeGpuDetail(ctx(t), &gpubmsv1.DescribeGpuDetailRequest{ResourceId: id})
	if err != nil {
		t.Fatal(err)
	}
	if d.GetState() != "running" {
		t.Errorf("server %s is %s, want running", id, d.GetState())
	}
	cards := d.GetNetworks().GetNetworkCards()
	if len(cards) != 1 || cards[0].GetEipAddress() != free[1].GetIp() {
		t.Fatalf("network cards %v, want one with EIP %s", cards, free[1].GetIp())
	}

	// The EIP is bound now, to the server's private address, and a dry run
	// asking for it again is refused.
	after, err := h.c.FindNetworks(ctx(t), &gpubmsv1.FindNetworksRequest{RegionId: o.regionID})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.GetFreeEips()) != emulator.EIPsPerRegion-1 ||
		slices.ContainsFunc(after.GetFreeEips(), func(e *gpubmsv1.Eip) bool { return e.GetId() == free[1].GetId() }) {
		t.Errorf("free EIPs after the create: got %d, want all but %s", len(after.GetFreeEips()), free[1].GetId())
	}
	if used := after.GetVpcs()[0].GetSubnets()[0].GetUsedIpNum(); used != sn.GetUsedIpNum()+1 {
		t.Errorf("subnet addresses used after the create: got %d, want %d", used, sn.GetUsedIpNum()+1)
	}
	eips, err := h.c.DescribeEIP(ctx(t), &gpubmsv1.DescribeEIPRequest{RegionCode: nets.GetRegionCode(), Keyword: free[1].GetIp()})
	if err != nil {
		t.Fatal(err)
	}
	if eips.GetTotal() != 1 || !eips.GetEips()[0].GetIsBind() || eips.GetEips()[0].GetBinding().GetSubnetIp() != cards[0].GetIpAddress() ||
		eips.GetEips()[0].GetBinding().GetSubnetId() != sn.GetSubnetId() {
		t.Errorf("DescribeEIP(%s): got %v, want it bound to %s in %s", free[1].GetIp(), eips.GetEips(), cards[0].GetIpAddress(), sn.GetSubnetId())
	}
	_, err = h.c.CreateGpuInstance(ctx(t), dry)
	wantCode(t, err, codes.FailedPrecondition, "")
	if f := badRequestFields(err); !slices.Contains(f, "vpc_network.eip_id_list[0]") {
		t.Errorf("bound EIP: the error names %v, want vpc_network.eip_id_list[0]", f)
	}
	// More servers with automatic EIPs than are free.
	tooMany := proto.Clone(dry).(*gpubmsv1.CreateGpuInstanceRequest)
	tooMany.VpcNetwork.EipIdList = nil
	tooMany.Amount = int32(emulator.EIPsPerRegion)
	if o.compute.GetPurchaseNum() >= tooMany.Amount {
		_, err = h.c.CreateGpuInstance(ctx(t), tooMany)
		wantCode(t, err, codes.ResourceExhausted, "")
		if f := badRequestFields(err); !slices.Contains(f, "vpc_network.reserve_eip") {
			t.Errorf("too few EIPs: the error names %v, want vpc_network.reserve_eip", f)
		}
	}

	t.Run("the provider refuses an unknown VPC or subnet", func(t *testing.T) {
		for _, tc := range []struct {
			name, vpc, subnet, reason string
		}{
			{"vpc", "no-such-vpc", sn.GetSubnetId(), "VdcNotFound"},
			{"subnet", wantVPC, "no-such-subnet", "PipeIdNotFound"},
		} {
			req := o.createRequest("netbad", 1)
			req.VpcNetwork = &gpubmsv1.VpcNetwork{VpcId: tc.vpc, NetId: tc.subnet}
			_, err := h.c.CreateGpuInstance(ctx(t), req)
			wantCode(t, err, codes.NotFound, tc.reason)
		}
	})

	t.Run("reads over gRPC", func(t *testing.T) {
		vpcs, err := h.c.DescribeVPC(ctx(t), &gpubmsv1.DescribeVPCRequest{RegionCode: nets.GetRegionCode()})
		if err != nil {
			t.Fatal(err)
		}
		if vpcs.GetTotal() != 1 || vpcs.GetVpcs()[0].GetVpcId() != wantVPC || vpcs.GetVpcs()[0].GetVpcSegment() == "" {
			t.Errorf("DescribeVPC: got %v", vpcs)
		}
		subnets, err := h.c.DescribeSubnet(ctx(t), &gpubmsv1.DescribeSubnetRequest{RegionCode: nets.GetRegionCode(), VpcId: wantVPC, PageNumber: proto.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(subnets.GetSubnets(), func(s *gpubmsv1.Subnet) bool { return s.GetSubnetId() == wantSubnet })
		if i < 0 || subnets.GetSubnets()[i].GetUsedIpNum() != 1 {
			t.Errorf("DescribeSubnet: got %v, want %s with 1 address used", subnets.GetSubnets(), wantSubnet)
		}
		n := h.providerRequests(t)
		_, err = h.c.DescribeSubnet(ctx(t), &gpubmsv1.DescribeSubnetRequest{})
		wantCode(t, err, codes.InvalidArgument, "")
		if !slices.Contains(violationFields(err), "region_code") {
			t.Errorf("DescribeSubnet without region_code: violations %v, want region_code", violationFields(err))
		}
		if got := h.providerRequests(t) - n; got != 0 {
			t.Errorf("an invalid request made %d provider requests, want 0", got)
		}
		_, err = h.c.FindNetworks(ctx(t), &gpubmsv1.FindNetworksRequest{RegionId: "CN_Nowhere_Z"})
		wantCode(t, err, codes.NotFound, "")
		if f := badRequestFields(err); !slices.Contains(f, "region_id") {
			t.Errorf("unknown region: the error names %v, want region_id", f)
		}
	})

	t.Run("reads over HTTP", func(t *testing.T) {
		var v gpubmsv1.DescribeVPCResponse
		h.httpOK(t, http.MethodGet, "/v1/vpcs?region_code="+nets.GetRegionCode(), nil, &v)
		if v.GetTotal() != 1 || v.GetVpcs()[0].GetVpcId() != wantVPC {
			t.Errorf("GET /v1/vpcs: got %v", &v)
		}
		var s gpubmsv1.DescribeSubnetResponse
		h.httpOK(t, http.MethodGet, "/v1/subnets?region_code="+nets.GetRegionCode()+"&available_zone_code="+o.regionID, nil, &s)
		if s.GetTotal() != 1 || s.GetSubnets()[0].GetSubnetId() != wantSubnet {
			t.Errorf("GET /v1/subnets: got %v", &s)
		}
		var e gpubmsv1.DescribeEIPResponse
		raw := h.httpOK(t, http.MethodGet, "/v1/eips?region_code="+nets.GetRegionCode(), nil, &e)
		if int(e.GetTotal()) != emulator.EIPsPerRegion || !strings.Contains(string(raw), `"is_bind":true`) {
			t.Errorf("GET /v1/eips: got %d EIPs, want %d with one bound: %s", e.GetTotal(), emulator.EIPsPerRegion, raw)
		}
		code, body := h.httpDo(t, http.MethodGet, "/v1/subnets", nil, nil)
		if code != http.StatusBadRequest || !strings.Contains(decodeHTTPError(t, body).Message, "region_code") {
			t.Errorf("GET /v1/subnets without region_code: %d %s, want 400 naming region_code", code, body)
		}
	})
}

// TestFindNetworksChoices: a zone with two subnets answers both, and the
// region code of a zone follows the configured override.
func TestFindNetworksChoices(t *testing.T) {
	t.Parallel()
	h := start(t, func(s *setup) {
		s.Config.ZoneRegions = map[string]string{"CN_SJZ_B": "CN_Hohhot"}
	})
	var two *gpubmsv1.FindNetworksResponse
	regions, err := h.c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range regions.GetRegions() {
		nets, err := h.c.FindNetworks(ctx(t), &gpubmsv1.FindNetworksRequest{RegionId: r.GetRegionId()})
		if err != nil {
			t.Fatal(err)
		}
		if len(nets.GetVpcs()) == 1 && len(nets.GetVpcs()[0].GetSubnets()) == 2 {
			two = nets
		}
		if r.GetRegionId() == "CN_SJZ_B" {
			// The override sends it to Hohhot's networks, none of which is
			// in zone CN_SJZ_B; the EIPs are Hohhot's.
			if nets.GetRegionCode() != "CN_Hohhot" || len(nets.GetVpcs()) != 0 || len(nets.GetFreeEips()) == 0 ||
				nets.GetFreeEips()[0].GetRegionCode() != "CN_Hohhot" {
				t.Errorf("FindNetworks(CN_SJZ_B) with the override: got %v", nets)
			}
		}
	}
	if two == nil {
		t.Fatal("no region with one VPC of two subnets; the emulator seeds CN_Qingyang_A so")
	}
	a, b := two.GetVpcs()[0].GetSubnets()[0], two.GetVpcs()[0].GetSubnets()[1]
	if a.GetSubnetId() == b.GetSubnetId() || a.GetAvailableZoneCode() != two.GetRegionId() || b.GetAvailableZoneCode() != two.GetRegionId() {
		t.Errorf("the two subnets: %v and %v, want distinct, both in %s", a, b, two.GetRegionId())
	}
}
