package app

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/gpubms/gpubms/server/gateway"
	"github.com/gpubms/gpubms/server/upstream"
)

// chain builds the one ordered chain, unary and stream mirrored:
//
//	request id (outermost: every line and error of the call carries it)
//	recovery
//	metrics (when m is not nil)
//	the door (front), whose steps run in this order:
//	  provider request counting, caller identification
//	  logging (one line per call, with its caller)
//	  the audit of mutating calls refused from here on (unary)
//	  caller authentication and role (health exempt)
//	  per-caller and server rate limits, per-caller watch cap (health and reflection exempt)
//	  request decoding check (malformed protobuf is InvalidArgument)
//	  validation
//
// Identification refuses nothing, so every call's log line names its
// caller; enforcement comes after logging, so the calls it refuses are
// counted and logged with their codes. Validation runs last, just before
// the handler, so a rejected request costs no provider call. A call that
// panics is logged by recovery and not counted as handled.
//
// The door's steps are one interceptor, not one each: a watch stream's
// goroutine waits for hours under every frame of the chain, and the fewer
// they are the less of its stack it keeps (a parked goroutine's stack
// shrinks only while it uses a quarter of it); a unary call saves a closure
// and a call per step too.
func chain(logger *slog.Logger, logCalls string, m *metrics, d *door, lim *limits) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor, error) {
	validator, err := protovalidate.New()
	if err != nil {
		return nil, nil, err
	}
	rec := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "panic serving call", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	// The caller is added by the logger's handler (callerHandler), to the
	// call's line as to every line logged in the call.
	f := &front{d: d, lim: lim, log: newCallLog(logger.With("component", "grpc"), logCalls), validator: validator}

	unary := []grpc.UnaryServerInterceptor{requestIDUnary, recovery.UnaryServerInterceptor(rec)}
	stream := []grpc.StreamServerInterceptor{requestIDStream, recovery.StreamServerInterceptor(rec)}
	if m != nil {
		unary = append(unary, m.grpc.UnaryServerInterceptor())
		stream = append(stream, m.grpc.StreamServerInterceptor())
	}
	return append(unary, f.unary), append(stream, f.stream), nil
}

// front is the door's steps of the chain (see chain).
type front struct {
	d         *door
	lim       *limits
	log       *callLog
	validator protovalidate.Validator
}

// unary gives the call a provider request counter, which the upstream
// client increments and the call's line reports. A caller that sends
// cache-control: no-cache refuses cached data; a reply answered from the
// cache says its age in the response metadata gateway.CacheAgeMetadata
// (seconds).
func (f *front) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, ctr := upstream.WithAttemptCounter(ctx)
	for _, v := range metadata.ValueFromIncomingContext(ctx, "cache-control") {
		if strings.Contains(strings.ToLower(v), "no-cache") {
			ctx = upstream.NoCache(ctx)
		}
	}
	ctx = f.d.identify(ctx)
	start := time.Now()
	var resp any
	var err error
	if f.d.audit != nil {
		resp, err = f.d.audit(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return f.checked(ctx, req, info.FullMethod, handler)
		})
	} else {
		resp, err = f.checked(ctx, req, info.FullMethod, handler)
	}
	f.log.finished(ctx, info.FullMethod, "unary", start, err)
	if age, ok := ctr.CacheAge(); ok && err == nil {
		setReplyHeader(ctx, gateway.CacheAgeMetadata, strconv.Itoa(int(age.Seconds())))
	}
	return resp, err
}

// checked runs the steps that may refuse a unary call, then its handler.
func (f *front) checked(ctx context.Context, req any, method string, handler grpc.UnaryHandler) (any, error) {
	if err := f.admit(ctx, method); err != nil {
		return nil, err
	}
	if err := f.check(req); err != nil {
		return nil, err
	}
	resp, err := handler(ctx, req)
	return resp, withBadRequest(err)
}

func (f *front) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, _ := upstream.WithAttemptCounter(ss.Context())
	ctx = f.d.identify(ctx)
	start := time.Now()
	err := f.streamChecked(srv, &frontStream{ctxStream: ctxStream{ServerStream: ss, ctx: ctx}, f: f}, info, handler)
	kind := "server_stream"
	switch {
	case info.IsClientStream && info.IsServerStream:
		kind = "bidi_stream"
	case info.IsClientStream:
		kind = "client_stream"
	}
	f.log.finished(ctx, info.FullMethod, kind, start, err)
	return err
}

// streamChecked runs the steps that may refuse a stream, then its handler,
// whose messages are checked as it receives them (frontStream). A server
// stream counts as one of its caller's watches while it runs.
func (f *front) streamChecked(srv any, ss *frontStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := f.admit(ss.ctx, info.FullMethod); err != nil {
		return err
	}
	if limitedMethod(info.FullMethod) && info.IsServerStream && !info.IsClientStream {
		done, err := f.lim.openWatch(ss.ctx)
		if err != nil {
			return err
		}
		defer done()
	}
	return withBadRequest(handler(srv, ss))
}

// admit refuses a call whose caller may not make it (health is exempt) or
// is over a rate limit (health and reflection are exempt).
func (f *front) admit(ctx context.Context, method string) error {
	if !apiMethod(method) {
		return nil
	}
	if err := f.d.enforce(ctx, method); err != nil {
		return err
	}
	if limitedMethod(method) {
		return f.lim.allow(ctx)
	}
	return nil
}

// check refuses a request that did not decode (decodeErr) or breaks its
// rules, InvalidArgument naming each field (withBadRequest).
func (f *front) check(m any) error {
	if err := decodeErr(m); err != nil {
		return err
	}
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "unsupported message type: %T", m)
	}
	err := f.validator.Validate(msg)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		// A rule that does not compile: the server's fault.
		return status.Error(codes.Internal, err.Error())
	}
	st := status.New(codes.InvalidArgument, err.Error())
	if ds, derr := st.WithDetails(verr.ToProto()); derr == nil {
		st = ds
	}
	return withBadRequest(st.Err())
}

// frontStream is a stream under the door: its context carries the caller,
// and each message received is checked.
type frontStream struct {
	ctxStream
	f *front
}

func (s *frontStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.f.check(m)
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// chainUnary makes one interceptor of ints, the first outermost, as
// grpc.ChainUnaryInterceptor does for a server.
func chainUnary(ints []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		h := handler
		for i := len(ints) - 1; i >= 0; i-- {
			next, in := h, ints[i]
			h = func(ctx context.Context, req any) (any, error) { return in(ctx, req, info, next) }
		}
		return h(ctx, req)
	}
}

// chainStream is chainUnary for streams.
func chainStream(ints []grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		h := handler
		for i := len(ints) - 1; i >= 0; i-- {
			next, in := h, ints[i]
			h = func(srv any, ss grpc.ServerStream) error { return in(srv, ss, info, next) }
		}
		return h(srv, ss)
	}
}
