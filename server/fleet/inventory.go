package fleet

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/store"
	"github.com/gpubms/gpubms/server/upstream"
)

// fleetPageSize and maxFleetPages bound ListFleet's reading of DescribeGpu.
const (
	fleetPageSize = 500
	maxFleetPages = 100
)

// providerTime is the zone of the provider's dates ("2006-01-02 15:04:05",
// China time).
var providerTime = time.FixedZone("UTC+8", 8*60*60)

// ListFleet lists every server with what gpubms knows of it.
func (s *Service) ListFleet(ctx context.Context, req *gpubmsv1.ListFleetRequest) (*gpubmsv1.ListFleetResponse, error) {
	if s.leases == nil || s.gpus == nil {
		return nil, status.Error(codes.Unimplemented, "ListFleet: this server keeps no fleet records")
	}
	var servers []*gpubmsv1.Gpu
	truncated := false
	for page := int32(1); ; page++ {
		r, err := s.gpus.DescribeGpu(ctx, &gpubmsv1.DescribeGpuRequest{PageNumber: proto.Int32(page), PageSize: proto.Int32(fleetPageSize)})
		if err != nil {
			return nil, err
		}
		servers = append(servers, r.GetRecords()...)
		if len(r.GetRecords()) == 0 || page >= r.GetPages() {
			break
		}
		if page == maxFleetPages {
			truncated = true
			break
		}
	}
	leases, err := s.leases.Leases(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "ListFleet: the leases cannot be read: %v", err)
	}
	prots, err := s.leases.ListProtections(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "ListFleet: the protections cannot be read: %v", err)
	}
	made, err := s.leases.Creations(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "ListFleet: the creations cannot be read: %v", err)
	}
	byLease := map[string]*gpubmsv1.Lease{}
	for _, l := range leases {
		byLease[l.GetResourceId()] = l
	}
	byProt := map[string]*gpubmsv1.Protection{}
	for _, p := range prots {
		byProt[p.GetResourceId()] = p
	}

	prices := s.fleetPrices(ctx, made)
	out := &gpubmsv1.ListFleetResponse{Truncated: truncated}
	for _, g := range servers {
		id := g.GetResourceId()
		fs := &gpubmsv1.FleetServer{Server: g, State: GpuState(g.GetState()), Lease: byLease[id], Protection: byProt[id]}
		if c, ok := made[id]; ok {
			fs.Creator, fs.CreateTime = c.Caller, timestamppb.New(c.Time)
			if p := prices[priceKeyOf(c)]; p != nil {
				fs.UnitPrice, fs.Currency = p.UnitPrice, p.Currency
			}
		} else if t, err := time.ParseInLocation("2006-01-02 15:04:05", g.GetCreateDate(), providerTime); err == nil {
			fs.CreateTime = timestamppb.New(t)
		}
		if keep(req, fs) {
			out.Servers = append(out.Servers, fs)
		}
	}
	return out, nil
}

// priceKey is what a server's price depends on.
type priceKey struct {
	region, compute, charge string
	goods                   int64
}

func priceKeyOf(c store.Creation) priceKey {
	return priceKey{region: c.RegionID, compute: c.ComputeID, charge: c.ChargeType, goods: c.GoodsID}
}

// fleetPrices prices each kind of server gpubms created, once (through the
// catalogue cache); a price that cannot be had is left out.
func (s *Service) fleetPrices(ctx context.Context, made map[string]store.Creation) map[priceKey]*upstream.DescribeGpuGoodsPriceData {
	out := map[priceKey]*upstream.DescribeGpuGoodsPriceData{}
	if s.catalogue == nil {
		return out
	}
	for _, c := range made {
		k := priceKeyOf(c)
		if _, done := out[k]; done || k.goods == 0 || k.compute == "" {
			continue
		}
		req := &upstream.DescribeGpuGoodsPriceRequest{RegionID: k.region, GoodsID: k.goods, ComputeID: k.compute, InstanceChargeType: k.charge, Amount: 1}
		if k.charge == "PrePaid" {
			req.PrepaidMonth = proto.Int32(1)
		}
		p, err := s.catalogue.DescribeGpuGoodsPrice(ctx, req)
		if err != nil {
			p = nil
		}
		out[k] = p
	}
	return out
}

// pending reports whether a lease has still to act.
func pending(l *gpubmsv1.Lease) bool {
	switch l.GetState() {
	case gpubmsv1.LeaseState_LEASE_STATE_DONE, gpubmsv1.LeaseState_LEASE_STATE_GONE, gpubmsv1.LeaseState_LEASE_STATE_UNSPECIFIED:
		return false
	}
	return l != nil
}

// keep applies ListFleet's filters.
func keep(req *gpubmsv1.ListFleetRequest, fs *gpubmsv1.FleetServer) bool {
	switch {
	case req.GetCaller() != "" && fs.GetCreator() != req.GetCaller():
		return false
	case req.GetState() != "" && fs.GetServer().GetState() != req.GetState():
		return false
	case req.GetUnleased() && pending(fs.GetLease()):
		return false
	case req.GetUnprotected() && fs.GetProtection() != nil:
		return false
	case req.ExpiringBefore != nil && (!pending(fs.GetLease()) || !fs.GetLease().GetExpireAt().AsTime().Before(req.GetExpiringBefore().AsTime())):
		return false
	case req.CreatedBefore != nil && (fs.CreateTime == nil || !fs.GetCreateTime().AsTime().Before(req.GetCreatedBefore().AsTime())):
		return false
	}
	return true
}
