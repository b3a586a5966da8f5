// Package server implements gpubms.v1.GpuService: each RPC converts its
// request into the provider action of the same name, calls it through
// package upstream, and converts the reply back. Failures become one gRPC
// status each, through Status (errors.go).
//
// Requests are validated by the protovalidate interceptor before they get
// here; the service holds no goroutines of its own.
package server

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/upstream"
	"github.com/gpubms/gpubms/server/watch"
)

// Service implements gpubmsv1.GpuServiceServer over an upstream client. It is
// safe for concurrent use.
type Service struct {
	gpubmsv1.UnimplementedGpuServiceServer

	up  *upstream.Client
	log *slog.Logger
	hub *watch.Hub // serves WatchTask(s); nil when watching is not configured
}

// Option configures a Service.
type Option func(*options)

type options struct {
	logger *slog.Logger
	hub    *watch.Hub
}

// WithLogger logs failures the operator must see: credential or clock
// rejections by the provider at Error, provider outages and unknown codes
// at Warn. Never a request, a password or a secret. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// New returns the service calling the provider through up.
func New(up *upstream.Client, opts ...Option) *Service {
	if up == nil {
		panic("server: nil upstream client")
	}
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return &Service{up: up, log: o.logger, hub: o.hub}
}

// fail turns err from action into the status returned to the caller, and
// logs what an operator must act on.
func (s *Service) fail(ctx context.Context, action string, err error) error {
	st := Status(action, err)
	switch {
	case isCredentialError(err):
		s.log.LogAttrs(ctx, slog.LevelError, "provider rejected the server's credentials or clock",
			slog.String("action", action), slog.String("code", upstream.Code(err)), slog.String("error", err.Error()))
	case st.Code() == codes.Internal:
		s.log.LogAttrs(ctx, slog.LevelError, "internal error serving a call",
			slog.String("action", action), slog.String("code", upstream.Code(err)), slog.String("error", err.Error()))
	case st.Code() == codes.Unavailable || st.Code() == codes.Unknown:
		s.log.LogAttrs(ctx, slog.LevelWarn, "provider call failed",
			slog.String("action", action), slog.String("grpc_code", st.Code().String()), slog.String("error", err.Error()))
	}
	return st.Err()
}

// DescribeGpuRegions lists the regions where GPU servers are sold.
func (s *Service) DescribeGpuRegions(ctx context.Context, _ *gpubmsv1.DescribeGpuRegionsRequest) (*gpubmsv1.DescribeGpuRegionsResponse, error) {
	regions, err := s.up.DescribeGpuRegions(ctx, &upstream.DescribeGpuRegionsRequest{})
	if err != nil {
		return nil, s.fail(ctx, upstream.ActionDescribeGpuRegions, err)
	}
	return &gpubmsv1.DescribeGpuRegionsResponse{Regions: regionsToProto(regions)}, nil
}

// DescribeGpuGoods lists the goods of a region.
func (s *Service) DescribeGpuGoods(ctx context.Context, req *gpubmsv1.DescribeGpuGoodsRequest) (*gpubmsv1.DescribeGpuGoodsResponse, error) {
	d, err := s.up.DescribeGpuGoods(ctx, &upstream.DescribeGpuGoodsRequest{RegionID: req.GetRegionId()})
	if err != nil {
		return nil, s.fail(ctx, upstream.ActionDescribeGpuGoods, err)
	}
	return goodsToProto(d), nil
}

// DescribeGpuGoodsPrice prices an order.
func (s *Service) DescribeGpuGoodsPrice(ctx context.Context, req *gpubmsv1.DescribeGpuGoodsPriceRequest) (*gpubmsv1.DescribeGpuGoodsPriceResponse, error) {
	d, err := s.up.DescribeGpuGoodsPrice(ctx, priceFromProto(req))
	if err != nil {
		return nil, s.fail(ctx, upstream.ActionDescribeGpuGoodsPrice, err)
	}
	return &gpubmsv1.DescribeGpuGoodsPriceResponse{TradeAmount: d.TradeAmount, UnitPrice: d.UnitPrice, Currency: d.Currency}, nil
}

// DescribeGpuImage lists images by OS family.
func (s *Service) DescribeGpuImage(ctx context.Context, req *gpubmsv1.DescribeGpuImageRequest) (*gpubmsv1.DescribeGpuImageResponse, error) {
	d, err := s.up.DescribeGpuImage(ctx, &upstream.DescribeGpuImageRequest{
		ImageType: req.GetImageType(),
		RegionID:  req.GetRegionId(),
		OsType:    req.GetOsType(),
		ComputeID: req.GetComputeId(),
	})
	if err != nil {
		return nil, s.fail(ctx, upstream.ActionDescribeGpuImage, err)
	}
	return imagesToProto(d), nil
}

