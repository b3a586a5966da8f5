package fleet

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/auth"
)

// ProtectionStore keeps the servers' protection, and the audit trail it is
// recorded in.
type ProtectionStore interface {
	SetProtection(ctx context.Context, ids []string, protected bool, reason, caller string) ([]*gpubmsv1.Protection, error)
	ListProtections(ctx context.Context) ([]*gpubmsv1.Protection, error)
	AppendAudit(ctx context.Context, ev *gpubmsv1.AuditEvent) error
}

// WithProtection serves SetProtection and ListProtections from p; l logs
// an audit event that could not be written.
func WithProtection(p ProtectionStore, l *slog.Logger) Option {
	return func(s *Service) { s.protection, s.log = p, l }
}

// SetProtection protects servers, or lifts their protection, and records
// it in the audit trail.
func (s *Service) SetProtection(ctx context.Context, req *gpubmsv1.SetProtectionRequest) (*gpubmsv1.SetProtectionResponse, error) {
	if s.protection == nil {
		return nil, status.Error(codes.Unimplemented, "SetProtection: this server keeps no protection")
	}
	c, _ := auth.FromContext(ctx)
	ev := &gpubmsv1.AuditEvent{
		Time: timestamppb.New(time.Now()), Caller: c.Name, Rpc: "SetProtection",
		ResourceIds: req.GetResourceIds(),
	}
	if a, err := anypb.New(req); err == nil {
		ev.Request = a
	}
	got, err := s.protection.SetProtection(ctx, req.GetResourceIds(), req.GetProtected(), req.GetReason(), c.Name)
	if err != nil {
		err = status.Errorf(codes.Unavailable, "SetProtection: the store cannot be written: %v", err)
		ev.Code = codes.Unavailable.String()
		ev.Message = status.Convert(err).Message()
	} else {
		ev.Code = codes.OK.String()
	}
	if aerr := s.protection.AppendAudit(context.WithoutCancel(ctx), ev); aerr != nil && s.log != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "audit trail: cannot record SetProtection", slog.String("error", aerr.Error()))
	}
	if err != nil {
		return nil, err
	}
	return &gpubmsv1.SetProtectionResponse{Protections: got}, nil
}

// ListProtections lists the protected servers.
func (s *Service) ListProtections(ctx context.Context, _ *gpubmsv1.ListProtectionsRequest) (*gpubmsv1.ListProtectionsResponse, error) {
	if s.protection == nil {
		return &gpubmsv1.ListProtectionsResponse{}, nil
	}
	ps, err := s.protection.ListProtections(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "ListProtections: the store cannot be read: %v", err)
	}
	return &gpubmsv1.ListProtectionsResponse{Protections: ps}, nil
}
