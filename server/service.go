// Package server implements gpubms.v1.GpuService: each RPC converts its
// request into the provider action of the same name, calls it through
// package upstream, and converts the reply back. Failures become one gRPC
// status each, through Status (errors.go).
//
// Requests are validated by the protovalidate interceptor before they get
// here. The four mutating RPCs (create, reinstall, power, delete) go
// through run (mutate.go): once handed to the provider, a call runs to its
// own end even if its caller leaves, so its outcome is always learnt; with a
// request_id it is sent at most once (the records of WithRecords); with
// validate_only it is checked and changes nothing (dryrun.go); and each
// appends an event to the audit trail (WithAudit). Shutdown waits for the
// calls still in flight.
package server

import (
	"context"
	"log/slog"
	"maps"
	"math/big"
	"sync"
	"time"

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

	records            Records // nil: request_id is not kept
	recordTTL          time.Duration
	auditLog           AuditLog // nil: no audit trail
	fingerprintKey     []byte
	maxOrderPrice      *big.Rat // nil: no spend guard
	priceCurrency      string   // the limit's currency; "": any
	mutationTimeout    time.Duration
	zoneRegions        map[string]string
	protections        Protections // nil: nothing is protected
	leaseTasks         LeaseTasks  // nil: lease_ttl is not kept
	defaultLease       time.Duration
	defaultLeaseAction gpubmsv1.LeaseAction
	now                func() time.Time

	mu         sync.Mutex
	flights    map[string]*flight // mutations in flight, by record key and fingerprint
	closing    bool               // Shutdown began: no new mutation starts
	inflight   sync.WaitGroup     // mutations handed to the provider, still running
	stopCtx    context.Context
	stopCancel context.CancelFunc
}

// Option configures a Service.
type Option func(*options)

type options struct {
	logger             *slog.Logger
	hub                *watch.Hub
	records            Records
	recordTTL          time.Duration
	auditLog           AuditLog
	fingerprintKey     []byte
	maxOrderPrice      *big.Rat
	priceCurrency      string
	mutationTimeout    time.Duration
	zoneRegions        map[string]string
	protections        Protections
	leaseTasks         LeaseTasks
	defaultLease       time.Duration
	defaultLeaseAction gpubmsv1.LeaseAction
	now                func() time.Time
}

// Defaults of the options.
const (
	DefaultRecordTTL       = 24 * time.Hour
	DefaultMutationTimeout = 60 * time.Second
)

// WithRecords keeps the outcome of every mutating call with a request_id
// in r for ttl (DefaultRecordTTL when 0), and answers a repeated call from
// it (AIP-155). Default: none; request_id is then ignored.
func WithRecords(r Records, ttl time.Duration) Option {
	return func(o *options) {
		o.records = r
		if ttl > 0 {
			o.recordTTL = ttl
		}
	}
}

// WithAudit appends one event per mutating call to a. Default: none.
func WithAudit(a AuditLog) Option { return func(o *options) { o.auditLog = a } }

// WithFingerprintKey sets the key of the request fingerprints kept in the
// records (HMAC-SHA256); keep it secret and stable across restarts and
// replicas. Default: none, so fingerprints are plain hashes. gpubmsd keeps a
// random one beside its store.
func WithFingerprintKey(key []byte) Option {
	return func(o *options) { o.fingerprintKey = append([]byte(nil), key...) }
}

// WithMaxOrderPrice refuses a create whose quoted trade amount is above
// limit (the spend guard), or, when currency is set ("CN", "US"), quoted in
// another currency: FailedPrecondition, reason ORDER_PRICE_LIMIT.
// Default: no limit.
func WithMaxOrderPrice(limit *big.Rat, currency string) Option {
	return func(o *options) { o.maxOrderPrice, o.priceCurrency = limit, currency }
}

// WithZoneRegions names the network API's region code of GPU regions
// (zones) for which the rule of RegionCode does not hold, zone → region
// code. Default: none.
func WithZoneRegions(m map[string]string) Option {
	return func(o *options) { o.zoneRegions = maps.Clone(m) }
}

