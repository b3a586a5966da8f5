package server

import (
	"context"
	"log/slog"
	"time"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/auth"
	"github.com/gpubms/gpubms/server/store"
)

// LeaseTasks keeps the leases to set once a create's task succeeds
// (store.Bolt); FleetService's lease executor sets them.
type LeaseTasks interface {
	PutLeaseTask(ctx context.Context, t store.LeaseTask) error
}

// WithLeases keeps a create's lease_ttl for its task; with defaultTTL > 0,
// a create that asks for none gets defaultTTL and defaultAction
// (GPUBMS_DEFAULT_LEASE), so a forgotten server ends by policy.
func WithLeases(t LeaseTasks, defaultTTL time.Duration, defaultAction gpubmsv1.LeaseAction) Option {
	return func(o *options) { o.leaseTasks, o.defaultLease, o.defaultLeaseAction = t, defaultTTL, defaultAction }
}

// leaseAfter records, for a create's task, who created its servers and the
// lease it asks for (or the default one). The create has happened: a failure to record is logged, not
// returned, so that the caller is not told an order failed that did not.
func (s *Service) leaseAfter(ctx context.Context, req *gpubmsv1.CreateGpuInstanceRequest, taskID string) {
	if s.leaseTasks == nil || taskID == "" {
		return
	}
	ttl, action := s.defaultLease, s.defaultLeaseAction
	if req.LeaseTtl != nil {
		ttl, action = req.GetLeaseTtl().AsDuration(), req.GetLeaseAction()
	}
	// Recorded with no lease too: who created the servers (ListFleet).
	ttl = max(ttl, 0)
	c, _ := auth.FromContext(ctx)
	t := store.LeaseTask{TaskID: taskID, TTL: ttl, Action: action, Caller: c.Name, Created: s.now(),
		RegionID: req.GetRegionId(), GoodsID: req.GetGoodsId(), ComputeID: req.GetComputeId(), ChargeType: req.GetInstanceChargeType()}
	if err := s.leaseTasks.PutLeaseTask(context.WithoutCancel(ctx), t); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "the lease of a create could not be recorded: set it with SetLease once the task ends",
			slog.String("task_id", taskID), slog.String("ttl", ttl.String()), slog.String("error", err.Error()))
	}
}
