package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/upstream"
)

// NetworkService implements gpubmsv1.NetworkServiceServer: the provider's
// network (VPC) reads, and FindNetworks, over the Service's upstream client
// and error mapping. Make it with Service.Networks.
type NetworkService struct {
	gpubmsv1.UnimplementedNetworkServiceServer
	s *Service
}

// Networks returns the NetworkService of s.
func (s *Service) Networks() *NetworkService { return &NetworkService{s: s} }

// maxNetworkPages bounds the pages read to list a region's VPCs or subnets.
const maxNetworkPages = 50

// RegionCode is the network API's region of a GPU region id (a zone): the
// one WithZoneRegions gives for it, else the zone without its last "_X"
// part (CN_Hohhot_B → CN_Hohhot). The provider does not document the rule.
func (s *Service) RegionCode(zone string) string {
	if rc, ok := s.zoneRegions[zone]; ok {
		return rc
	}
	if i := strings.LastIndexByte(zone, '_'); i > 0 {
		return zone[:i]
	}
	return zone
}

// DescribeVPC lists VPCs, a page at a time.
func (n *NetworkService) DescribeVPC(ctx context.Context, req *gpubmsv1.DescribeVPCRequest) (*gpubmsv1.DescribeVPCResponse, error) {
	d, err := n.s.up.DescribeVPC(ctx, &upstream.DescribeVPCRequest{
		RegionCode: req.GetRegionCode(), PageNumber: copyPtr(req.PageNumber), Keyword: req.GetKeyword(),
	})
	if err != nil {
		return nil, n.s.fail(ctx, upstream.ActionDescribeVPC, err)
	}
	out := &gpubmsv1.DescribeVPCResponse{Total: d.Total, Vpcs: make([]*gpubmsv1.Vpc, len(d.VPCList))}
	for i := range d.VPCList {
		out.Vpcs[i] = vpcToProto(&d.VPCList[i])
	}
	return out, nil
}

// DescribeSubnet lists the subnets of a region.
func (n *NetworkService) DescribeSubnet(ctx context.Context, req *gpubmsv1.DescribeSubnetRequest) (*gpubmsv1.DescribeSubnetResponse, error) {
	r := &upstream.DescribeSubnetRequest{
		RegionCode: req.GetRegionCode(), Keyword: req.GetKeyword(),
		VPCID: req.GetVpcId(), AvailableZoneCode: req.GetAvailableZoneCode(),
	}
	if req.PageNumber != nil {
		r.PageNumber = strconv.Itoa(int(req.GetPageNumber()))
	}
	d, err := n.s.up.DescribeSubnet(ctx, r)
	if err != nil {
		return nil, n.s.fail(ctx, upstream.ActionDescribeSubnet, err)
	}
	out := &gpubmsv1.DescribeSubnetResponse{Total: d.Total, Subnets: make([]*gpubmsv1.Subnet, len(d.SubnetList))}
	for i := range d.SubnetList {
		out.Subnets[i] = subnetToProto(&d.SubnetList[i])
	}
	return out, nil
}

// DescribeEIP lists the EIPs of a region.
func (n *NetworkService) DescribeEIP(ctx context.Context, req *gpubmsv1.DescribeEIPRequest) (*gpubmsv1.DescribeEIPResponse, error) {
	d, err := n.s.up.DescribeEIP(ctx, &upstream.DescribeEIPRequest{
		RegionCode: req.GetRegionCode(), AvailableZoneCode: req.GetAvailableZoneCode(), Keyword: req.GetKeyword(),
	})
	if err != nil {
		return nil, n.s.fail(ctx, upstream.ActionDescribeEIP, err)
	}
	out := &gpubmsv1.DescribeEIPResponse{Total: d.Total, Eips: make([]*gpubmsv1.Eip, len(d.EIPList))}
	for i := range d.EIPList {
		out.Eips[i] = eipToProto(&d.EIPList[i])
	}
	return out, nil
}

