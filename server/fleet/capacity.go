package fleet

import (
	"cmp"
	"context"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/upstream"
)

// Catalogue reads the provider's catalogue: an *upstream.Client, whose
// cache and coalescing the capacity finder reuses.
type Catalogue interface {
	DescribeGpuRegions(context.Context, *upstream.DescribeGpuRegionsRequest) ([]upstream.Region, error)
	DescribeGpuGoods(context.Context, *upstream.DescribeGpuGoodsRequest) (*upstream.DescribeGpuGoodsData, error)
	DescribeGpuGoodsPrice(context.Context, *upstream.DescribeGpuGoodsPriceRequest) (*upstream.DescribeGpuGoodsPriceData, error)
}

// How many regions, and how many prices, FindCapacity asks at once. Each
// request also passes the upstream client's own limits.
const (
	capacityRegions = 4
	capacityPrices  = 8
)

// WithCatalogue lets FindCapacity read the provider's catalogue; status
// maps a provider failure to the gRPC status callers get (server.Status).
func WithCatalogue(c Catalogue, status func(action string, err error) *status.Status) Option {
	return func(s *Service) { s.catalogue, s.status = c, status }
}

// FindCapacity finds the computes that fit the request in every region asked,
// prices them for the amount, and ranks them by unit price, then stock
// (more first), then region and goods. Regions, or single prices, that
// could not be read are reported in region_errors, next to what could.
func (s *Service) FindCapacity(ctx context.Context, req *gpubmsv1.FindCapacityRequest) (*gpubmsv1.FindCapacityResponse, error) {
	if s.catalogue == nil {
		return nil, status.Error(codes.Unimplemented, "FindCapacity: this server has no catalogue")
	}
	var maxPrice *big.Rat
	if p := req.GetMaxUnitPrice(); p != "" {
		var ok bool
		if maxPrice, ok = new(big.Rat).SetString(p); !ok {
			return nil, status.Errorf(codes.InvalidArgument, "max_unit_price: %q is not a decimal", p)
		}
	}
	regions, err := s.catalogue.DescribeGpuRegions(ctx, &upstream.DescribeGpuRegionsRequest{})
	if err != nil {
		return nil, s.status(upstream.ActionDescribeGpuRegions, err).Err()
	}
	if want := req.GetRegionIds(); len(want) > 0 {
		known := map[string]bool{}
		for _, r := range regions {
			known[r.RegionID] = true
		}
		for _, id := range want {
			if !known[id] {
				return nil, status.Errorf(codes.NotFound, "region_ids: %s is not a GPU region (DescribeGpuRegions lists them)", id)
			}
		}
		regions = slices.DeleteFunc(slices.Clone(regions), func(r upstream.Region) bool { return !slices.Contains(want, r.RegionID) })
	}

	f := &finder{s: s, req: req, amount: max(req.GetAmount(), 1), maxPrice: maxPrice}
	f.prices.SetLimit(capacityPrices)
	var rg errgroup.Group
	rg.SetLimit(capacityRegions)
	for _, r := range regions {
		rg.Go(func() error {
			f.region(ctx, r)
			return nil
		})
	}
	_ = rg.Wait()
	_ = f.prices.Wait()

	out := &gpubmsv1.FindCapacityResponse{Offers: f.offers, RegionErrors: f.errs}
	slices.SortStableFunc(out.Offers, compareOffers)
	slices.SortFunc(out.RegionErrors, func(a, b *gpubmsv1.RegionError) int {
		return cmp.Or(strings.Compare(a.GetRegionId(), b.GetRegionId()), strings.Compare(a.GetMessage(), b.GetMessage()))
	})
	return out, nil
}

// finder is one FindCapacity in progress.
type finder struct {
	s        *Service
	req      *gpubmsv1.FindCapacityRequest
	amount   int32
	maxPrice *big.Rat
	prices   errgroup.Group // bounded: at most capacityPrices at once

	mu     sync.Mutex
	offers []*gpubmsv1.CapacityOffer
	errs   []*gpubmsv1.RegionError
}

// fail reports a region that could not be asked (fully): once per region,
// its first failure.
func (f *finder) fail(region, action string, err error) {
	st := f.s.status(action, err)
	f.mu.Lock()
	defer f.mu.Unlock()
	if slices.ContainsFunc(f.errs, func(e *gpubmsv1.RegionError) bool { return e.GetRegionId() == region }) {
		return
	}
	f.errs = append(f.errs, &gpubmsv1.RegionError{RegionId: region, Code: st.Code().String(), Message: st.Message()})
}

