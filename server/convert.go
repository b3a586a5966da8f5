package server

import (
	"math"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/upstream"
)

// Conversions between the API's messages and the provider's types, field by
// field. Optional proto fields become pointer fields (a copy, so the request
// message is never aliased); enumerated values stay strings.

func priceFromProto(req *gpubmsv1.DescribeGpuGoodsPriceRequest) *upstream.DescribeGpuGoodsPriceRequest {
	return &upstream.DescribeGpuGoodsPriceRequest{
		RegionID:           req.GetRegionId(),
		GoodsID:            req.GetGoodsId(),
		ComputeID:          req.GetComputeId(),
		InstanceChargeType: req.GetInstanceChargeType(),
		PrepaidMonth:       copyPtr(req.PrepaidMonth),
		Amount:             req.GetAmount(),
	}
}

func createFromProto(req *gpubmsv1.CreateGpuInstanceRequest) *upstream.CreateGpuInstanceRequest {
	vpc := req.GetVpcNetwork()
	var segments []upstream.Segment // none: absent from the body (omitempty)
	for _, s := range vpc.GetSegments() {
		segments = append(segments, upstream.Segment{SegmentID: s.GetSegmentId(), Address: s.GetAddress()})
	}
	return &upstream.CreateGpuInstanceRequest{
		RegionID: req.GetRegionId(),
		VpcNetwork: upstream.VpcNetwork{
			VpcID:      vpc.GetVpcId(),
			ReserveEip: copyPtr(vpc.ReserveEip),
			NetID:      vpc.GetNetId(),
			EipIDList:  vpc.GetEipIdList(),
			Segments:   segments,
		},
		Password:            upstream.Secret(req.GetPassword()),
		InstanceName:        req.GetInstanceName(),
		AssignHostNo:        req.GetAssignHostNo(),
		InstanceChargeType:  req.GetInstanceChargeType(),
		AutoRenew:           copyPtr(req.AutoRenew),
		PrepaidMonth:        copyPtr(req.PrepaidMonth),
		ComputeID:           req.GetComputeId(),
		GoodsID:             req.GetGoodsId(),
		ImageID:             req.GetImageId(),
		BondMode:            req.GetBondMode(),
		Raid:                copyPtr(req.Raid),
		Amount:              req.GetAmount(),
		CustomPartition:     req.GetCustomPartition(),
		CustomPartitionSize: widen(req.GetCustomPartitionSize()),
		SubjectID:           req.GetSubjectId(),
		PortMode:            req.GetPortMode(),
	}
}

func regionsToProto(rs []upstream.Region) []*gpubmsv1.Region {
	out := make([]*gpubmsv1.Region, 0, len(rs))
	for _, r := range rs {
		out = append(out, &gpubmsv1.Region{RegionId: r.RegionID, RegionName: r.RegionName})
	}
	return out
}

func goodsToProto(d *upstream.DescribeGpuGoodsData) *gpubmsv1.DescribeGpuGoodsResponse {
	conv := func(gs []upstream.Goods) []*gpubmsv1.Goods {
		out := make([]*gpubmsv1.Goods, 0, len(gs))
		for _, g := range gs {
			pg := &gpubmsv1.Goods{GoodsId: g.GoodsID, GoodsName: g.GoodsName}
			for _, c := range g.Computes {
				pc := &gpubmsv1.Compute{
					Id: c.ID, CpuInfo: c.CPUInfo, Cpu: c.CPU, Ram: c.RAM,
					Frequency: c.Frequency, PurchaseNum: deref(c.PurchaseNum),
				}
				for _, k := range c.Disks {
					pc.Disks = append(pc.Disks, &gpubmsv1.Disk{Id: k.ID, Type: k.Type, Capacity: clamp32(k.Capacity), Count: k.Count})
				}
				pg.Computes = append(pg.Computes, pc)
			}
			out = append(out, pg)
		}
		return out
	}
	return &gpubmsv1.DescribeGpuGoodsResponse{PrePaid: conv(d.PrePaid), PostPaid: conv(d.PostPaid)}
}

func imagesToProto(d *upstream.DescribeGpuImageData) *gpubmsv1.DescribeGpuImageResponse {
	out := &gpubmsv1.DescribeGpuImageResponse{}
	for _, f := range d.Families {
		pf := &gpubmsv1.ImageFamily{OsFamily: f.Family}
		for _, im := range f.Images {
			pf.Images = append(pf.Images, &gpubmsv1.Image{Id: im.ID, Name: im.Name, Type: im.Type})
		}
		out.Families = append(out.Families, pf)
	}
	return out
}

