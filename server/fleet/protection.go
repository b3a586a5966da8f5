package fleet

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	return func(s *Service) { s.protection, s.log, s.auditLog = p, l, p }
}

// SetProtection protects servers, or lifts their protection, and records
// it in the audit trail.
func (s *Service) SetProtection(ctx context.Context, req *gpubmsv1.SetProtectionRequest) (*gpubmsv1.SetProtectionResponse, error) {
	if s.protection == nil {
		return nil, status.Error(codes.Unimplemented, "SetProtection: this server keeps no protection")
	}
	c, _ := auth.FromContext(ctx)
	got, err := s.protection.SetProtection(ctx, req.GetResourceIds(), req.GetProtected(), req.GetReason(), c.Name)
	s.auditFleet(ctx, "SetProtection", req, req.GetResourceIds(), err)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "SetProtection: the store cannot be written: %v", err)
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
