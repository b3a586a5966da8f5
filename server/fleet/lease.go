package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpubms/gpubms/clients/go/backoff"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/auth"
	"github.com/gpubms/gpubms/server/store"
)

// LeaseCaller is the caller the lease executor acts as, in the audit trail
// and the idempotency records: a name no caller may have.
const LeaseCaller = auth.Lease

// ReasonProtected is the ErrorInfo reason of a refusal on a protected
// server (server.ReasonProtected).
const ReasonProtected = "PROTECTED"

// LeaseStore keeps leases, the leases waiting for a create's task, and the
// audit trail.
type LeaseStore interface {
	PutLeases(ctx context.Context, leases []*gpubmsv1.Lease) error
	Leases(ctx context.Context) ([]*gpubmsv1.Lease, error)
	DeleteLeases(ctx context.Context, ids []string) ([]string, error)
	GetLease(ctx context.Context, id string) (*gpubmsv1.Lease, bool, error)
	UpdateLease(ctx context.Context, l *gpubmsv1.Lease) (bool, error)
	LeaseTasks(ctx context.Context) ([]store.LeaseTask, error)
	DeleteLeaseTask(ctx context.Context, taskID string) error
	AppendAudit(ctx context.Context, ev *gpubmsv1.AuditEvent) error
	Protected(ctx context.Context, ids []string) (map[string]*gpubmsv1.Protection, error)
	PutCreations(ctx context.Context, cs []store.Creation) error
	Creations(ctx context.Context) (map[string]store.Creation, error)
	ListProtections(ctx context.Context) ([]*gpubmsv1.Protection, error)
}

// Servers is the GpuService the lease executor acts through, so that its
// calls are validated, guarded (protection), idempotent and audited like a
// caller's.
type Servers interface {
	DescribeGpuDetail(context.Context, *gpubmsv1.DescribeGpuDetailRequest) (*gpubmsv1.DescribeGpuDetailResponse, error)
	DescribeGpuTask(context.Context, *gpubmsv1.DescribeGpuTaskRequest) (*gpubmsv1.DescribeGpuTaskResponse, error)
	OperateGpuPower(context.Context, *gpubmsv1.OperateGpuPowerRequest) (*gpubmsv1.OperateGpuPowerResponse, error)
	DeleteGpuInstances(context.Context, *gpubmsv1.DeleteGpuInstancesRequest) (*gpubmsv1.DeleteGpuInstancesResponse, error)
	DescribeGpu(context.Context, *gpubmsv1.DescribeGpuRequest) (*gpubmsv1.DescribeGpuResponse, error)
}

// WithLeases serves the lease RPCs from st and lets RunLeases act through
// servers every interval, on clock now (nil: time.Now).
func WithLeases(st LeaseStore, servers Servers, interval time.Duration, now func() time.Time) Option {
	return func(s *Service) {
		s.leases, s.gpus, s.leaseEvery, s.auditLog = st, servers, interval, st
		if now != nil {
			s.now = now
		}
	}
}

func (s *Service) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// WithLeader makes the lease executor act only in the rounds lead says this
// replica leads (one replica of several at a time). Default: always.
func WithLeader(lead func(context.Context) bool) Option {
	return func(s *Service) { s.lead = lead }
}