// FindNetworks answers what a create's vpc_network may use in a GPU region:
// the VPCs of its region code with their subnets in the zone, and the
// unbound EIPs. The region must be one DescribeGpuRegions lists.
func (n *NetworkService) FindNetworks(ctx context.Context, req *gpubmsv1.FindNetworksRequest) (*gpubmsv1.FindNetworksResponse, error) {
	zone := req.GetRegionId()
	regions, err := n.s.up.DescribeGpuRegions(ctx, &upstream.DescribeGpuRegionsRequest{})
	if err != nil {
		return nil, n.s.fail(ctx, upstream.ActionDescribeGpuRegions, err)
	}
	if !slices.ContainsFunc(regions, func(r upstream.Region) bool { return r.RegionID == zone }) {
		return nil, fieldError(codes.NotFound, "region_id", "%s is not a GPU region (DescribeGpuRegions lists them)", zone)
	}
	nets, err := n.s.regionNetworks(ctx, zone, false, true)
	if err != nil {
		return nil, err
	}
	out := &gpubmsv1.FindNetworksResponse{RegionId: zone, RegionCode: nets.regionCode}
	for _, v := range nets.vpcs {
		choice := &gpubmsv1.NetworkChoice{Vpc: vpcToProto(v.vpc)}
		for _, sn := range v.subnets {
			choice.Subnets = append(choice.Subnets, subnetToProto(sn))
		}
		out.Vpcs = append(out.Vpcs, choice)
	}
	for _, e := range nets.freeEIPs {
		out.FreeEips = append(out.FreeEips, eipToProto(e))
	}
	return out, nil
}

// networks is what the network API has for one zone.
type networks struct {
	regionCode string
	vpcs       []zoneVPC         // the region's VPCs with a subnet in the zone, in the provider's order
	subnets    []upstream.Subnet // every subnet of the region
	eips       []upstream.EIP    // every EIP of the region usable in the zone
	freeEIPs   []*upstream.EIP   // those not bound
	byVPC      map[string]*upstream.VPC
}

type zoneVPC struct {
	vpc     *upstream.VPC
	subnets []*upstream.Subnet
}

