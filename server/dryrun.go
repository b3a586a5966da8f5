package server

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/upstream"
)

// The provider's server states this server knows. Others pass through,
// with a warning where they matter.
const (
	stateRunning = "running"
	stateStopped = "stopped"
)

// transient are states in which the provider accepts no action.
var transient = []string{"creating", "starting", "stopping", "restarting", "rebuilding", "deleting"}

// needs is the state each server action needs.
var needs = map[string][]string{
	"start":     {stateStopped},
	"stop":      {stateRunning},
	"reset":     {stateRunning},
	"reinstall": {stateRunning, stateStopped},
	"delete":    {stateRunning, stateStopped},
}

// Warnings of the dry runs.
const (
	warnAutoRenew = "AutoRenew defaults to 1 at the provider: this prepaid order renews itself; set auto_renew to 0 to stop it"
	warnStock     = "stock is a hint, not a promise: it can be gone by the time the order is placed"
	warnNoStock   = "the provider does not say how many are in stock"
	warnDelete    = "the provider documents that it deletes only powered-off PostPaid servers (LogicError otherwise)"
)

// fieldError is a status naming the request field at fault.
func fieldError(code codes.Code, field, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	st := status.New(code, msg)
	if ds, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
		Field: field, Description: msg,
	}}}); err == nil {
		st = ds
	}
	return st.Err()
}

// checkCreate is a create's dry run: the goods, compute and image exist in
// the region and go together, the stock (when known) covers the amount, the
// VPC, subnet and EIPs are there (checkNetwork), and the provider quotes the
// order, under the spend guard's limit.
func (s *Service) checkCreate(ctx context.Context, req *gpubmsv1.CreateGpuInstanceRequest) (*gpubmsv1.Validation, error) {
	v := &gpubmsv1.Validation{}
	// The stock as it is now, not as cached.
	goods, err := s.up.DescribeGpuGoods(upstream.NoCache(ctx), &upstream.DescribeGpuGoodsRequest{RegionID: req.GetRegionId()})
	if err != nil {
		return nil, s.fail(ctx, upstream.ActionDescribeGpuGoods, err)
	}
	list := goods.PostPaid
	if req.GetInstanceChargeType() == "PrePaid" {
		list = goods.PrePaid
	}
	i := slices.IndexFunc(list, func(g upstream.Goods) bool { return g.GoodsID == req.GetGoodsId() })
	if i < 0 {
		return nil, fieldError(codes.NotFound, "goods_id", "goods %d is not sold %s in region %s", req.GetGoodsId(), req.GetInstanceChargeType(), req.GetRegionId())
	}
	j := slices.IndexFunc(list[i].Computes, func(c upstream.Compute) bool { return c.ID == req.GetComputeId() })
	if j < 0 {
		return nil, fieldError(codes.NotFound, "compute_id", "compute %s is not one of goods %d", req.GetComputeId(), req.GetGoodsId())
	}
	switch stock := list[i].Computes[j].PurchaseNum; {
	case stock == nil:
		v.Warnings = append(v.Warnings, warnNoStock)
	case *stock < req.GetAmount():
		return nil, fieldError(codes.ResourceExhausted, "amount", "compute %s has %d in stock, fewer than the amount %d", req.GetComputeId(), *stock, req.GetAmount())
	default:
		v.Stock = stock
		v.Warnings = append(v.Warnings, warnStock)
	}
	if err := s.findImage(ctx, req); err != nil {
		return nil, err
	}
	if err := s.checkNetwork(ctx, req); err != nil {
		return nil, err
	}
	q, err := s.quote(ctx, req)
	if err != nil {
		return nil, err
	}
	v.Quote = q
	if req.GetInstanceChargeType() == "PrePaid" && req.AutoRenew == nil {
		v.Warnings = append(v.Warnings, warnAutoRenew)
	}
	return v, nil
}

// findImage looks for the create's image among the public images of its
// compute, then among the private images of its region.
func (s *Service) findImage(ctx context.Context, req *gpubmsv1.CreateGpuInstanceRequest) error {
	for _, q := range []*upstream.DescribeGpuImageRequest{
		{ImageType: "public", RegionID: req.GetRegionId(), ComputeID: req.GetComputeId()},
		{ImageType: "private", RegionID: req.GetRegionId()},
	} {
		d, err := s.up.DescribeGpuImage(ctx, q)
		if err != nil {
			return s.fail(ctx, upstream.ActionDescribeGpuImage, err)
		}
		for _, f := range d.Families {
			for _, im := range f.Images {
				if im.ID == req.GetImageId() {
					return nil
				}
			}
		}
	}
	return fieldError(codes.NotFound, "image_id", "image %s is not offered for compute %s in region %s", req.GetImageId(), req.GetComputeId(), req.GetRegionId())
}