// SetLease gives servers an end.
func (s *Service) SetLease(ctx context.Context, req *gpubmsv1.SetLeaseRequest) (*gpubmsv1.SetLeaseResponse, error) {
	if s.leases == nil {
		return nil, status.Error(codes.Unimplemented, "SetLease: this server keeps no leases")
	}
	now := s.clock()
	expire := now.Add(req.GetTtl().AsDuration())
	if req.ExpireAt != nil {
		expire = req.GetExpireAt().AsTime()
	}
	action := req.GetAction()
	if action == gpubmsv1.LeaseAction_LEASE_ACTION_UNSPECIFIED {
		action = gpubmsv1.LeaseAction_LEASE_ACTION_STOP
	}
	if req.StopAt != nil {
		switch {
		case action != gpubmsv1.LeaseAction_LEASE_ACTION_DELETE:
			return nil, fieldError("stop_at", "stop_at is for a lease that deletes; this one stops at expire_at")
		case !req.GetStopAt().AsTime().Before(expire):
			return nil, fieldError("stop_at", "stop_at must be before the lease expires (%s)", expire.UTC().Format(time.RFC3339))
		}
	}
	c, _ := auth.FromContext(ctx)
	leases := make([]*gpubmsv1.Lease, 0, len(req.GetResourceIds()))
	for _, id := range req.GetResourceIds() {
		leases = append(leases, newLease(id, action, expire, req.GetStopAt(), c.Name, now))
	}
	err := s.leases.PutLeases(ctx, leases)
	s.auditFleet(ctx, "SetLease", req, req.GetResourceIds(), err)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "SetLease: the store cannot be written: %v", err)
	}
	return &gpubmsv1.SetLeaseResponse{Leases: leases}, nil
}

func newLease(id string, action gpubmsv1.LeaseAction, expire time.Time, stopAt *timestamppb.Timestamp, caller string, now time.Time) *gpubmsv1.Lease {
	return &gpubmsv1.Lease{
		ResourceId: id, Action: action, ExpireAt: timestamppb.New(expire), StopAt: stopAt,
		State: gpubmsv1.LeaseState_LEASE_STATE_ACTIVE, Caller: caller,
		CreateTime: timestamppb.New(now), UpdateTime: timestamppb.New(now),
	}
}

// ListLeases lists the leases, soonest first.
func (s *Service) ListLeases(ctx context.Context, req *gpubmsv1.ListLeasesRequest) (*gpubmsv1.ListLeasesResponse, error) {
	if s.leases == nil {
		return &gpubmsv1.ListLeasesResponse{}, nil
	}
	all, err := s.leases.Leases(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "ListLeases: the store cannot be read: %v", err)
	}
	out := &gpubmsv1.ListLeasesResponse{}
	for _, l := range all {
		if id := req.GetResourceId(); id == "" || l.GetResourceId() == id {
			out.Leases = append(out.Leases, l)
		}
	}
	return out, nil
}

// ClearLease removes servers' leases.
func (s *Service) ClearLease(ctx context.Context, req *gpubmsv1.ClearLeaseRequest) (*gpubmsv1.ClearLeaseResponse, error) {
	if s.leases == nil {
		return nil, status.Error(codes.Unimplemented, "ClearLease: this server keeps no leases")
	}
	had, err := s.leases.DeleteLeases(ctx, req.GetResourceIds())
	s.auditFleet(ctx, "ClearLease", req, req.GetResourceIds(), err)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "ClearLease: the store cannot be written: %v", err)
	}
	return &gpubmsv1.ClearLeaseResponse{Cleared: had}, nil
}

func (s *Service) logger() *slog.Logger {
	if s.log != nil {
		return s.log
	}
	return slog.New(slog.DiscardHandler)
}

func fieldError(field, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	st := status.New(codes.InvalidArgument, field+": "+msg)
	if ds, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}}); err == nil {
		st = ds
	}
	return st.Err()
}

