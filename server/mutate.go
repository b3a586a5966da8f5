package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/auth"
	"github.com/gpubms/gpubms/server/store"
	"github.com/gpubms/gpubms/server/upstream"
)

// ErrorInfo reasons of the idempotency layer and the spend guard.
const (
	// ReasonRequestIDReused: the request_id was used before, by the same
	// caller and RPC, for a different request.
	ReasonRequestIDReused = "REQUEST_ID_REUSED"
	// ReasonRequestOutcomeUnknown: the first call with this request_id may
	// have reached the provider, but its reply was lost; it is never sent
	// again.
	ReasonRequestOutcomeUnknown = "REQUEST_OUTCOME_UNKNOWN"
	// ReasonOrderPriceLimit: the quote of a create is above the server's
	// GPUBMS_MAX_ORDER_PRICE.
	ReasonOrderPriceLimit = "ORDER_PRICE_LIMIT"
	// ReasonStoreUnavailable: the idempotency store could not be read or
	// written, so nothing was sent.
	ReasonStoreUnavailable = "STORE_UNAVAILABLE"
)

// Records is where the idempotency records of calls with a request_id
// live (store.Bolt, or a store shared by several servers).
type Records interface {
	PutIfAbsent(ctx context.Context, r store.Record) (store.Record, bool, error)
	CompareAndSwap(ctx context.Context, from store.State, r store.Record) (bool, error)
	DeleteIf(ctx context.Context, key string, state store.State) (bool, error)
	Get(ctx context.Context, key string) (store.Record, bool, error)
}

// AuditLog receives one event per mutating call.
type AuditLog interface {
	AppendAudit(ctx context.Context, ev *gpubmsv1.AuditEvent) error
}

// mutation is one mutating RPC, described for run.
type mutation[Resp proto.Message] struct {
	rpc          string // e.g. "CreateGpuInstance"
	action       string // the provider action
	req          proto.Message
	requestID    string
	validateOnly bool
	resourceIDs  []string // the servers the request names, for the audit trail
	// send asks the provider and builds the reply; its error is the raw
	// upstream error, so run can tell a refusal from a lost reply.
	send func(ctx context.Context) (Resp, error)
	// check answers a validate_only call.
	check func(ctx context.Context) (Resp, error)
	// guard runs before send, and may refuse (the spend guard); nil: none.
	guard func(ctx context.Context) error
	// look finds what a call whose outcome is unknown may have made (the
	// servers of a create), for the error's details; nil: nothing to look
	// for.
	look func(ctx context.Context, since time.Time) []string
	// empty is a new, empty reply.
	empty func() Resp
}

// result is the outcome of one execution of a mutation.
type result struct {
	resp              proto.Message
	err               error
	replayed          bool
	providerRequestID string
}

// run carries out m: a validate_only check, or a call to the provider that,
// once started, runs to its own end whatever the caller does; with a
// request_id, at most once per (caller, RPC, request_id). It appends the
// audit event and returns the reply, or the error as a gRPC status.
func run[Resp proto.Message](s *Service, ctx context.Context, m mutation[Resp]) (Resp, error) {
	var zero Resp
	markAudited(ctx)
	caller, _ := auth.FromContext(ctx)
	ev := &gpubmsv1.AuditEvent{
		Time:         timestamppb.New(s.now()),
		Caller:       caller.Name,
		Rpc:          m.rpc,
		RequestId:    m.requestID,
		Request:      withoutSecrets(m.req),
		ResourceIds:  m.resourceIDs,
		ValidateOnly: m.validateOnly,
	}
	if m.validateOnly {
		resp, err := m.check(ctx)
		res := result{resp: resp, err: s.fail(ctx, m.action, err)}
		s.audit(ctx, ev, res)
		if res.err != nil {
			return zero, res.err
		}
		return resp, nil
	}

	if ctx.Err() != nil {
		// Gone before anything was sent: nothing is.
		err := contextStatus(ctx, m.action)
		s.audit(ctx, ev, result{err: err})
		return zero, err
	}
	var res result
	var ok bool
	if m.requestID == "" || s.records == nil {
		res, ok = s.execute(ctx, ev, "", func(dctx context.Context) result { return once(s, dctx, m) })
	} else {
		key, fp := m.fingerprintedKey(s, caller.Name)
		res, ok = s.execute(ctx, ev, key+"\x00"+fp, func(dctx context.Context) result {
			return idempotent(s, dctx, m, key, fp)
		})
	}
	if !ok {
		// The caller left; the call goes on and is recorded.
		return zero, contextStatus(ctx, m.action)
	}
	if res.err != nil {
		return zero, res.err
	}
	return res.resp.(Resp), nil
}

