package emulator

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// The networks are fixed and shared by every Emulator, like the catalogue:
// which address a server takes and which EIP it binds is each Emulator's
// own state (its servers).

type vpcNet struct {
	id, name   string
	segment    netip.Prefix
	regionCode string
	created    string
	subnets    []*subnet
}

type subnet struct {
	id, name string
	segment  netip.Prefix // at most a /18: room for MaxMaxServers servers
	zone     string       // AvailableZoneCode, as a GPU RegionId
	vpc      *vpcNet
	created  string
}

type eipInfo struct {
	id, ip, regionCode string
	bandwidthID        string
	bandwidthType      string
	qos                int
	created            string
}

// EIPsPerRegion is how many EIPs each region of the emulator has.
const EIPsPerRegion = 8

// seedID is a stable id for a seeded object without a documented one.
func seedID(kind, name string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("gpubms-emulator:"+kind+":"+name)).String()
}

// The seeded networks: in each region one VPC; CN_Hohhot_B and CN_SJZ_B
// have one subnet each (with the ids of the provider's own examples, so they
// work verbatim), CN_Qingyang_A two (a create there has to choose). The
// Hohhot VPC also has a subnet in zone CN_Hohhot_A, where no GPU is sold.
var vpcs = []*vpcNet{
	{
		id: "f91084b4-050d-11ef-b98e-4637f0e9cd45", name: "default-hohhot", segment: netip.MustParsePrefix("10.15.0.0/16"),
		regionCode: "CN_Hohhot", created: "2024-04-28 10:12:31",
		subnets: []*subnet{
			{id: "f9129e16-050d-11ef-b98e-4637f0e9cd45", name: "hohhot-b", segment: netip.MustParsePrefix("10.15.0.0/17"), zone: "CN_Hohhot_B", created: "2024-04-28 10:12:35"},
			{id: seedID("subnet", "hohhot-a"), name: "hohhot-a", segment: netip.MustParsePrefix("10.15.128.0/17"), zone: "CN_Hohhot_A", created: "2024-04-28 10:13:02"},
		},
	},
	{
		id: seedID("vpc", "default-qingyang"), name: "default-qingyang", segment: netip.MustParsePrefix("10.20.0.0/16"),
		regionCode: "CN_Qingyang", created: "2024-06-03 09:40:11",
		subnets: []*subnet{
			{id: seedID("subnet", "qingyang-a-1"), name: "qingyang-a-1", segment: netip.MustParsePrefix("10.20.0.0/17"), zone: "CN_Qingyang_A", created: "2024-06-03 09:40:20"},
			{id: seedID("subnet", "qingyang-a-2"), name: "qingyang-a-2", segment: netip.MustParsePrefix("10.20.128.0/17"), zone: "CN_Qingyang_A", created: "2024-06-03 09:41:05"},
		},
	},
	{
		id: "b2ca7892-a329-11ef-943a-66fdd349a9b1", name: "default-sjz", segment: netip.MustParsePrefix("10.30.0.0/16"),
		regionCode: "CN_SJZ", created: "2024-11-15 16:20:44",
		subnets: []*subnet{
			{id: "b2cc9168-a329-11ef-943a-66fdd349a9b1", name: "sjz-b", segment: netip.MustParsePrefix("10.30.0.0/17"), zone: "CN_SJZ_B", created: "2024-11-15 16:20:47"},
		},
	},
}

var (
	vpcByID    = map[string]*vpcNet{}
	subnetByID = map[string]*subnet{}
	eips       []*eipInfo // by region, in order
	eipByID    = map[string]*eipInfo{}
)

// eipSeeds gives each region's first address and carrier. Hohhot's first EIP
// is the one of the provider's examples.
var eipSeeds = []struct {
	regionCode, firstID, firstIP, bandwidthType string
}{
	{"CN_Hohhot", "8e2330bc-fbc5-11ee-a916-8a891739d466", "60.165.239.111", "Bandwidth_China_Telecom"},
	{"CN_Qingyang", "", "61.178.10.11", "Bandwidth_China_Telecom"},
	{"CN_SJZ", "", "124.239.20.11", "Bandwidth_China_Unicom"},
}