// RunLeases is the lease executor: every interval, until ctx ends, it turns
// the leases of succeeded create tasks into leases, and acts on the leases
// that are due. It acts as LeaseCaller through the GpuService, with a
// request_id per lease and step, so a step is sent once even when the
// server restarts in between: a repeat is answered from the record.
func (s *Service) RunLeases(ctx context.Context) {
	if s.leases == nil || s.gpus == nil || s.leaseEvery <= 0 {
		return
	}
	ctx = auth.NewContext(ctx, auth.Caller{Name: LeaseCaller, Role: auth.Operator, Via: LeaseCaller})
	t := time.NewTicker(s.leaseEvery)
	defer t.Stop()
	for {
		if s.lead == nil || s.lead(ctx) {
			s.leaseRound(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leaseRound is one pass of the executor.
func (s *Service) leaseRound(ctx context.Context) {
	s.resolveLeaseTasks(ctx)
	leases, err := s.leases.Leases(ctx)
	if err != nil {
		s.logger().LogAttrs(ctx, slog.LevelWarn, "leases: the store cannot be read", slog.String("error", err.Error()))
		return
	}
	now := s.clock()
	var finished []string
	for _, l := range leases {
		if ctx.Err() != nil {
			return
		}
		if st := l.GetState(); (st == gpubmsv1.LeaseState_LEASE_STATE_DONE || st == gpubmsv1.LeaseState_LEASE_STATE_GONE) &&
			now.Sub(l.GetUpdateTime().AsTime()) > leaseKeep {
			finished = append(finished, l.GetResourceId())
			continue
		}
		if due(l, now) {
			// One lease's slow provider does not hold the others for long.
			lctx, cancel := context.WithTimeout(ctx, leaseStepTimeout)
			s.act(lctx, l.GetResourceId(), l.GetCreateTime(), now)
			cancel()
		}
	}
	if len(finished) > 0 {
		_, _ = s.leases.DeleteLeases(ctx, finished)
	}
}

// leaseKeep is how long a finished lease stays listed.
const leaseKeep = 30 * 24 * time.Hour

// leaseStepTimeout bounds one lease's step in a round.
const leaseStepTimeout = 2 * time.Minute

// resolveLeaseTasks records who created the servers of the create tasks
// that ended, and sets their leases. A failed create's servers that exist
// (in error) get them too; those that do not are closed as gone. A task the
// provider does not know is dropped after an hour (the provider may not
// list a task at once).
func (s *Service) resolveLeaseTasks(ctx context.Context) {
	tasks, err := s.leases.LeaseTasks(ctx)
	if err != nil {
		return
	}
	for _, lt := range tasks {
		r, err := s.gpus.DescribeGpuTask(ctx, &gpubmsv1.DescribeGpuTaskRequest{TaskId: lt.TaskID})
		switch {
		case status.Code(err) == codes.NotFound:
			if s.clock().Sub(lt.Created) > time.Hour {
				_ = s.leases.DeleteLeaseTask(ctx, lt.TaskID)
			}
			continue
		case err != nil:
			continue // asked again next round
		}
		switch r.GetTaskStatus() {
		case gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED, gpubmsv1.TaskStatus_TASK_STATUS_FAILED:
		default:
			continue
		}
		now := s.clock()
		var cs []store.Creation
		for _, id := range r.GetResourceIds() {
			cs = append(cs, store.Creation{ResourceID: id, Caller: lt.Caller, TaskID: lt.TaskID, Time: lt.Created,
				RegionID: lt.RegionID, GoodsID: lt.GoodsID, ComputeID: lt.ComputeID, ChargeType: lt.ChargeType})
		}
		if err := s.leases.PutCreations(ctx, cs); err != nil {
			continue
		}
		if lt.TTL > 0 {
			var leases []*gpubmsv1.Lease
			failed := false
			for _, id := range r.GetResourceIds() {
				_, has, err := s.leases.GetLease(ctx, id)
				if err != nil {
					failed = true
					break
				}
				if !has { // a lease set since, by hand, wins
					leases = append(leases, newLease(id, orStop(lt.Action), now.Add(lt.TTL), nil, lt.Caller, now))
				}
			}
			if failed || s.leases.PutLeases(ctx, leases) != nil {
				continue
			}
		}
		_ = s.leases.DeleteLeaseTask(ctx, lt.TaskID)
	}
}

func orStop(a gpubmsv1.LeaseAction) gpubmsv1.LeaseAction {
	if a == gpubmsv1.LeaseAction_LEASE_ACTION_UNSPECIFIED {
		return gpubmsv1.LeaseAction_LEASE_ACTION_STOP
	}
	return a
}

// due reports whether the executor should look at l now: at its next
// attempt when one is set, else at stop_at (before its stop is done) or
// expire_at.
func due(l *gpubmsv1.Lease, now time.Time) bool {
	switch l.GetState() {
	case gpubmsv1.LeaseState_LEASE_STATE_DONE, gpubmsv1.LeaseState_LEASE_STATE_GONE:
		return false
	}
	if na := l.GetNextAttempt(); na != nil {
		return !now.Before(na.AsTime())
	}
	return !now.Before(dueAt(l))
}

// dueAt is when a lease acts next without a retry pending.
func dueAt(l *gpubmsv1.Lease) time.Time {
	if sa := l.GetStopAt(); sa != nil && l.GetState() != gpubmsv1.LeaseState_LEASE_STATE_STOPPED {
		return sa.AsTime()
	}
	return l.GetExpireAt().AsTime()
}

// act takes the next step of the server's lease, as the server now is: a
// step is done when the server shows it (stopped, or gone), not when the
// provider accepts the call, and a step that did not take is sent again as
// a new request (steps counts them). It reads the lease afresh first, so
// a lease cleared or replaced meanwhile is left alone.
func (s *Service) act(ctx context.Context, id string, created *timestamppb.Timestamp, now time.Time) {
	cur, ok, err := s.leases.GetLease(ctx, id)
	if err != nil || !ok || !cur.GetCreateTime().AsTime().Equal(created.AsTime()) || !due(cur, now) {
		return
	}
	l := proto.CloneOf(cur)
	d, err := s.gpus.DescribeGpuDetail(ctx, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: id})
	switch {
	case err != nil && status.Code(err) != codes.NotFound:
		s.settle(ctx, l, l.GetState(), now, err)
		return
	}
	expired := !now.Before(l.GetExpireAt().AsTime())
	deletes := expired && l.GetAction() == gpubmsv1.LeaseAction_LEASE_ACTION_DELETE
	if err != nil { // gone: deleted by this lease, or by someone else
		next := gpubmsv1.LeaseState_LEASE_STATE_GONE
		if deletes && l.GetSteps() > 0 {
			next = gpubmsv1.LeaseState_LEASE_STATE_DONE
		}
		s.settle(ctx, l, next, now, nil)
		return
	}
	state := d.GetState()
	var step string // the call to make, if any
	switch {
	case deletes && (state == "stopped" || state == "error"):
		step = "delete"
	case state == "running":
		step = "stop"
	case !deletes && state == "stopped":
		next := gpubmsv1.LeaseState_LEASE_STATE_STOPPED
		if expired {
			next = gpubmsv1.LeaseState_LEASE_STATE_DONE
		}
		l.NextAttempt = nil
		s.settle(ctx, l, next, now, nil)
		return
	case !deletes && state == "error":
		s.settle(ctx, l, l.GetState(), now, status.Error(codes.FailedPrecondition, "the server is in error: it cannot be stopped, only deleted"))
		return
	default:
		// In between (stopping, deleting, creating, rebuilding...): look
		// again next round.
		l.NextAttempt = timestamppb.New(now.Add(s.leaseEvery))
		s.settle(ctx, l, l.GetState(), now, nil)
		return
	}
	if p, perr := s.leases.Protected(ctx, []string{id}); perr != nil {
		s.settle(ctx, l, l.GetState(), now, status.Errorf(codes.Unavailable, "the protection cannot be read: %v", perr))
		return
	} else if pr := p[id]; pr != nil {
		// Never on a protected server: the refusal is recorded instead,
		// once, when the lease meets the protection.
		msg := fmt.Sprintf("lease: %s is protected (%s), not changed", id, pr.GetReason())
		if l.GetState() != gpubmsv1.LeaseState_LEASE_STATE_PROTECTED {
			rpc := "OperateGpuPower"
			if step == "delete" {
				rpc = "DeleteGpuInstances"
			}
			if aerr := s.leases.AppendAudit(context.WithoutCancel(ctx), &gpubmsv1.AuditEvent{
				Time: timestamppb.New(now), Caller: LeaseCaller, Rpc: rpc, ResourceIds: []string{id},
				Code: codes.FailedPrecondition.String(), Reason: ReasonProtected, Message: msg,
			}); aerr != nil {
				s.logger().LogAttrs(ctx, slog.LevelError, "audit trail: cannot record a lease's refusal", slog.String("error", aerr.Error()))
			}
		}
		s.settle(ctx, l, l.GetState(), now, protectedError(msg))
		return
	}
	rid := proto.String(leaseRequestID(l, step))
	if step == "delete" {
		_, err = s.gpus.DeleteGpuInstances(ctx, &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: []string{id}, RequestId: rid})
	} else {
		_, err = s.gpus.OperateGpuPower(ctx, &gpubmsv1.OperateGpuPowerRequest{Operate: "stop", ResourceIds: []string{id}, RequestId: rid})
	}
	if ctx.Err() != nil && err != nil {
		return // shutting down (or out of time): the step is decided next round
	}
	if err == nil || isOutcomeUnknown(err) {
		// Sent (or perhaps sent): the next round sees whether it took; if
		// not, the next step is a new request.
		l.Steps++
		l.NextAttempt = timestamppb.New(now.Add(s.leaseEvery))
		err = nil
	}
	s.settle(ctx, l, l.GetState(), now, err)
}

// settle records a lease's new state, or the failure of a step: a
// protected server puts it in LEASE_STATE_PROTECTED and looks again a
// minute later; another failure is retried with backoff.
func (s *Service) settle(ctx context.Context, l *gpubmsv1.Lease, next gpubmsv1.LeaseState, now time.Time, err error) {
	l.UpdateTime = timestamppb.New(now)
	switch {
	case err == nil:
		l.LastError, l.Attempts, l.State = "", 0, next
		if l.State == gpubmsv1.LeaseState_LEASE_STATE_PROTECTED {
			l.State = gpubmsv1.LeaseState_LEASE_STATE_ACTIVE // no longer in the way
		}
		if next == gpubmsv1.LeaseState_LEASE_STATE_DONE || next == gpubmsv1.LeaseState_LEASE_STATE_GONE {
			l.NextAttempt = nil
		}
	case isProtected(err):
		l.State, l.LastError = gpubmsv1.LeaseState_LEASE_STATE_PROTECTED, status.Convert(err).Message()
		l.NextAttempt = timestamppb.New(now.Add(max(time.Minute, s.leaseEvery)))
	default:
		l.Attempts++
		l.LastError = status.Convert(err).Message()
		wait := backoff.Full(backoff.Exponential(s.leaseEvery, 10*time.Minute, int(l.Attempts)), nil)
		l.NextAttempt = timestamppb.New(now.Add(max(wait, s.leaseEvery)))
		s.logger().LogAttrs(ctx, slog.LevelWarn, "lease: a step failed; retrying",
			slog.String("resource_id", l.GetResourceId()), slog.Int("attempt", int(l.Attempts)), slog.String("error", l.LastError))
	}
	if _, uerr := s.leases.UpdateLease(context.WithoutCancel(ctx), l); uerr != nil {
		s.logger().LogAttrs(ctx, slog.LevelWarn, "lease: the store cannot be written", slog.String("error", uerr.Error()))
	}
}

// isOutcomeUnknown reports whether a step's reply was lost after it may
// have reached the provider (REQUEST_OUTCOME_UNKNOWN, or UpstreamOutcomeUnknown).
func isOutcomeUnknown(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && (ei.GetReason() == "REQUEST_OUTCOME_UNKNOWN" || ei.GetReason() == "UpstreamOutcomeUnknown") {
			return true
		}
	}
	return false
}

func protectedError(msg string) error {
	st := status.New(codes.FailedPrecondition, msg)
	if ds, err := st.WithDetails(&errdetails.ErrorInfo{Reason: ReasonProtected, Domain: "gpubms.v1"}); err == nil {
		st = ds
	}
	return st.Err()
}

func isProtected(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetReason() == ReasonProtected {
			return true
		}
	}
	return false
}

// leaseRequestID is the request_id of one step of a lease: the same for
// every attempt of that step (across restarts too), another for the next
// step, or for a new lease.
func leaseRequestID(l *gpubmsv1.Lease, step string) string {
	h := sha256.Sum256([]byte(l.GetResourceId() + "\x00" + step + "\x00" + strconv.FormatInt(l.GetCreateTime().AsTime().UnixNano(), 10) +
		"\x00" + strconv.Itoa(int(l.GetSteps()))))
	return "lease-" + step + "-" + hex.EncodeToString(h[:12])
}