// auditMarkKey holds, in a mutating call's context, whether the call has
// been audited (by run); AuditRefusals audits the others.
type auditMarkKey struct{}

func markAudited(ctx context.Context) {
	if m, ok := ctx.Value(auditMarkKey{}).(*atomic.Bool); ok {
		m.Store(true)
	}
}

// mutatingRPCs are the GpuService methods that go through run.
var mutatingRPCs = map[string]bool{
	"/gpubms.v1.GpuService/CreateGpuInstance":  true,
	"/gpubms.v1.GpuService/ReinstallGpu":       true,
	"/gpubms.v1.GpuService/OperateGpuPower":    true,
	"/gpubms.v1.GpuService/DeleteGpuInstances": true,
}

// AuditRefusals is a unary interceptor that appends the audit event of a
// mutating call from a recognised caller that was refused before it
// reached the service (by its role, a rate limit, a malformed or invalid
// request): every mutating call that passed authentication is in the trail.
// Place it after caller identification and before the refusals.
func (s *Service) AuditRefusals(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !mutatingRPCs[info.FullMethod] {
		return handler(ctx, req)
	}
	mark := new(atomic.Bool)
	resp, err := handler(context.WithValue(ctx, auditMarkKey{}, mark), req)
	if _, known := auth.FromContext(ctx); err != nil && known && !mark.Load() {
		m, _ := req.(proto.Message)
		s.AuditRefusal(ctx, info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:], m, err)
	}
	return resp, err
}

// AuditRefusal appends the audit event of a mutating call refused before
// it reached its handler (a caller whose role does not allow it), so that
// what was tried is in the trail too. rpc is the method's name.
func (s *Service) AuditRefusal(ctx context.Context, rpc string, req proto.Message, err error) {
	caller, _ := auth.FromContext(ctx)
	ev := &gpubmsv1.AuditEvent{
		Time:   timestamppb.New(s.now()),
		Caller: caller.Name,
		Rpc:    rpc,
	}
	if req != nil {
		ev.Request = withoutSecrets(req)
		r := req.ProtoReflect()
		fields := r.Descriptor().Fields()
		if fd := fields.ByName("request_id"); fd != nil && r.Has(fd) {
			ev.RequestId = r.Get(fd).String()
		}
		if fd := fields.ByName("validate_only"); fd != nil {
			ev.ValidateOnly = r.Get(fd).Bool()
		}
		if fd := fields.ByName("resource_id"); fd != nil && r.Has(fd) {
			ev.ResourceIds = []string{r.Get(fd).String()}
		}
		if fd := fields.ByName("resource_ids"); fd != nil && fd.IsList() {
			l := r.Get(fd).List()
			for i := range l.Len() {
				ev.ResourceIds = append(ev.ResourceIds, l.Get(i).String())
			}
		}
	}
	s.audit(ctx, ev, result{err: err})
}

// contextStatus is the status of a caller whose context ended first.
func contextStatus(ctx context.Context, action string) error {
	return Status(action, context.Cause(ctx)).Err()
}

// detached is ctx without its cancellation: a call handed to the provider
// runs to its own bound (the upstream client's timeout), not the caller's,
// unless the server stops hard.
func (s *Service) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	d, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.mutationTimeout)
	stop := context.AfterFunc(s.stopCtx, cancel)
	return d, func() { stop(); cancel() }
}