// quote prices a create, and refuses it when the spend guard's limit is
// below the price.
func (s *Service) quote(ctx context.Context, req *gpubmsv1.CreateGpuInstanceRequest) (*gpubmsv1.Quote, error) {
	p, err := s.up.DescribeGpuGoodsPrice(ctx, &upstream.DescribeGpuGoodsPriceRequest{
		RegionID: req.GetRegionId(), GoodsID: req.GetGoodsId(), ComputeID: req.GetComputeId(),
		InstanceChargeType: req.GetInstanceChargeType(), PrepaidMonth: copyPtr(req.PrepaidMonth), Amount: req.GetAmount(),
	})
	if err != nil {
		return nil, s.fail(ctx, upstream.ActionDescribeGpuGoodsPrice, err)
	}
	q := &gpubmsv1.Quote{TradeAmount: p.TradeAmount, UnitPrice: p.UnitPrice, Currency: p.Currency}
	if s.maxOrderPrice == nil {
		return q, nil
	}
	amount, ok := new(big.Rat).SetString(p.TradeAmount)
	if !ok {
		return nil, status.Errorf(codes.Unavailable, "the provider quoted %q, not a number: the spend guard cannot tell whether the order is under its limit", p.TradeAmount)
	}
	limit := s.maxOrderPrice.FloatString(decimals(s.maxOrderPrice))
	md := map[string]string{"trade_amount": p.TradeAmount, "unit_price": p.UnitPrice, "currency": p.Currency, "limit": limit}
	if s.priceCurrency != "" && p.Currency != s.priceCurrency {
		st := status.Newf(codes.FailedPrecondition, "the order is quoted in %q, but the limit (GPUBMS_MAX_ORDER_PRICE) is in %q", p.Currency, s.priceCurrency)
		return nil, withReason(st, ReasonOrderPriceLimit, md).Err()
	}
	if amount.Cmp(s.maxOrderPrice) > 0 {
		st := status.Newf(codes.FailedPrecondition, "the order is quoted at %s %s, above the limit of %s (GPUBMS_MAX_ORDER_PRICE)",
			p.TradeAmount, p.Currency, limit)
		return nil, withReason(st, ReasonOrderPriceLimit, md).Err()
	}
	return q, nil
}

// decimals is how many decimal places show r exactly (at least 2, as money).
func decimals(r *big.Rat) int {
	for n := 2; n < 12; n++ {
		if f, _ := new(big.Rat).SetString(r.FloatString(n)); f.Cmp(r) == 0 {
			return n
		}
	}
	return 12
}

// spendGuard quotes a create before it is sent, when there is a limit.
func (s *Service) spendGuard(req *gpubmsv1.CreateGpuInstanceRequest) func(context.Context) error {
	if s.maxOrderPrice == nil {
		return nil
	}
	return func(ctx context.Context) error {
		_, err := s.quote(ctx, req)
		return err
	}
}

// checkServers is the dry run of an action on servers: each exists, and
// its state allows the action.
func (s *Service) checkServers(ctx context.Context, action string, ids []string) (*gpubmsv1.Validation, error) {
	v := &gpubmsv1.Validation{}
	field := "resource_ids"
	if action == "reinstall" {
		field = "resource_id"
	}
	warned := map[string]bool{}
	warn := func(w string) {
		if !warned[w] {
			warned[w] = true
			v.Warnings = append(v.Warnings, w)
		}
	}
	for _, id := range ids {
		d, err := s.up.DescribeGpuDetail(ctx, &upstream.DescribeGpuDetailRequest{ResourceID: id})
		if err != nil {
			if status.Code(Status(upstream.ActionDescribeGpuDetail, err).Err()) == codes.NotFound {
				return nil, fieldError(codes.NotFound, field, "server %s does not exist", id)
			}
			return nil, s.fail(ctx, upstream.ActionDescribeGpuDetail, err)
		}
		v.Servers = append(v.Servers, &gpubmsv1.AffectedServer{
			ResourceId: id, Name: d.Name, State: d.State, InstanceChargeType: d.InstanceChargeType,
		})
		switch want := needs[action]; {
		case slices.Contains(want, d.State):
		case slices.Contains(transient, d.State) || slices.Contains([]string{stateRunning, stateStopped}, d.State):
			return nil, fieldError(codes.FailedPrecondition, field, "server %s is %s: %s needs it %s", id, d.State, action, strings.Join(want, " or "))
		default:
			warn(fmt.Sprintf("server %s is in state %q, which this server does not know: the provider decides whether it may %s", id, d.State, action))
		}
		if action == "delete" && (d.State != stateStopped || d.InstanceChargeType != "PostPaid") {
			warn(warnDelete)
		}
	}
	return v, nil
}

// chinaTime is the provider's zone: its dates carry none.
var chinaTime = time.FixedZone("UTC+8", 8*60*60)

// createdSince lists the servers named like a create's instance_name (the
// name, then the host number the provider adds: digits) that the provider
// made since a moment (a minute of slack for clocks), for a create whose
// outcome is unknown. They may be someone else's of the same name: the
// caller is told they "may" be its own. A failure to look is not an error:
// the caller is told to look itself.
func (s *Service) createdSince(ctx context.Context, name string, since time.Time) []string {
	d, err := s.up.DescribeGpu(ctx, &upstream.DescribeGpuRequest{Name: name})
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range d.Records {
		created, err := time.ParseInLocation("2006-01-02 15:04:05", r.CreateDate, chinaTime)
		no, ok := strings.CutPrefix(r.Name, name)
		if err != nil || !ok || strings.Trim(no, "0123456789") != "" || created.Before(since.Add(-time.Minute)) {
			continue
		}
		out = append(out, r.ResourceID)
	}
	return out
}
