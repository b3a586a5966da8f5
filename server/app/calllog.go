package app

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/gpubms/gpubms/server/upstream"
)

// What GPUBMS_LOG_CALLS logs.
const (
	LogCallsAll    = "all"    // one line per call: an access log
	LogCallsErrors = "errors" // calls that fail, and calls slower than slowCall
)

// slowCall is how long a unary call runs before it is logged even when it
// succeeds, with LogCallsErrors.
const slowCall = time.Second

// callLog logs each call once it has finished ("finished call"): its
// method, code, duration, peer, provider requests and (through the
// logger's handler) its caller. It builds nothing for a line it will not
// write, and writes with LogAttrs from a fixed array, so a call costs a few
// allocations at most. Payloads are never logged, so passwords cannot be.
type callLog struct {
	l      *slog.Logger
	errors bool // LogCallsErrors
}

func newCallLog(l *slog.Logger, policy string) *callLog {
	return &callLog{l: l, errors: policy == LogCallsErrors}
}

// level is the level of a call's line by its code: the caller's mistakes
// and ordinary outcomes at Info, what an operator may need to act on at
// Warn, the server's own failures at Error.
func level(c codes.Code) slog.Level {
	switch c {
	case codes.OK, codes.NotFound, codes.Canceled, codes.AlreadyExists, codes.InvalidArgument, codes.Unauthenticated:
		return slog.LevelInfo
	case codes.DeadlineExceeded, codes.PermissionDenied, codes.ResourceExhausted, codes.FailedPrecondition,
		codes.Aborted, codes.OutOfRange, codes.Unavailable:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (c *callLog) finished(ctx context.Context, fullMethod, kind string, start time.Time, err error) {
	d := time.Since(start)
	code := status.Code(err)
	if c.errors && code == codes.OK && (kind != "unary" || d < slowCall) {
		return
	}
	lvl := level(code)
	if !c.l.Enabled(ctx, lvl) {
		return
	}
	service, method := fullMethod, ""
	if i := strings.LastIndexByte(fullMethod, '/'); i > 0 {
		service, method = fullMethod[1:i], fullMethod[i+1:]
	}
	var attrs [10]slog.Attr
	n := copy(attrs[:], []slog.Attr{
		slog.String("grpc.service", service),
		slog.String("grpc.method", method),
		slog.String("grpc.method_type", kind),
		slog.String("grpc.code", code.String()),
		slog.Float64("grpc.time_ms", float64(d.Microseconds())/1000),
	})
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs[n] = slog.String("peer.address", p.Addr.String())
		n++
	}
	if ctr := upstream.AttemptCounterFrom(ctx); ctr != nil {
		attrs[n] = slog.Int64("provider.requests", ctr.Load())
		n++
		if rid := ctr.RequestID(); rid != "" {
			attrs[n] = slog.String("provider.request_id", rid)
			n++
		}
		if ctr.Coalesced() {
			// Answered by a request sent for another caller.
			attrs[n] = slog.Bool("provider.coalesced", true)
			n++
		}
	}
	if err != nil {
		attrs[n] = slog.String("grpc.error", status.Convert(err).Message())
		n++
	}
	c.l.LogAttrs(ctx, lvl, "finished call", attrs[:n]...)
}