// region reads a region's goods and prices the computes that fit.
func (f *finder) region(ctx context.Context, r upstream.Region) {
	goods, err := f.s.catalogue.DescribeGpuGoods(ctx, &upstream.DescribeGpuGoodsRequest{RegionID: r.RegionID})
	if err != nil {
		f.fail(r.RegionID, upstream.ActionDescribeGpuGoods, err)
		return
	}
	observed := timestamppb.New(time.Now())
	for _, list := range []struct {
		charge string
		goods  []upstream.Goods
	}{{"PrePaid", goods.PrePaid}, {"PostPaid", goods.PostPaid}} {
		if c := f.req.GetChargeType(); c != "" && c != list.charge {
			continue
		}
		for _, g := range list.goods {
			if q := f.req.GetGpu(); q != "" && !strings.Contains(strings.ToLower(g.GoodsName), strings.ToLower(q)) {
				continue
			}
			for _, c := range g.Computes {
				if !f.fits(&c) {
					continue
				}
				offer := &gpubmsv1.CapacityOffer{
					RegionId: r.RegionID, RegionName: r.RegionName, GoodsId: g.GoodsID, GoodsName: g.GoodsName,
					Compute: computeToProto(&c), ChargeType: list.charge, Stock: copyInt32(c.PurchaseNum),
					ObservedAt: observed, Amount: f.amount,
				}
				f.prices.Go(func() error {
					f.price(ctx, offer)
					return nil
				})
			}
		}
	}
}

// fits reports whether a compute meets the request, stock included when
// the provider gave it.
func (f *finder) fits(c *upstream.Compute) bool {
	req := f.req
	if c.CPU < req.GetMinCpu() || c.RAM < req.GetMinRamGb() {
		return false
	}
	if c.PurchaseNum != nil && *c.PurchaseNum < f.amount {
		return false
	}
	var disk int64
	typed := req.GetDiskType() == ""
	for _, d := range c.Disks {
		disk += d.Capacity * int64(max(d.Count, 1))
		typed = typed || strings.EqualFold(d.Type, req.GetDiskType())
	}
	return typed && disk >= int64(req.GetMinDiskGb())
}

// price asks the offer's price and keeps the offer when it is within the
// request's limit.
func (f *finder) price(ctx context.Context, o *gpubmsv1.CapacityOffer) {
	pr := &upstream.DescribeGpuGoodsPriceRequest{
		RegionID: o.GetRegionId(), GoodsID: o.GetGoodsId(), ComputeID: o.GetCompute().GetId(),
		InstanceChargeType: o.GetChargeType(), Amount: f.amount,
	}
	if o.GetChargeType() == "PrePaid" {
		pr.PrepaidMonth = copyInt32(f.req.PrepaidMonth)
	}
	p, err := f.s.catalogue.DescribeGpuGoodsPrice(ctx, pr)
	if err != nil {
		f.fail(o.GetRegionId(), upstream.ActionDescribeGpuGoodsPrice, err)
		return
	}
	o.UnitPrice, o.TradePrice, o.Currency = p.UnitPrice, p.TradeAmount, p.Currency
	if c := f.req.GetMaxCurrency(); c != "" && c != p.Currency {
		return
	}
	if f.maxPrice != nil {
		unit, ok := new(big.Rat).SetString(p.UnitPrice)
		if !ok || unit.Cmp(f.maxPrice) > 0 {
			return
		}
	}
	f.mu.Lock()
	f.offers = append(f.offers, o)
	f.mu.Unlock()
}

// compareOffers ranks offers: by currency (prices in two currencies do not
// compare), then the lower unit price first (a price that does not parse
// last), then more stock (unknown after known), then region, goods,
// compute and charge type, so the order is stable.
func compareOffers(a, b *gpubmsv1.CapacityOffer) int {
	if c := strings.Compare(a.GetCurrency(), b.GetCurrency()); c != 0 {
		return c
	}
	pa, oka := new(big.Rat).SetString(a.GetUnitPrice())
	pb, okb := new(big.Rat).SetString(b.GetUnitPrice())
	switch {
	case oka && okb:
		if c := pa.Cmp(pb); c != 0 {
			return c
		}
	case oka != okb:
		if oka {
			return -1
		}
		return 1
	}
	switch {
	case a.Stock != nil && b.Stock != nil:
		if c := cmp.Compare(b.GetStock(), a.GetStock()); c != 0 {
			return c
		}
	case a.Stock != nil:
		return -1
	case b.Stock != nil:
		return 1
	}
	return cmp.Or(
		strings.Compare(a.GetRegionId(), b.GetRegionId()),
		cmp.Compare(a.GetGoodsId(), b.GetGoodsId()),
		strings.Compare(a.GetCompute().GetId(), b.GetCompute().GetId()),
		strings.Compare(a.GetChargeType(), b.GetChargeType()),
	)
}

func computeToProto(c *upstream.Compute) *gpubmsv1.Compute {
	out := &gpubmsv1.Compute{
		Id: c.ID, CpuInfo: c.CPUInfo, Cpu: c.CPU, Ram: c.RAM, Frequency: c.Frequency,
	}
	if c.PurchaseNum != nil {
		out.PurchaseNum = *c.PurchaseNum
	}
	for _, d := range c.Disks {
		out.Disks = append(out.Disks, &gpubmsv1.Disk{Id: d.ID, Type: d.Type, Capacity: int32(d.Capacity), Count: d.Count})
	}
	return out
}

func copyInt32(p *int32) *int32 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
