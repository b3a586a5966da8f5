// Package fleet implements gpubms.v1.FleetService: what gpubms adds beyond
// the provider's API. It reads the store and the provider through narrow
// interfaces of its own; it never speaks HTTP or signs anything.
package fleet

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/auth"
	"github.com/gpubms/gpubms/server/store"
	"github.com/gpubms/gpubms/server/watch"
)

// AuditReader reads the audit trail.
type AuditReader interface {
	ListAudit(ctx context.Context, q store.AuditQuery) ([]*gpubmsv1.AuditEvent, string, error)
}

// Service implements gpubmsv1.FleetServiceServer. It is safe for
// concurrent use.
type Service struct {
	gpubmsv1.UnimplementedFleetServiceServer
	audit AuditReader
	info  *gpubmsv1.GetServerInfoResponse

	catalogue Catalogue
	status    func(action string, err error) *status.Status

	protection ProtectionStore
	log        *slog.Logger
	auditLog   interface { // where FleetService's own changes are audited
		AppendAudit(ctx context.Context, ev *gpubmsv1.AuditEvent) error
	}

	servers *watch.Hub // WatchGpu; nil: not served

	leases     LeaseStore
	gpus       Servers
	leaseEvery time.Duration
	now        func() time.Time
	lead       func(context.Context) bool // nil: this replica always leads
}

// Option configures a Service.
type Option func(*Service)

// WithServerInfo sets what GetServerInfo answers (by default only that the
// version is unknown).
func WithServerInfo(info *gpubmsv1.GetServerInfoResponse) Option {
	return func(s *Service) { s.info = info }
}

// New returns the service reading the audit trail from audit.
func New(audit AuditReader, opts ...Option) *Service {
	if audit == nil {
		panic("fleet: nil audit reader")
	}
	s := &Service{audit: audit, info: &gpubmsv1.GetServerInfoResponse{Version: "(unknown)"}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// GetServerInfo answers the server's build and mode.
func (s *Service) GetServerInfo(context.Context, *gpubmsv1.GetServerInfoRequest) (*gpubmsv1.GetServerInfoResponse, error) {
	return proto.CloneOf(s.info), nil
}

// ListAuditEvents lists the audit trail, newest first. A caller below the
// operator role sees only its own events.
func (s *Service) ListAuditEvents(ctx context.Context, req *gpubmsv1.ListAuditEventsRequest) (*gpubmsv1.ListAuditEventsResponse, error) {
	c, _ := auth.FromContext(ctx)
	caller := req.GetCaller()
	if !c.Role.Allows(auth.Operator) {
		if caller != "" && caller != c.Name {
			return nil, status.Errorf(codes.PermissionDenied, "caller %q is a %s and may list only its own audit events", c.Name, c.Role)
		}
		caller = c.Name
	}
	q := store.AuditQuery{
		Caller: caller, RPC: req.GetRpc(), ResourceID: req.GetResourceId(),
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
	}
	if req.StartTime != nil {
		q.Start = req.GetStartTime().AsTime()
	}
	if req.EndTime != nil {
		q.End = req.GetEndTime().AsTime()
	}
	evs, next, err := s.audit.ListAudit(ctx, q)
	switch {
	case errors.Is(err, store.ErrBadPageToken):
		return nil, status.Error(codes.InvalidArgument, "page_token is not one this server made")
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "audit trail: %v", err)
	}
	return &gpubmsv1.ListAuditEventsResponse{Events: evs, NextPageToken: next}, nil
}

// auditFleet records a FleetService call that changes state, and how it
// ended (err: the store could not be written).
func (s *Service) auditFleet(ctx context.Context, rpc string, req proto.Message, ids []string, err error) {
	c, _ := auth.FromContext(ctx)
	ev := &gpubmsv1.AuditEvent{Time: timestamppb.New(s.clock()), Caller: c.Name, Rpc: rpc, ResourceIds: ids, Code: codes.OK.String()}
	if a, aerr := anypb.New(req); aerr == nil {
		ev.Request = a
	}
	if err != nil {
		ev.Code, ev.Message = codes.Unavailable.String(), err.Error()
	}
	if aerr := s.auditLog.AppendAudit(context.WithoutCancel(ctx), ev); aerr != nil {
		s.logger().LogAttrs(ctx, slog.LevelError, "audit trail: cannot record "+rpc, slog.String("error", aerr.Error()))
	}
}