// flight is one execution of a mutation, shared by the concurrent calls
// with the same key (and fingerprint) in this process.
type flight struct {
	done chan struct{}
	res  result
}

// execute runs work once for concurrent calls with the same key in this
// process — on a detached context, in a goroutine of its own, tracked for
// Shutdown, a panic recovered — and waits for its result or for ctx,
// whichever ends first. The call that started the flight has its event
// appended when the work is done, whatever its caller did; each duplicate
// that joined it has its own, as a replay (or with its own end, when its
// caller left first). Calls in other processes, or later ones, meet the
// work's record in the store instead. An empty key is never shared.
//
// (singleflight would share the work too, but cannot tell a caller whether
// it started the flight, which the audit trail needs to know.)
func (s *Service) execute(ctx context.Context, ev *gpubmsv1.AuditEvent, key string, work func(context.Context) result) (result, bool) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		res := result{err: status.Error(codes.Unavailable, "the server is shutting down; nothing was sent")}
		s.audit(ctx, ev, res)
		return res, true
	}
	f, joined := s.flights[key]
	if !joined || key == "" {
		f = &flight{done: make(chan struct{})}
		if key != "" {
			s.flights[key] = f
		}
		s.inflight.Add(1)
	}
	s.mu.Unlock()
	if !joined {
		go func() {
			defer s.inflight.Done()
			dctx, cancel := s.detached(ctx)
			defer cancel()
			f.res = s.safely(dctx, work)
			s.audit(dctx, ev, f.res)
			if key != "" {
				s.mu.Lock()
				delete(s.flights, key)
				s.mu.Unlock()
			}
			close(f.done)
		}()
	}
	select {
	case <-f.done:
		res := f.res
		if joined {
			// Answered with the first call's result, the provider not
			// asked again.
			res.replayed = true
			s.audit(ctx, ev, res)
		}
		return res, true
	case <-ctx.Done():
		if joined {
			s.audit(ctx, ev, result{err: contextStatus(ctx, ev.GetRpc()), replayed: true})
		}
		return result{}, false
	}
}

// safely runs work, turning a panic into Internal (logged with its stack):
// a mutation runs outside the gRPC handler, where nothing else would catch
// it.
func (s *Service) safely(ctx context.Context, work func(context.Context) result) (res result) {
	defer func() {
		if p := recover(); p != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "panic in a mutating call",
				slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			res = result{err: status.Error(codes.Internal, "internal error")}
		}
	}()
	return work(ctx)
}

// errPanicked stands for a send that panicked: it may have reached the
// provider, so its outcome is unknown.
var errPanicked = errors.New("internal error while sending")

// sendSafely is m.send, a panic turned into errPanicked.
func sendSafely[Resp proto.Message](s *Service, ctx context.Context, m mutation[Resp]) (resp Resp, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "panic sending a mutating call",
				slog.String("action", m.action), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			err = errPanicked
		}
	}()
	return m.send(ctx)
}

// once sends m to the provider, behind the guard.
func once[Resp proto.Message](s *Service, ctx context.Context, m mutation[Resp]) result {
	if m.guard != nil {
		if err := m.guard(ctx); err != nil {
			return result{err: s.fail(ctx, m.action, err)}
		}
	}
	// Counted from here: the guard's quote is not the call's reply.
	ctx, counter := upstream.WithAttemptCounter(ctx)
	resp, err := sendSafely(s, ctx, m)
	if err != nil {
		return result{err: s.fail(ctx, m.action, err), providerRequestID: counter.RequestID()}
	}
	return result{resp: resp, providerRequestID: counter.RequestID()}
}

