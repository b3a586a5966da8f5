package server

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// ReasonProtected: the call names a protected server (FleetService
// SetProtection); nothing was sent.
const ReasonProtected = "PROTECTED"

// Protections says which servers are protected (the store).
type Protections interface {
	Protected(ctx context.Context, ids []string) (map[string]*gpubmsv1.Protection, error)
}

// WithProtections makes DeleteGpuInstances and ReinstallGpu refuse a
// protected server. Default: no server is protected.
func WithProtections(p Protections) Option { return func(o *options) { o.protections = p } }

// refuseProtected is FailedPrecondition (reason PROTECTED, the servers and
// why in the ErrorInfo) when any of ids is protected, Unavailable when the
// store cannot say; nil otherwise.
func (s *Service) refuseProtected(ctx context.Context, action string, ids []string) error {
	if s.protections == nil {
		return nil
	}
	p, err := s.protections.Protected(ctx, ids)
	if err != nil {
		return withInfo(status.Newf(codes.Unavailable, "%s: the store cannot say whether the servers are protected: %v", action, err),
			ReasonStoreUnavailable, action, "", 0).Err()
	}
	if len(p) == 0 {
		return nil
	}
	var named []string
	md := map[string]string{"action": action}
	for _, id := range ids {
		if pr := p[id]; pr != nil {
			named = append(named, id)
			if pr.GetReason() != "" {
				md["reason:"+id] = pr.GetReason()
			}
		}
	}
	slices.Sort(named)
	md["resource_ids"] = strings.Join(named, ",")
	msg := action + ": protected, not changed: " + strings.Join(named, ", ") + " (FleetService.SetProtection lifts it)"
	st := status.New(codes.FailedPrecondition, msg)
	if ds, err := st.WithDetails(&errdetails.ErrorInfo{Reason: ReasonProtected, Domain: ErrorDomain, Metadata: md}); err == nil {
		st = ds
	}
	return st.Err()
}