// regionNetworks reads the VPCs, subnets and (with eips) EIPs of zone's
// region, in parallel; fresh refuses cached replies (a dry run's check).
func (s *Service) regionNetworks(ctx context.Context, zone string, fresh, eips bool) (*networks, error) {
	if fresh {
		ctx = upstream.NoCache(ctx)
	}
	rc := s.RegionCode(zone)
	nets := &networks{regionCode: rc, byVPC: map[string]*upstream.VPC{}}
	var vpcList []upstream.VPC
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		vpcList, err = allPages(gctx, s, upstream.ActionDescribeVPC, func(v upstream.VPC) string { return v.VPCID },
			func(ctx context.Context, page int32) ([]upstream.VPC, int32, error) {
				d, err := s.up.DescribeVPC(ctx, &upstream.DescribeVPCRequest{RegionCode: rc, PageNumber: &page})
				if err != nil {
					return nil, 0, err
				}
				return d.VPCList, d.Total, nil
			})
		return err
	})
	g.Go(func() error {
		var err error
		nets.subnets, err = allPages(gctx, s, upstream.ActionDescribeSubnet, func(sn upstream.Subnet) string { return sn.SubnetID },
			func(ctx context.Context, page int32) ([]upstream.Subnet, int32, error) {
				d, err := s.up.DescribeSubnet(ctx, &upstream.DescribeSubnetRequest{RegionCode: rc, PageNumber: strconv.Itoa(int(page))})
				if err != nil {
					return nil, 0, err
				}
				return d.SubnetList, d.Total, nil
			})
		return err
	})
	if eips {
		g.Go(func() error {
			d, err := s.up.DescribeEIP(gctx, &upstream.DescribeEIPRequest{RegionCode: rc})
			if err != nil {
				return s.fail(ctx, upstream.ActionDescribeEIP, err)
			}
			for _, e := range d.EIPList {
				// An EIP of an edge site is usable only there.
				if e.AvailableZoneCode == "" || e.AvailableZoneCode == zone {
					nets.eips = append(nets.eips, e)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i := range vpcList {
		nets.byVPC[vpcList[i].VPCID] = &vpcList[i]
	}
	inZone := map[string]*zoneVPC{}
	for i := range nets.subnets {
		sn := &nets.subnets[i]
		if sn.AvailableZoneCode != zone {
			continue
		}
		z := inZone[sn.VPCID]
		if z == nil {
			v := nets.byVPC[sn.VPCID]
			if v == nil { // beyond the pages read, or listed late: what the subnet says
				v = &upstream.VPC{VPCID: sn.VPCID, VPCName: sn.VPCName, RegionCode: rc}
				nets.byVPC[sn.VPCID] = v
			}
			z = &zoneVPC{vpc: v}
			inZone[sn.VPCID] = z
		}
		z.subnets = append(z.subnets, sn)
	}
	for i := range vpcList {
		if z := inZone[vpcList[i].VPCID]; z != nil {
			nets.vpcs = append(nets.vpcs, *z)
			delete(inZone, vpcList[i].VPCID)
		}
	}
	for i := range nets.subnets { // VPCs known only from their subnets, in subnet order
		if z := inZone[nets.subnets[i].VPCID]; z != nil {
			nets.vpcs = append(nets.vpcs, *z)
			delete(inZone, nets.subnets[i].VPCID)
		}
	}
	for i := range nets.eips {
		if !nets.eips[i].IsBind {
			nets.freeEIPs = append(nets.freeEIPs, &nets.eips[i])
		}
	}
	return nets, nil
}

// allPages reads a listing page by page from 1, keeping each item (by id)
// once, until it has Total items, a page comes back empty or brings nothing
// new (a provider that ignores PageNumber), or maxNetworkPages were read.
func allPages[T any](ctx context.Context, s *Service, action string, id func(T) string, read func(context.Context, int32) ([]T, int32, error)) ([]T, error) {
	var out []T
	seen := map[string]bool{}
	for page := int32(1); page <= maxNetworkPages; page++ {
		items, total, err := read(ctx, page)
		if err != nil {
			return nil, s.fail(ctx, action, err)
		}
		fresh := 0
		for _, it := range items {
			if k := id(it); !seen[k] {
				seen[k] = true
				out = append(out, it)
				fresh++
			}
		}
		if fresh == 0 || (total > 0 && len(out) >= int(total)) {
			return out, nil
		}
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "network listing truncated",
		slog.String("action", action), slog.Int("pages", maxNetworkPages), slog.Int("items", len(out)))
	return out, nil
}

// checkNetwork is the network part of a create's dry run: the VPC is one of
// the zone's region, the subnet one of that VPC in the zone, pinned
// addresses are inside the subnet, and the EIPs asked for exist unbound.
func (s *Service) checkNetwork(ctx context.Context, req *gpubmsv1.CreateGpuInstanceRequest) error {
	zone, vn := req.GetRegionId(), req.GetVpcNetwork()
	nets, err := s.regionNetworks(ctx, zone, true, vn.GetReserveEip())
	if err != nil {
		return err
	}
	if _, ok := nets.byVPC[vn.GetVpcId()]; !ok {
		if len(nets.byVPC) == 0 {
			return fieldError(codes.NotFound, "vpc_network.vpc_id", "region %s (of zone %s) has no VPCs; if the provider names the zone's region otherwise, set it in GPUBMS_ZONE_REGIONS",
				nets.regionCode, zone)
		}
		return fieldError(codes.NotFound, "vpc_network.vpc_id", "VPC %s is not in region %s (of zone %s)", vn.GetVpcId(), nets.regionCode, zone)
	}
	i := slices.IndexFunc(nets.subnets, func(sn upstream.Subnet) bool { return sn.SubnetID == vn.GetNetId() })
	switch {
	case i < 0:
		return fieldError(codes.NotFound, "vpc_network.net_id", "subnet %s is not in region %s", vn.GetNetId(), nets.regionCode)
	case nets.subnets[i].VPCID != vn.GetVpcId():
		return fieldError(codes.NotFound, "vpc_network.net_id", "subnet %s is in VPC %s, not %s", vn.GetNetId(), nets.subnets[i].VPCID, vn.GetVpcId())
	case nets.subnets[i].AvailableZoneCode != zone:
		return fieldError(codes.NotFound, "vpc_network.net_id", "subnet %s is in zone %s, not %s", vn.GetNetId(), nets.subnets[i].AvailableZoneCode, zone)
	}
	if err := checkSegments(vn.GetSegments(), &nets.subnets[i]); err != nil {
		return err
	}
	if !vn.GetReserveEip() {
		return nil
	}
	if ids := vn.GetEipIdList(); len(ids) > 0 {
		for j, id := range ids {
			k := slices.IndexFunc(nets.eips, func(e upstream.EIP) bool { return e.ID == id })
			field := fmt.Sprintf("vpc_network.eip_id_list[%d]", j)
			switch {
			case k < 0:
				return fieldError(codes.NotFound, field, "EIP %s is not one of region %s usable in zone %s", id, nets.regionCode, zone)
			case nets.eips[k].IsBind:
				return fieldError(codes.FailedPrecondition, field, "EIP %s (%s) is bound already", id, nets.eips[k].IP)
			}
		}
		return nil
	}
	if free := len(nets.freeEIPs); free < int(req.GetAmount()) {
		return fieldError(codes.ResourceExhausted, "vpc_network.reserve_eip",
			"region %s has %d unbound EIPs, fewer than the amount %d", nets.regionCode, free, req.GetAmount())
	}
	return nil
}

// checkSegments checks pinned addresses against their subnet: inside its
// CIDR, and not its network, gateway (first) or broadcast address, which
// the provider keeps for itself.
func checkSegments(segs []*gpubmsv1.Segment, sn *upstream.Subnet) error {
	if len(segs) == 0 {
		return nil
	}
	cidr, err := netip.ParsePrefix(sn.SubnetSegment)
	if err != nil || !cidr.Addr().Is4() {
		return status.Errorf(codes.FailedPrecondition, "subnet %s has segment %q, not an IPv4 CIDR: its addresses cannot be checked", sn.SubnetID, sn.SubnetSegment)
	}
	cidr = cidr.Masked()
	for j, seg := range segs {
		a, err := netip.ParseAddr(seg.GetAddress())
		field := fmt.Sprintf("vpc_network.segments[%d].address", j)
		switch {
		case err != nil || !cidr.Contains(a):
			return fieldError(codes.InvalidArgument, field, "%s is not in subnet %s (%s)", seg.GetAddress(), sn.SubnetID, cidr)
		case a == cidr.Addr() || a == cidr.Addr().Next() || a == broadcast(cidr):
			return fieldError(codes.InvalidArgument, field, "%s is a reserved address of subnet %s (%s: network, gateway and broadcast)", a, sn.SubnetID, cidr)
		}
	}
	return nil
}

// broadcast is the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func vpcToProto(v *upstream.VPC) *gpubmsv1.Vpc {
	return &gpubmsv1.Vpc{
		VpcId: v.VPCID, VpcName: v.VPCName, VpcSegment: v.VPCSegment, Status: v.Status,
		RegionCode: v.RegionCode, CreateTime: v.CreateTime,
	}
}

func subnetToProto(s *upstream.Subnet) *gpubmsv1.Subnet {
	return &gpubmsv1.Subnet{
		SubnetId: s.SubnetID, SubnetName: s.SubnetName, SubnetSegment: s.SubnetSegment, UsedIpNum: s.UsedIPNum,
		VpcId: s.VPCID, VpcName: s.VPCName, AvailableZoneCode: s.AvailableZoneCode, Status: s.Status,
	}
}

func eipToProto(e *upstream.EIP) *gpubmsv1.Eip {
	b := e.BandwidthInfo
	out := &gpubmsv1.Eip{
		Id: e.ID, Ip: e.IP, RegionCode: e.RegionCode, AvailableZoneCode: e.AvailableZoneCode, Status: e.Status,
		Description: e.Description, IsBind: e.IsBind, CreateTime: e.CreateTime,
		Bandwidth: &gpubmsv1.EipBandwidth{
			Id: b.ID, Name: b.Name, Qos: b.Qos, AvailableZoneCode: b.AvailableZoneCode,
			BandwidthType: b.BandwidthType, BillScheme: b.BillScheme, Status: b.Status, CreateTime: b.CreateTime,
		},
	}
	if r := e.BindResourceInfo; r != nil {
		out.Binding = &gpubmsv1.EipBinding{SubnetId: r.SubnetID, SubnetIp: r.SubnetIP}
	}
	return out
}