// WithMutationTimeout bounds a mutating call handed to the provider, from
// when it is handed over, whatever its caller's deadline.
// Default: DefaultMutationTimeout.
func WithMutationTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.mutationTimeout = d
		}
	}
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

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
	o := options{recordTTL: DefaultRecordTTL, mutationTimeout: DefaultMutationTimeout, now: time.Now}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	stopCtx, stop := context.WithCancel(context.Background())
	return &Service{
		up: up, log: o.logger, hub: o.hub,
		records: o.records, recordTTL: o.recordTTL, auditLog: o.auditLog, fingerprintKey: o.fingerprintKey,
		maxOrderPrice: o.maxOrderPrice, priceCurrency: o.priceCurrency, mutationTimeout: o.mutationTimeout, zoneRegions: o.zoneRegions, protections: o.protections, now: o.now,
		leaseTasks: o.leaseTasks, defaultLease: o.defaultLease, defaultLeaseAction: o.defaultLeaseAction,
		flights: map[string]*flight{}, stopCtx: stopCtx, stopCancel: stop,
	}
}

// Shutdown waits for the mutating calls still in flight to finish and be
// recorded. When ctx ends first, it cancels them (their outcome is then
// unknown, and recorded so) and waits for them to return.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.stopCancel()
		<-done
		return ctx.Err()
	}
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
	return run(s, ctx, mutation[*gpubmsv1.CreateGpuInstanceResponse]{
		rpc: "CreateGpuInstance", action: upstream.ActionCreateGpuInstance,
		req: req, requestID: req.GetRequestId(), validateOnly: req.GetValidateOnly(),
		send: func(ctx context.Context) (*gpubmsv1.CreateGpuInstanceResponse, error) {
			d, err := s.up.CreateGpuInstance(ctx, createFromProto(req))
			if err != nil {
				return nil, err
			}
			s.leaseAfter(ctx, req, d.TaskID)
			return &gpubmsv1.CreateGpuInstanceResponse{TaskId: d.TaskID}, nil
		},
		check: func(ctx context.Context) (*gpubmsv1.CreateGpuInstanceResponse, error) {
			v, err := s.checkCreate(ctx, req)
			if err != nil {
				return nil, err
			}
			return &gpubmsv1.CreateGpuInstanceResponse{Validation: v}, nil
		},
		guard: s.spendGuard(req),
		look: func(ctx context.Context, since time.Time) []string {
			return s.createdSince(ctx, req.GetInstanceName(), since)
		},
		empty: func() *gpubmsv1.CreateGpuInstanceResponse { return new(gpubmsv1.CreateGpuInstanceResponse) },
	})
}

// ReinstallGpu reinstalls a server. Never retried.
func (s *Service) ReinstallGpu(ctx context.Context, req *gpubmsv1.ReinstallGpuRequest) (*gpubmsv1.ReinstallGpuResponse, error) {
	return run(s, ctx, mutation[*gpubmsv1.ReinstallGpuResponse]{
		rpc: "ReinstallGpu", action: upstream.ActionReinstallGpu,
		req: req, requestID: req.GetRequestId(), validateOnly: req.GetValidateOnly(),
		resourceIDs: []string{req.GetResourceId()},
		send: func(ctx context.Context) (*gpubmsv1.ReinstallGpuResponse, error) {
			d, err := s.up.ReinstallGpu(ctx, &upstream.ReinstallGpuRequest{
				ResourceID:          req.GetResourceId(),
				ImageID:             req.GetImageId(),
				Password:            upstream.Secret(req.GetPassword()),
				Raid:                copyPtr(req.Raid),
				CustomPartition:     req.GetCustomPartition(),
				CustomPartitionSize: widen(req.GetCustomPartitionSize()),
			})
			if err != nil {
				return nil, err
			}
			return &gpubmsv1.ReinstallGpuResponse{TaskIds: d.TaskIDs}, nil
		},
		guard: func(ctx context.Context) error {
			return s.refuseProtected(ctx, upstream.ActionReinstallGpu, []string{req.GetResourceId()})
		},
		check: func(ctx context.Context) (*gpubmsv1.ReinstallGpuResponse, error) {
			if err := s.refuseProtected(ctx, upstream.ActionReinstallGpu, []string{req.GetResourceId()}); err != nil {
				return nil, err
			}
			v, err := s.checkServers(ctx, "reinstall", []string{req.GetResourceId()})
			if err != nil {
				return nil, err
			}
			return &gpubmsv1.ReinstallGpuResponse{Validation: v}, nil
		},
		empty: func() *gpubmsv1.ReinstallGpuResponse { return new(gpubmsv1.ReinstallGpuResponse) },
	})
}

