package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"runtime/debug"
	"strings"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	pvinterceptor "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/ratelimit"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpubms/gpubms/server/upstream"
)

// chain builds the one ordered chain, unary and stream mirrored:
// recovery (outermost), metrics (when m is not nil), provider request
// counting and logging, caller authentication and rate limiting (health and
// reflection exempt), validation.
// Validation runs last, just before the handler, so a rejected request
// costs no provider call. Metrics
// and logging sit outside authentication, rate limiting and validation, so
// the calls those refuse are counted and logged with their codes. A call
// that panics is logged by recovery and not counted as handled.
func chain(cfg Config, logger *slog.Logger, m *metrics) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor, error) {
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
			if c := upstream.AttemptCounterFrom(ctx); c != nil {
				return logging.Fields{"provider.requests", c.Load()}
			}
			return nil
		}),
	}
	log := slogAdapter(logger.With("component", "grpc"))

	unary := []grpc.UnaryServerInterceptor{recovery.UnaryServerInterceptor(rec)}
	stream := []grpc.StreamServerInterceptor{recovery.StreamServerInterceptor(rec)}
	if m != nil {
		unary = append(unary, m.grpc.UnaryServerInterceptor())
		stream = append(stream, m.grpc.StreamServerInterceptor())
	}
	unary = append(unary, countUnary, logging.UnaryServerInterceptor(log, logOpts...))
	stream = append(stream, countStream, logging.StreamServerInterceptor(log, logOpts...))
	if cfg.AuthToken != "" {
		af := tokenAuth(string(cfg.AuthToken))
		unary = append(unary, selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(af), selector.MatchFunc(isAPICall)))
		stream = append(stream, selector.StreamServerInterceptor(auth.StreamServerInterceptor(af), selector.MatchFunc(isAPICall)))
	}
	if cfg.RateLimit > 0 {
		burst := max(1, int(cfg.RateLimit))
		l := limiter{rate.NewLimiter(rate.Limit(cfg.RateLimit), burst)}
		unary = append(unary, selector.UnaryServerInterceptor(ratelimit.UnaryServerInterceptor(l), selector.MatchFunc(isAPICall)))
		stream = append(stream, selector.StreamServerInterceptor(ratelimit.StreamServerInterceptor(l), selector.MatchFunc(isAPICall)))
	}
	unary = append(unary, badRequestUnary, pvinterceptor.UnaryServerInterceptor(validator))
	stream = append(stream, badRequestStream, pvinterceptor.StreamServerInterceptor(validator))
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

// isAPICall is false for health checks and reflection, which caller
// authentication and the rate limit leave alone, so probes and grpcurl's
// discovery work without a token and under load.
func isAPICall(_ context.Context, c interceptors.CallMeta) bool {
	return !strings.HasPrefix(c.FullMethod(), "/grpc.health.v1.") &&
		!strings.HasPrefix(c.FullMethod(), "/grpc.reflection.")
}

// tokenAuth accepts "authorization: Bearer <token>" and compares in
// constant time. The token never appears in errors or logs.
func tokenAuth(token string) auth.AuthFunc {
	want := []byte(token)
	return func(ctx context.Context) (context.Context, error) {
		got, err := auth.AuthFromMD(ctx, "bearer")
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			return nil, status.Error(codes.Unauthenticated, "invalid bearer token")
		}
		return ctx, nil
	}
}

type limiter struct{ l *rate.Limiter }

func (l limiter) Limit(context.Context) error {
	if !l.l.Allow() {
		return errors.New("server rate limit reached")
	}
	return nil
}
