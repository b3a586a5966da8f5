package upstream

import "context"

// The actions of the provider's network (VPC) API that a GPU create needs.
// They are POSTs with a JSON body, reads included, at the VPC base URL
// (WithVPCBaseURL), signed and enveloped like the GPU API's.
const (
	ActionDescribeVPC    = "DescribeVPC"
	ActionDescribeSubnet = "DescribeSubnet"
	ActionDescribeEIP    = "DescribeEIP"
)

// DescribeVPCRequest lists VPCs. Empty fields are not sent.
type DescribeVPCRequest struct {
	RegionCode string `json:"RegionCode,omitempty"`
	PageNumber *int32 `json:"PageNumber,omitempty"`
	Keyword    string `json:"Keyword,omitempty"`
}

// DescribeVPCData is one page of VPCs.
type DescribeVPCData struct {
	Total   int32 `json:"Total"`
	VPCList []VPC `json:"VPCList"`
}

// VPC is one private network.
type VPC struct {
	VPCID      string `json:"VPCId"`
	VPCName    string `json:"-"` // the provider spells it VPCNmae; VPCName is accepted too
	VPCSegment string `json:"VPCSegment"`
	Status     string `json:"Status"`
	RegionCode string `json:"RegionCode"`
	CreateTime string `json:"CreateTime"`
}

// UnmarshalJSON accepts the name as VPCNmae (the provider's reference) or
// VPCName, the non-empty one winning.
func (v *VPC) UnmarshalJSON(b []byte) error {
	type plain VPC
	var w struct {
		plain
		Nmae string `json:"VPCNmae"`
		Name string `json:"VPCName"`
	}
	if err := unmarshal(b, &w); err != nil {
		return err
	}
	*v = VPC(w.plain)
	v.VPCName = w.Nmae
	if v.VPCName == "" {
		v.VPCName = w.Name
	}
	return nil
}

// DescribeSubnetRequest lists subnets; RegionCode is required.
type DescribeSubnetRequest struct {
	RegionCode        string `json:"RegionCode"`
	Keyword           string `json:"Keyword,omitempty"`
	PageNumber        string `json:"PageNumber,omitempty"` // a string in the provider's reference
	VPCID             string `json:"VPCId,omitempty"`
	AvailableZoneCode string `json:"AvailableZoneCode,omitempty"`
}

// DescribeSubnetData is one page of subnets.
type DescribeSubnetData struct {
	Total      int32    `json:"Total"`
	SubnetList []Subnet `json:"SubnetList"`
}

// Subnet is one subnet of a VPC, in one zone.
type Subnet struct {
	SubnetID          string `json:"SubnetId"`
	SubnetName        string `json:"SubnetName"`
	SubnetSegment     string `json:"SubnetSegment"`
	UsedIPNum         int32  `json:"UsedIPNum"`
	VPCID             string `json:"VPCId"`
	VPCName           string `json:"VPCName"`
	AvailableZoneCode string `json:"AvailableZoneCode"`
	Status            string `json:"Status"`
}

// DescribeEIPRequest lists EIPs; RegionCode is required.
type DescribeEIPRequest struct {
	RegionCode        string `json:"RegionCode"`
	AvailableZoneCode string `json:"AvailableZoneCode,omitempty"`
	Keyword           string `json:"Keyword,omitempty"`
}

// DescribeEIPData is the EIPs of a region.
type DescribeEIPData struct {
	Total   int32 `json:"Total"`
	EIPList []EIP `json:"EIPList"`
}

// EIP is one public address.
type EIP struct {
	ID                string        `json:"Id"`
	IP                string        `json:"IP"`
	RegionCode        string        `json:"RegionCode"`
	AvailableZoneCode string        `json:"AvailableZoneCode"`
	Status            string        `json:"Status"`
	Description       string        `json:"Description"`
	IsBind            bool          `json:"IsBind"`
	CreateTime        string        `json:"CreateTime"`
	BandwidthInfo     Bandwidth     `json:"BandwidthInfo"`
	BindResourceInfo  *BindResource `json:"BindResourceInfo"` // nil when unbound
}

// Bandwidth is an EIP's bandwidth.
type Bandwidth struct {
	ID                string `json:"Id"`
	Name              string `json:"Name"`
	Qos               int32  `json:"Qos"` // Mbps
	AvailableZoneCode string `json:"AvailableZoneCode"`
	BandwidthType     string `json:"BandwidthType"`
	BillScheme        string `json:"BillScheme"`
	Status            string `json:"Status"`
	CreateTime        string `json:"CreateTime"`
}

// BindResource is what an EIP is bound to.
type BindResource struct {
	SubnetID string `json:"SubnetId"`
	SubnetIP string `json:"SubnetIP"`
}

func vpcRead(action string, body any) call {
	k := postCall(action, body, true)
	k.vpc = true
	return k
}

// DescribeVPC lists VPCs, a page at a time. A read: retried, cached with
// the network TTL.
func (c *Client) DescribeVPC(ctx context.Context, req *DescribeVPCRequest) (*DescribeVPCData, error) {
	return fetch[DescribeVPCData](ctx, c, vpcRead(ActionDescribeVPC, orZero(req)))
}

// DescribeSubnet lists subnets. A read.
func (c *Client) DescribeSubnet(ctx context.Context, req *DescribeSubnetRequest) (*DescribeSubnetData, error) {
	return fetch[DescribeSubnetData](ctx, c, vpcRead(ActionDescribeSubnet, orZero(req)))
}

// DescribeEIP lists EIPs. A read.
func (c *Client) DescribeEIP(ctx context.Context, req *DescribeEIPRequest) (*DescribeEIPData, error) {
	return fetch[DescribeEIPData](ctx, c, vpcRead(ActionDescribeEIP, orZero(req)))
}