// DescribeGpu lists servers, a page at a time.
func (s *Service) DescribeGpu(ctx context.Context, req *gpubmsv1.DescribeGpuRequest) (*gpubmsv1.DescribeGpuResponse, error) {
	d, err := s.up.DescribeGpu(ctx, &upstream.DescribeGpuRequest{
		AppID:      req.GetAppId(),
		Name:       req.GetName(),
		PageNumber: copyPtr(req.PageNumber),
		PageSize:   copyPtr(req.PageSize),
	})
	if err != nil {
		return nil, s.fail(ctx, upstream.ActionDescribeGpu, err)
	}
	return gpusToProto(d), nil
}

// DescribeGpuDetail describes one server.
func (s *Service) DescribeGpuDetail(ctx context.Context, req *gpubmsv1.DescribeGpuDetailRequest) (*gpubmsv1.DescribeGpuDetailResponse, error) {
	d, err := s.up.DescribeGpuDetail(ctx, &upstream.DescribeGpuDetailRequest{ResourceID: req.GetResourceId()})
	if err != nil {
		return nil, s.fail(ctx, upstream.ActionDescribeGpuDetail, err)
	}
	return detailToProto(d), nil
}

// DescribeGpuTask reports a task's status once.
func (s *Service) DescribeGpuTask(ctx context.Context, req *gpubmsv1.DescribeGpuTaskRequest) (*gpubmsv1.DescribeGpuTaskResponse, error) {
	d, err := s.up.DescribeGpuTask(ctx, &upstream.DescribeGpuTaskRequest{TaskID: req.GetTaskId()})
	if err != nil {
		return nil, s.fail(ctx, upstream.ActionDescribeGpuTask, err)
	}
	return &gpubmsv1.DescribeGpuTaskResponse{
		Status:      string(d.Status),
		TaskStatus:  protoTaskStatus(string(d.Status)),
		ResourceIds: d.ResourceIDs,
	}, nil
}

// CreateGpuInstance orders servers. The provider is called once: never
// retried, since a lost reply may mean the order was placed.
func (s *Service) CreateGpuInstance(ctx context.Context, req *gpubmsv1.CreateGpuInstanceRequest) (*gpubmsv1.CreateGpuInstanceResponse, error) {
	d, err := s.up.CreateGpuInstance(ctx, createFromProto(req))
	if err != nil {
		return nil, s.fail(ctx, upstream.ActionCreateGpuInstance, err)
	}
	return &gpubmsv1.CreateGpuInstanceResponse{TaskId: d.TaskID}, nil
}

// ReinstallGpu reinstalls a server. Never retried.
func (s *Service) ReinstallGpu(ctx context.Context, req *gpubmsv1.ReinstallGpuRequest) (*gpubmsv1.ReinstallGpuResponse, error) {
	d, err := s.up.ReinstallGpu(ctx, &upstream.ReinstallGpuRequest{
		ResourceID:          req.GetResourceId(),
		ImageID:             req.GetImageId(),
		Password:            upstream.Secret(req.GetPassword()),
		Raid:                copyPtr(req.Raid),
		CustomPartition:     req.GetCustomPartition(),
		CustomPartitionSize: widen(req.GetCustomPartitionSize()),
	})
	if err != nil {
		return nil, s.fail(ctx, upstream.ActionReinstallGpu, err)
	}
	return &gpubmsv1.ReinstallGpuResponse{TaskIds: d.TaskIDs}, nil
}

// OperateGpuPower starts, stops or resets servers. Never retried.
func (s *Service) OperateGpuPower(ctx context.Context, req *gpubmsv1.OperateGpuPowerRequest) (*gpubmsv1.OperateGpuPowerResponse, error) {
	d, err := s.up.OperateGpuPower(ctx, &upstream.OperateGpuPowerRequest{
		Operate:     req.GetOperate(),
		ResourceIDs: req.GetResourceIds(),
	})
	if err != nil {
		return nil, s.fail(ctx, upstream.ActionOperateGpuPower, err)
	}
	return &gpubmsv1.OperateGpuPowerResponse{TaskIds: d.TaskIDs, ResourceIds: d.ResourceIDs}, nil
}

// DeleteGpuInstances deletes servers. Never retried.
func (s *Service) DeleteGpuInstances(ctx context.Context, req *gpubmsv1.DeleteGpuInstancesRequest) (*gpubmsv1.DeleteGpuInstancesResponse, error) {
	if _, err := s.up.DeleteGpuInstances(ctx, &upstream.DeleteGpuInstancesRequest{ResourceIDs: req.GetResourceIds()}); err != nil {
		return nil, s.fail(ctx, upstream.ActionDeleteGpuInstances, err)
	}
	return &gpubmsv1.DeleteGpuInstancesResponse{}, nil
}