func gpusToProto(d *upstream.DescribeGpuData) *gpubmsv1.DescribeGpuResponse {
	out := &gpubmsv1.DescribeGpuResponse{
		TotalCount: d.TotalCount, PageSize: d.PageSize, PageNumber: d.PageNumber, Pages: d.Pages,
	}
	for _, r := range d.Records {
		out.Records = append(out.Records, &gpubmsv1.Gpu{
			ResourceId:         r.ResourceID,
			Name:               r.Name,
			Cpu:                r.CPU,
			Ram:                r.RAM,
			State:              r.State,
			Status:             r.Status,
			RegionId:           r.RegionID,
			RegionName:         r.RegionName,
			AppId:              r.AppID,
			AppName:            r.AppName,
			InstanceChargeType: r.InstanceChargeType,
			IsAutoRenewal:      r.IsAutoRenewal,
			CreateDate:         r.CreateDate,
			Networks:           networksToProto(r.Networks),
		})
	}
	return out
}

func detailToProto(d *upstream.DescribeGpuDetailData) *gpubmsv1.DescribeGpuDetailResponse {
	out := &gpubmsv1.DescribeGpuDetailResponse{
		ResourceId:         d.ResourceID,
		Name:               d.Name,
		Cpu:                d.CPU,
		Ram:                d.RAM,
		State:              d.State,
		Status:             d.Status,
		AppId:              d.AppID,
		RegionId:           d.RegionID,
		AppName:            d.AppName,
		RegionName:         d.RegionName,
		ImageName:          d.ImageName,
		InstanceChargeType: d.InstanceChargeType,
		BillStatus:         d.BillStatus,
		IsAutoRenewal:      d.IsAutoRenewal,
		RunningTime:        d.RunningTime,
		CreateDate:         d.CreateDate,
		ExpireDate:         d.ExpireDate,
		Networks:           networksToProto(d.Networks),
	}
	for _, v := range d.Volumes {
		out.Volumes = append(out.Volumes, &gpubmsv1.Volume{
			Id: v.ID, Type: v.Type, Capacity: clamp32(v.Capacity), VolumeType: v.VolumeType,
			VolumeId: v.VolumeID, VolumePath: v.VolumePath, UpdateDate: v.UpdateDate,
		})
	}
	return out
}

// networksToProto returns nil for a server without network cards, so an
// absent Networks stays absent.
func networksToProto(n upstream.Networks) *gpubmsv1.Networks {
	if len(n.NetworkCards) == 0 {
		return nil
	}
	out := &gpubmsv1.Networks{}
	for _, c := range n.NetworkCards {
		out.NetworkCards = append(out.NetworkCards, &gpubmsv1.NetworkCard{
			Id: c.ID, VlanId: c.VlanID, IpType: c.IPType, IpVersion: c.IPVersion, IpAddress: c.IPAddress,
			Netmask: c.Netmask, Gateway: c.Gateway, EipAddress: c.EipAddress, EipLinkType: c.EipLinkType,
			Mac: c.Mac, WorkMode: c.WorkMode,
		})
	}
	return out
}

// protoTaskStatus maps the provider's task status onto the enum; values
// unknown here are UNSPECIFIED (the raw string travels beside it).
func protoTaskStatus(raw string) gpubmsv1.TaskStatus {
	switch upstream.TaskStatus(raw) {
	case upstream.TaskStatusInit:
		return gpubmsv1.TaskStatus_TASK_STATUS_INIT
	case upstream.TaskStatusSucceed:
		return gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED
	case upstream.TaskStatusFailed:
		return gpubmsv1.TaskStatus_TASK_STATUS_FAILED
	}
	return gpubmsv1.TaskStatus_TASK_STATUS_UNSPECIFIED
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func widen(s []int32) []int64 {
	if len(s) == 0 {
		return nil
	}
	out := make([]int64, len(s))
	for i, v := range s {
		out[i] = int64(v)
	}
	return out
}

// clamp32 saturates a provider capacity into the API's int32 rather than
// wrapping it into a negative number.
func clamp32(v int64) int32 {
	return int32(max(math.MinInt32, min(math.MaxInt32, v)))
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