// expires is when a record of a call that began at started, last changed
// at updated, is forgotten: the TTL after the change, but never before every
// call that may be waiting on it has seen it (a call runs at most the
// mutation timeout; a waiting one looks every pollInterval). So a record in
// flight never expires under its call, whatever the TTL.
func (s *Service) expires(started, updated time.Time) time.Time {
	return maxTime(updated.Add(s.recordTTL), started.Add(s.mutationTimeout+2*pollInterval+time.Second))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// pollInterval bounds how often a call waits on another server's call in
// flight with the same request_id.
const pollInterval = 200 * time.Millisecond

// idempotent is once behind the record of key: the first call records
// itself in flight, asks the provider and records the outcome; a later
// call with the same request meets the record: it replays a success, waits
// for a call in flight, and is never sent when the outcome is unknown.
func idempotent[Resp proto.Message](s *Service, ctx context.Context, m mutation[Resp], key, fp string) result {
	began := s.now()
	for {
		rec, created, err := s.records.PutIfAbsent(ctx, store.Record{
			Key: key, Fingerprint: fp, State: store.InFlight,
			Started: began, Updated: began, Expires: s.expires(began, began),
		})
		if err != nil {
			return result{err: storeUnavailable(m.rpc, err)}
		}
		if created {
			return first(s, ctx, m, rec)
		}
		// An unknown outcome is never sent again under this id, whatever
		// the request now holds.
		if rec.Fingerprint != fp && rec.State != store.Unknown {
			return result{err: reused(m.rpc, m.requestID)}
		}
		switch rec.State {
		case store.Done:
			resp := m.empty()
			if err := proto.Unmarshal(rec.Reply, resp); err != nil {
				return result{err: storeUnavailable(m.rpc, err)}
			}
			return result{resp: resp, replayed: true, providerRequestID: rec.ProviderRequestID}
		case store.Unknown:
			var found []string
			if m.look != nil {
				found = m.look(ctx, rec.Started)
			}
			return result{err: outcomeUnknown(m.rpc, m.requestID, rec.Started, found), replayed: true}
		}
		// In flight elsewhere: wait for its outcome.
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return result{err: status.Errorf(codes.Aborted, "%s with request_id %q is still in flight; try again later", m.rpc, m.requestID)}
		case <-t.C:
		}
	}
}

// first is the call that created rec: it asks the provider and records
// what came of it. A refusal by the provider (or by the guard) is not kept,
// so the same request_id may be tried again once the cause is fixed; a
// lost reply is kept as unknown, never to be sent again.
func first[Resp proto.Message](s *Service, ctx context.Context, m mutation[Resp], rec store.Record) result {
	forget := func() {
		if _, err := s.records.DeleteIf(ctx, rec.Key, store.InFlight); err != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "idempotency store: cannot forget a refused call; its request_id stays in flight until it expires",
				slog.String("rpc", m.rpc), slog.String("request_id", m.requestID), slog.String("error", err.Error()))
		}
	}
	if m.guard != nil {
		if err := m.guard(ctx); err != nil {
			forget()
			return result{err: s.fail(ctx, m.action, err)}
		}
	}
	// Counted from here: the guard's quote is not the call's reply.
	ctx, counter := upstream.WithAttemptCounter(ctx)
	resp, err := sendSafely(s, ctx, m)
	res := result{providerRequestID: counter.RequestID()}
	rec.Updated = s.now()
	rec.Expires = s.expires(rec.Started, rec.Updated)
	rec.ProviderRequestID = res.providerRequestID
	record := func(what string) {
		swapped, err := s.records.CompareAndSwap(ctx, store.InFlight, rec)
		if err == nil && !swapped {
			err = errors.New("the record is no longer this call's")
		}
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "idempotency store: cannot record "+what,
				slog.String("rpc", m.rpc), slog.String("request_id", m.requestID), slog.String("error", err.Error()))
		}
	}
	switch {
	case err == nil:
		res.resp = resp
		reply, merr := proto.Marshal(resp)
		if merr != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "idempotency store: cannot encode a reply", slog.String("error", merr.Error()))
		}
		rec.Reply, rec.State = reply, store.Done
		record("a call's success (a retry with its request_id will wait for it, then be refused)")
		return res
	case sentNothing(err):
		forget()
	default:
		rec.State = store.Unknown
		record("an unknown outcome")
		caller, _ := auth.FromContext(ctx)
		s.log.LogAttrs(ctx, slog.LevelWarn, "mutating call's outcome is unknown: its reply was lost; the request_id will not be sent again",
			slog.String("action", m.action), slog.String("caller", caller.Name), slog.String("request_id", m.requestID),
			slog.String("error", err.Error()))
	}
	res.err = s.fail(ctx, m.action, err)
	return res
}