func init() {
	for _, v := range vpcs {
		vpcByID[v.id] = v
		for _, s := range v.subnets {
			if s.segment.Bits() > 18 || !v.segment.Contains(s.segment.Addr()) {
				panic("emulator: subnet " + s.name + " too small or outside its VPC")
			}
			s.vpc = v
			subnetByID[s.id] = s
		}
	}
	for _, seed := range eipSeeds {
		ip := netip.MustParseAddr(seed.firstIP)
		for i := range EIPsPerRegion {
			id := seed.firstID
			if i > 0 || id == "" {
				id = seedID("eip", seed.regionCode+"/"+strconv.Itoa(i))
			}
			e := &eipInfo{
				id: id, ip: ip.String(), regionCode: seed.regionCode,
				bandwidthID: seedID("bandwidth", seed.regionCode+"/"+strconv.Itoa(i)), bandwidthType: seed.bandwidthType,
				qos: 10 * (1 + i%3), created: "2024-11-18 10:00:00",
			}
			eips = append(eips, e)
			eipByID[e.id] = e
			ip = ip.Next()
		}
	}
}

// RegionCode is the network API's region of a zone (a GPU RegionId): the
// zone without its last "_X" part, CN_Hohhot_B → CN_Hohhot.
func RegionCode(zone string) string {
	if i := strings.LastIndexByte(zone, '_'); i > 0 {
		return zone[:i]
	}
	return zone
}

// DefaultNetwork returns the VPC and the first subnet the emulator has in
// zone (a GPU RegionId such as CN_Hohhot_B), for a create's VpcNetWork.
func DefaultNetwork(zone string) (vpcID, subnetID string, ok bool) {
	for _, v := range vpcs {
		for _, s := range v.subnets {
			if s.zone == zone {
				return v.id, s.id, true
			}
		}
	}
	return "", "", false
}

// gateway is the subnet's first address; the network address, the gateway
// and the broadcast address are never a server's.
func (s *subnet) gateway() netip.Addr { return s.segment.Masked().Addr().Next() }

