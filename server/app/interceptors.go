package app

import (
	"context"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"

	"buf.build/go/protovalidate"
	pvinterceptor "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gpubms/gpubms/server/gateway"
	"github.com/gpubms/gpubms/server/upstream"
)

// chain builds the one ordered chain, unary and stream mirrored:
//
//	request id (outermost: every line and error of the call carries it)
//	recovery
//	metrics (when m is not nil)
//	provider request counting, caller identification
//	logging (one line per call, with its caller)
//	the audit of mutating calls refused from here on (unary)
//	caller authentication and role (health exempt)
//	per-caller and server rate limits, per-caller watch cap (health and reflection exempt)
//	request decoding check (malformed protobuf is InvalidArgument)
//	validation
//
// Identification sits outside logging and refuses nothing, so every call's
// log line names its caller; enforcement sits inside, so the calls it
// refuses are counted and logged with their codes. Validation runs last,
// just before the handler, so a rejected request costs no provider call. A
// call that panics is logged by recovery and not counted as handled.
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
	log := newCallLog(logger.With("component", "grpc"), logCalls)
	api, limited := selector.MatchFunc(isAPICall), selector.MatchFunc(isLimited)

	unary := []grpc.UnaryServerInterceptor{requestIDUnary, recovery.UnaryServerInterceptor(rec)}
	stream := []grpc.StreamServerInterceptor{requestIDStream, recovery.StreamServerInterceptor(rec)}
	if m != nil {
		unary = append(unary, m.grpc.UnaryServerInterceptor())
		stream = append(stream, m.grpc.StreamServerInterceptor())
	}
	unary = append(unary, countUnary, d.identifyUnary, log.unary)
	if d.audit != nil {
		unary = append(unary, d.audit)
	}
	unary = append(unary,
		selector.UnaryServerInterceptor(d.enforceUnary, api),
		selector.UnaryServerInterceptor(lim.unary, limited),
		checkUnary, badRequestUnary, pvinterceptor.UnaryServerInterceptor(validator))
	stream = append(stream, countStream, d.identifyStream, log.stream,
		selector.StreamServerInterceptor(d.enforceStream, api),
		selector.StreamServerInterceptor(lim.stream, limited),
		checkStream, badRequestStream, pvinterceptor.StreamServerInterceptor(validator))
	return unary, stream, nil
}

// countUnary and countStream give each call a provider request counter, which
// the upstream client increments and the logging interceptor reports. A
// unary call whose caller sends cache-control: no-cache refuses cached data;
// one answered from the cache says the reply's age in the response
// metadata gateway.CacheAgeMetadata (seconds).
func countUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, ctr := upstream.WithAttemptCounter(ctx)
	for _, v := range metadata.ValueFromIncomingContext(ctx, "cache-control") {
		if strings.Contains(strings.ToLower(v), "no-cache") {
			ctx = upstream.NoCache(ctx)
		}
	}
	resp, err := handler(ctx, req)
	if age, ok := ctr.CacheAge(); ok && err == nil {
		_ = grpc.SetHeader(ctx, metadata.Pairs(gateway.CacheAgeMetadata, strconv.Itoa(int(age.Seconds()))))
	}
	return resp, err
}

func countStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, _ := upstream.WithAttemptCounter(ss.Context())
	return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
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