// sentNothing reports whether err means the provider did not act: the
// request never left, or the provider refused it with a code that says it
// was turned away before anything was done (a bad parameter, something
// missing, no stock, a state that forbids the action, this server's own
// credentials or request, throttling). Anything else — InternalError, a
// 5xx, an Order* or task failure, a code unknown here — may come after the
// provider acted, so the outcome is unknown.
func sentNothing(err error) bool {
	if e, ok := upstream.AsError(err); ok {
		return refusedBeforeActing(e)
	}
	if t, ok := upstream.AsTransportError(err); ok {
		return !t.OutcomeUnknown
	}
	return false
}

func refusedBeforeActing(e *upstream.Error) bool {
	if e.Throttled() {
		return true
	}
	if e.HTTPStatus >= 500 {
		return false
	}
	switch c := e.Code; {
	case isCredentialCode(c),
		c == upstream.CodeMalformedJSON, c == upstream.CodeInvalidVersion,
		c == upstream.CodeInvalidAction, c == upstream.CodeSignatureNonceUsed,
		c == upstream.CodeParameterInvalid, c == upstream.CodeParameterIsEmpty,
		c == upstream.CodeAmountOversize, c == upstream.CodeDataNotExists,
		c == upstream.CodeNotSufficient, c == upstream.CodeIPNotEnough,
		c == upstream.CodeLogicError, c == upstream.CodeInstanceError,
		strings.HasSuffix(c, "NotFound"):
		return true
	}
	return false
}

// fingerprintedKey is the record key of m for caller, and the fingerprint
// of its request.
func (m mutation[Resp]) fingerprintedKey(s *Service, caller string) (key, fp string) {
	return caller + "\x00" + m.rpc + "\x00" + m.requestID, fingerprint(s.fingerprintKey, m.req)
}

// fingerprint identifies the content of req: a keyed hash (HMAC-SHA256, the
// key derived from the provider secret, so the store alone cannot be used
// to guess a password) of its deterministic encoding without request_id and
// validate_only, the redacted fields (passwords) hashed apart.
func fingerprint(key []byte, req proto.Message) string {
	c := proto.Clone(req)
	mac := hmac.New(sha256.New, key)
	r := c.ProtoReflect()
	fields := r.Descriptor().Fields()
	for _, name := range []protoreflect.Name{"request_id", "validate_only"} {
		if fd := fields.ByName(name); fd != nil {
			r.Clear(fd)
		}
	}
	for i := range fields.Len() {
		fd := fields.Get(i)
		if redacted(fd) && r.Has(fd) {
			fmt.Fprintf(mac, "%s=%q\x00", fd.Name(), r.Get(fd).String())
			r.Clear(fd)
		}
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	mac.Write(b)
	return hex.EncodeToString(mac.Sum(nil))
}

// redacted reports whether a field is marked debug_redact (a password).
func redacted(fd protoreflect.FieldDescriptor) bool {
	o, ok := fd.Options().(*descriptorpb.FieldOptions)
	return ok && o.GetDebugRedact()
}

// withoutSecrets is req without its redacted fields, for the audit trail.
func withoutSecrets(req proto.Message) *anypb.Any {
	c := proto.Clone(req)
	r := c.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); redacted(fd) {
			r.Clear(fd)
		}
	}
	a, err := anypb.New(c)
	if err != nil {
		return nil
	}
	return a
}