// OperateGpuPower starts, stops or resets servers. Never retried.
func (s *Service) OperateGpuPower(ctx context.Context, req *gpubmsv1.OperateGpuPowerRequest) (*gpubmsv1.OperateGpuPowerResponse, error) {
	return run(s, ctx, mutation[*gpubmsv1.OperateGpuPowerResponse]{
		rpc: "OperateGpuPower", action: upstream.ActionOperateGpuPower,
		req: req, requestID: req.GetRequestId(), validateOnly: req.GetValidateOnly(),
		resourceIDs: req.GetResourceIds(),
		send: func(ctx context.Context) (*gpubmsv1.OperateGpuPowerResponse, error) {
			d, err := s.up.OperateGpuPower(ctx, &upstream.OperateGpuPowerRequest{
				Operate:     req.GetOperate(),
				ResourceIDs: req.GetResourceIds(),
			})
			if err != nil {
				return nil, err
			}
			return &gpubmsv1.OperateGpuPowerResponse{TaskIds: d.TaskIDs, ResourceIds: d.ResourceIDs}, nil
		},
		check: func(ctx context.Context) (*gpubmsv1.OperateGpuPowerResponse, error) {
			v, err := s.checkServers(ctx, req.GetOperate(), req.GetResourceIds())
			if err != nil {
				return nil, err
			}
			return &gpubmsv1.OperateGpuPowerResponse{Validation: v}, nil
		},
		empty: func() *gpubmsv1.OperateGpuPowerResponse { return new(gpubmsv1.OperateGpuPowerResponse) },
	})
}

// DeleteGpuInstances deletes servers. Never retried.
func (s *Service) DeleteGpuInstances(ctx context.Context, req *gpubmsv1.DeleteGpuInstancesRequest) (*gpubmsv1.DeleteGpuInstancesResponse, error) {
	return run(s, ctx, mutation[*gpubmsv1.DeleteGpuInstancesResponse]{
		rpc: "DeleteGpuInstances", action: upstream.ActionDeleteGpuInstances,
		req: req, requestID: req.GetRequestId(), validateOnly: req.GetValidateOnly(),
		resourceIDs: req.GetResourceIds(),
		send: func(ctx context.Context) (*gpubmsv1.DeleteGpuInstancesResponse, error) {
			if _, err := s.up.DeleteGpuInstances(ctx, &upstream.DeleteGpuInstancesRequest{ResourceIDs: req.GetResourceIds()}); err != nil {
				return nil, err
			}
			return &gpubmsv1.DeleteGpuInstancesResponse{}, nil
		},
		guard: func(ctx context.Context) error {
			return s.refuseProtected(ctx, upstream.ActionDeleteGpuInstances, req.GetResourceIds())
		},
		check: func(ctx context.Context) (*gpubmsv1.DeleteGpuInstancesResponse, error) {
			if err := s.refuseProtected(ctx, upstream.ActionDeleteGpuInstances, req.GetResourceIds()); err != nil {
				return nil, err
			}
			v, err := s.checkServers(ctx, "delete", req.GetResourceIds())
			if err != nil {
				return nil, err
			}
			return &gpubmsv1.DeleteGpuInstancesResponse{Validation: v}, nil
		},
		empty: func() *gpubmsv1.DeleteGpuInstancesResponse { return new(gpubmsv1.DeleteGpuInstancesResponse) },
	})
}