func (s *subnet) reserved(a netip.Addr) bool {
	p := s.segment.Masked()
	return a == p.Addr() || a == s.gateway() || a == lastAddr(p)
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// netmask is the dotted mask of p.
func netmask(p netip.Prefix) string {
	m := ^uint32(0) << (32 - p.Bits())
	return fmt.Sprintf("%d.%d.%d.%d", byte(m>>24), byte(m>>16), byte(m>>8), byte(m))
}

// linkType is the carrier name the GPU API shows for a bandwidth type.
func linkType(bandwidthType string) string {
	switch bandwidthType {
	case "Bandwidth_China_Telecom":
		return "电信"
	case "Bandwidth_China_Unicom":
		return "联通"
	case "Bandwidth_China_Mobile":
		return "移动"
	}
	return "BGP"
}

// checkNetwork checks a create's VpcNetWork against the networks: the VPC
// must be in the zone's region, the subnet in that VPC and zone, explicit
// private addresses inside the subnet and not reserved.
func checkNetwork(r *createRequest) error {
	v := vpcByID[r.vpcID]
	if v == nil || v.regionCode != RegionCode(r.regionID) {
		return apiErr(codeVdcNotFound, "VPC不存在: %s", r.vpcID)
	}
	s := subnetByID[r.netID]
	if s == nil || s.vpc != v {
		return apiErr(codePipeIDNotFound, "子网不存在: %s", r.netID)
	}
	if s.zone != r.regionID {
		return apiErr(codePipeIDNotFound, "子网%s不在可用区%s", r.netID, r.regionID)
	}
	for _, ip := range r.addresses {
		a := netip.MustParseAddr(ip) // parseCreate checked it
		if !s.segment.Contains(a) {
			return invalid("VpcNetWork.Segments.Address", fmt.Sprintf("%s不在子网网段%s内", ip, s.segment))
		}
		if s.reserved(a) {
			return invalid("VpcNetWork.Segments.Address", ip+"为保留地址")
		}
	}
	r.subnet = s
	return nil
}

// boundEIPs returns the EIPs bound to a server, by id. Must hold e.mu.
func (e *Emulator) boundEIPs() map[string]*server {
	out := map[string]*server{}
	for _, s := range e.servers {
		if s.eipID != "" {
			out[s.eipID] = s
		}
	}
	return out
}

// pickEIPs returns the EIPs of a create: the ones it names, which must be
// the region's and unbound, or else the first unbound ones of the region.
// Must hold e.mu.
func (e *Emulator) pickEIPs(r *createRequest) ([]*eipInfo, error) {
	if !r.reserveEIP {
		return nil, nil
	}
	bound := e.boundEIPs()
	region := RegionCode(r.regionID)
	var out []*eipInfo
	if len(r.eipIDs) > 0 {
		for _, id := range r.eipIDs {
			ip := eipByID[id]
			if ip == nil || ip.regionCode != region {
				return nil, apiErr(codeDataNotExists, "EIP不存在: %s", id)
			}
			if bound[id] != nil || slices.Contains(out, ip) {
				return nil, invalid("VpcNetWork.EipIdList", "EIP已被绑定: "+id)
			}
			out = append(out, ip)
		}
		return out, nil
	}
	for _, ip := range eips {
		if ip.regionCode == region && bound[ip.id] == nil {
			out = append(out, ip)
			if len(out) == r.amount {
				return out, nil
			}
		}
	}
	return nil, apiErr(codeIPNotEnough, "EIP不足: 可用%d个, 需要%d个", len(out), r.amount)
}

// The network API's actions: POST, parameters in a JSON body.
var vpcActions = map[string]action{
	"DescribeVPC":    {method: "POST", handle: (*Emulator).describeVPC},
	"DescribeSubnet": {method: "POST", handle: (*Emulator).describeSubnet},
	"DescribeEIP":    {method: "POST", handle: (*Emulator).describeEIP},
}

// networkPageSize is how many VPCs or subnets a page holds.
const networkPageSize = 20

type vpcReply struct {
	VPCID      string `json:"VPCId"`
	VPCNmae    string `json:"VPCNmae"` // sic, as the provider's reference spells it
	VPCSegment string `json:"VPCSegment"`
	Status     string `json:"Status"`
	RegionCode string `json:"RegionCode"`
	CreateTime string `json:"CreateTime"`
}

// page returns the page-th page (from 1) of items.
func page[T any](items []T, page int) []T {
	lo := (page - 1) * networkPageSize
	if lo >= len(items) {
		return []T{}
	}
	return items[lo:min(lo+networkPageSize, len(items))]
}

func (e *Emulator) describeVPC(a *args) (any, error) {
	region := a.str("RegionCode", false)
	keyword := a.str("Keyword", false)
	pageNo := a.intIn("PageNumber", false, 1, 1<<31-1, 1)
	if err := a.failed(); err != nil {
		return nil, err
	}
	var match []vpcReply
	for _, v := range vpcs {
		if (region == "" || v.regionCode == region) && strings.Contains(v.name, keyword) {
			match = append(match, vpcReply{v.id, v.name, v.segment.String(), "ok", v.regionCode, v.created})
		}
	}
	return struct {
		Total   int        `json:"Total"`
		VPCList []vpcReply `json:"VPCList"`
	}{len(match), page(match, pageNo)}, nil
}

type subnetReply struct {
	SubnetID          string `json:"SubnetId"`
	SubnetName        string `json:"SubnetName"`
	SubnetSegment     string `json:"SubnetSegment"`
	UsedIPNum         int    `json:"UsedIPNum"`
	VPCID             string `json:"VPCId"`
	VPCName           string `json:"VPCName"`
	AvailableZoneCode string `json:"AvailableZoneCode"`
	Status            string `json:"Status"`
}

func (e *Emulator) describeSubnet(a *args) (any, error) {
	region := a.str("RegionCode", true)
	keyword := a.str("Keyword", false)
	vpcID := a.str("VPCId", false)
	zone := a.str("AvailableZoneCode", false)
	pageNo := 1
	if p := a.str("PageNumber", false); p != "" { // a string, as documented
		n, err := strconv.Atoi(p)
		a.check(err == nil && n >= 1, invalid("PageNumber", "应为不小于1的整数"))
		pageNo = n
	}
	if err := a.failed(); err != nil {
		return nil, err
	}
	e.lock()
	used := map[*subnet]int{}
	for _, s := range e.servers {
		used[s.subnet]++
	}
	e.mu.Unlock()
	var match []subnetReply
	for _, v := range vpcs {
		for _, s := range v.subnets {
			if v.regionCode != region || (vpcID != "" && v.id != vpcID) || (zone != "" && s.zone != zone) ||
				(keyword != "" && !strings.Contains(s.name, keyword) && s.id != keyword) {
				continue
			}
			match = append(match, subnetReply{s.id, s.name, s.segment.String(), used[s], v.id, v.name, s.zone, "ok"})
		}
	}
	return struct {
		Total      int           `json:"Total"`
		SubnetList []subnetReply `json:"SubnetList"`
	}{len(match), page(match, pageNo)}, nil
}

type eipReply struct {
	ID                string         `json:"Id"`
	IP                string         `json:"IP"`
	RegionCode        string         `json:"RegionCode"`
	AvailableZoneCode string         `json:"AvailableZoneCode"`
	Status            string         `json:"Status"`
	Description       string         `json:"Description"`
	IsBind            bool           `json:"IsBind"`
	CreateTime        string         `json:"CreateTime"`
	BandwidthInfo     bandwidthReply `json:"BandwidthInfo"`
	BindResourceInfo  *bindReply     `json:"BindResourceInfo"`
}

type bandwidthReply struct {
	ID                string `json:"Id"`
	Name              string `json:"Name"`
	Qos               int    `json:"Qos"`
	AvailableZoneCode string `json:"AvailableZoneCode"`
	BandwidthType     string `json:"BandwidthType"`
	BillScheme        string `json:"BillScheme"`
	Status            string `json:"Status"`
	CreateTime        string `json:"CreateTime"`
}

type bindReply struct {
	SubnetID string `json:"SubnetId"`
	SubnetIP string `json:"SubnetIP"`
}

func (e *Emulator) describeEIP(a *args) (any, error) {
	region := a.str("RegionCode", true)
	zone := a.str("AvailableZoneCode", false) // the seeded EIPs are in no zone
	keyword := a.str("Keyword", false)
	if err := a.failed(); err != nil {
		return nil, err
	}
	e.lock()
	bound := map[string]bindReply{}
	for id, s := range e.boundEIPs() {
		bound[id] = bindReply{s.subnet.id, s.nic.ip}
	}
	e.mu.Unlock()
	out := []eipReply{}
	for _, ip := range eips {
		if ip.regionCode != region || zone != "" || !strings.Contains(ip.ip, keyword) {
			continue
		}
		r := eipReply{
			ID: ip.id, IP: ip.ip, RegionCode: ip.regionCode, Status: "ok", CreateTime: ip.created,
			BandwidthInfo: bandwidthReply{
				ID: ip.bandwidthID, Name: "bw-" + ip.ip, Qos: ip.qos, BandwidthType: ip.bandwidthType,
				BillScheme: "BandwIdth", Status: "ok", CreateTime: ip.created,
			},
		}
		if b, ok := bound[ip.id]; ok {
			r.IsBind, r.BindResourceInfo = true, &b
		}
		out = append(out, r)
	}
	return struct {
		Total   int        `json:"Total"`
		EIPList []eipReply `json:"EIPList"`
	}{len(out), out}, nil
}
