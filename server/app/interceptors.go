package app

import (
	"context"
	"log/slog"
	"runtime/debug"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	pvinterceptor "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpubms/gpubms/server/upstream"
)

// chain builds the one ordered chain, unary and stream mirrored:
//
//	recovery (outermost)
//	metrics (when m is not nil)
//	provider request counting, caller identification
//	logging (one line per call, with its caller)
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
func chain(logger *slog.Logger, m *metrics, d *door, lim *limits) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor, error) {
	validator, err := protovalidate.New()
	if err != nil {
		return nil, nil, err
	}
	rec := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "panic serving call", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithFieldsFromContext(func(ctx context.Context) logging.Fields {
			// The caller is added by the logger's handler (callerHandler),
			// to this line as to every line logged in the call.
			if c := upstream.AttemptCounterFrom(ctx); c != nil {
				return logging.Fields{"provider.requests", c.Load()}
			}
			return nil
		}),
	}
	log := slogAdapter(logger.With("component", "grpc"))
	api, limited := selector.MatchFunc(isAPICall), selector.MatchFunc(isLimited)

	unary := []grpc.UnaryServerInterceptor{recovery.UnaryServerInterceptor(rec)}
	stream := []grpc.StreamServerInterceptor{recovery.StreamServerInterceptor(rec)}
	if m != nil {
		unary = append(unary, m.grpc.UnaryServerInterceptor())
		stream = append(stream, m.grpc.StreamServerInterceptor())
	}
	unary = append(unary, countUnary, d.identifyUnary, logging.UnaryServerInterceptor(log, logOpts...),
		selector.UnaryServerInterceptor(d.enforceUnary, api),
		selector.UnaryServerInterceptor(lim.unary, limited),
		checkUnary, badRequestUnary, pvinterceptor.UnaryServerInterceptor(validator))
	stream = append(stream, countStream, d.identifyStream, logging.StreamServerInterceptor(log, logOpts...),
		selector.StreamServerInterceptor(d.enforceStream, api),
		selector.StreamServerInterceptor(lim.stream, limited),
		checkStream, badRequestStream, pvinterceptor.StreamServerInterceptor(validator))
	return unary, stream, nil
}

// countUnary and countStream give each call a provider request counter, which
// the upstream client increments and the logging interceptor reports.
func countUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, _ = upstream.WithAttemptCounter(ctx)
	return handler(ctx, req)
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

// slogAdapter lets go-grpc-middleware's logging write to slog. Payloads are
// never logged (only FinishCall events), so passwords cannot reach the log.
func slogAdapter(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}