// audit completes ev with res and appends it. A failure to append is
// logged: the call itself has happened.
func (s *Service) audit(ctx context.Context, ev *gpubmsv1.AuditEvent, res result) {
	if s.auditLog == nil {
		return
	}
	ev = proto.Clone(ev).(*gpubmsv1.AuditEvent)
	st := status.Convert(res.err)
	ev.Code = st.Code().String()
	if res.err != nil {
		ev.Message = st.Message()
		for _, d := range st.Details() {
			if ei, ok := d.(*errdetails.ErrorInfo); ok {
				ev.Reason = ei.GetReason()
				if ev.ProviderRequestId == "" {
					ev.ProviderRequestId = ei.GetMetadata()["request_id"]
				}
			}
		}
	}
	if res.providerRequestID != "" {
		ev.ProviderRequestId = res.providerRequestID
	}
	ev.Replayed = res.replayed
	ev.TaskIds = taskIDs(res.resp)
	ev.Duration = durationpb.New(s.now().Sub(ev.GetTime().AsTime()))
	if err := s.auditLog.AppendAudit(context.WithoutCancel(ctx), ev); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "audit trail: cannot append an event",
			slog.String("rpc", ev.GetRpc()), slog.String("error", err.Error()))
	}
}

// taskIDs are the task ids of a reply: task_id or task_ids.
func taskIDs(resp proto.Message) []string {
	if resp == nil {
		return nil
	}
	r := resp.ProtoReflect()
	if !r.IsValid() {
		return nil
	}
	fields := r.Descriptor().Fields()
	if fd := fields.ByName("task_id"); fd != nil && r.Get(fd).String() != "" {
		return []string{r.Get(fd).String()}
	}
	if fd := fields.ByName("task_ids"); fd != nil && fd.IsList() {
		l := r.Get(fd).List()
		out := make([]string, l.Len())
		for i := range l.Len() {
			out[i] = l.Get(i).String()
		}
		return out
	}
	return nil
}

func storeUnavailable(rpc string, err error) error {
	st := status.Newf(codes.Unavailable, "%s: the idempotency store is unavailable, so nothing was sent: %v", rpc, err)
	return withReason(st, ReasonStoreUnavailable, map[string]string{"rpc": rpc}).Err()
}

func reused(rpc, requestID string) error {
	st := status.Newf(codes.AlreadyExists, "%s: request_id %q was used before for a different request; use a new request_id", rpc, requestID)
	if ds, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
		Field: "request_id", Description: "used before for a different request", Reason: ReasonRequestIDReused,
	}}}); err == nil {
		st = ds
	}
	return withReason(st, ReasonRequestIDReused, map[string]string{"rpc": rpc, "request_id": requestID}).Err()
}

func outcomeUnknown(rpc, requestID string, began time.Time, found []string) error {
	msg := fmt.Sprintf("%s: the call with request_id %q that began at %s may have reached the provider, but its reply was lost; it is not sent again",
		rpc, requestID, began.UTC().Format(time.RFC3339))
	if len(found) > 0 {
		msg += fmt.Sprintf("; %d server(s) it may have made are listed in the details: adopt them rather than ordering again", len(found))
	} else {
		msg += "; look (DescribeGpu, DescribeGpuTask) before ordering again"
	}
	st := withReason(status.New(codes.FailedPrecondition, msg), ReasonRequestOutcomeUnknown,
		map[string]string{"rpc": rpc, "request_id": requestID, "began": began.UTC().Format(time.RFC3339)})
	for _, id := range found {
		if ds, err := st.WithDetails(&errdetails.ResourceInfo{
			ResourceType: "gpubms.v1.Gpu", ResourceName: id,
			Description: "created since the call began, with its instance_name",
		}); err == nil {
			st = ds
		}
	}
	return st.Err()
}

func withReason(st *status.Status, reason string, md map[string]string) *status.Status {
	if ds, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: md}); err == nil {
		st = ds
	}
	return st
}
