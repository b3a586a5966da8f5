package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Defaults of the hub's options.
const (
	DefaultPollInterval  = 5 * time.Second
	DefaultJitter        = 0.2
	DefaultMaxPollRate   = 20.0
	DefaultHeartbeat     = 30 * time.Second
	DefaultMaxWatch      = 6 * time.Hour
	DefaultRetryInitial  = time.Second
	DefaultRetryMaxDelay = time.Minute
)

// Option configures a Hub. Options are applied in order over a copy of the
// defaults; NewHub panics on a value that cannot work (a negative duration,
// for example), since that is a bug in the caller's configuration code.
type Option func(*options)

type options struct {
	interval   time.Duration
	jitter     float64
	rate       float64
	heartbeat  time.Duration
	maxWatch   time.Duration
	retryFirst time.Duration
	retryMax   time.Duration
	clock      Clock
	permanent  func(error) bool
	terminal   func(status string) bool
	logger     *slog.Logger
}

func defaultOptions() options {
	return options{
		interval:   DefaultPollInterval,
		jitter:     DefaultJitter,
		rate:       DefaultMaxPollRate,
		heartbeat:  DefaultHeartbeat,
		maxWatch:   DefaultMaxWatch,
		retryFirst: DefaultRetryInitial,
		retryMax:   DefaultRetryMaxDelay,
		clock:      systemClock{},
		permanent:  PermanentError,
		terminal:   Terminal,
		logger:     slog.Default(),
	}
}

func (o *options) validate() error {
	switch {
	case o.interval <= 0:
		return fmt.Errorf("poll interval %v is not positive", o.interval)
	case o.jitter < 0 || o.jitter >= 1:
		return fmt.Errorf("jitter %v is outside [0, 1)", o.jitter)
	case !(o.rate > 0): // NaN too
		return fmt.Errorf("poll rate %v is not positive", o.rate)
	case o.heartbeat < 0:
		return fmt.Errorf("heartbeat interval %v is negative", o.heartbeat)
	case o.maxWatch < 0:
		return fmt.Errorf("max watch time %v is negative", o.maxWatch)
	case o.retryFirst <= 0 || o.retryMax < o.retryFirst:
		return fmt.Errorf("retry backoff %v..%v is not a positive, ordered range", o.retryFirst, o.retryMax)
	case o.clock == nil:
		return fmt.Errorf("nil clock")
	case o.permanent == nil:
		return fmt.Errorf("nil error classifier")
	case o.logger == nil:
		return fmt.Errorf("nil logger")
	}
	return nil
}

// WithPollInterval sets how often a task's poller asks the source for the
// task's status (default 5s). Each wait is spread by the jitter.
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.interval = d } }

// WithJitter sets the spread of each poll wait as a fraction of the interval
// (default 0.2: a 5s interval waits between 5s and 6s), so tasks started
// together do not poll in lockstep. Jitter only lengthens waits: a task is
// never polled more often than the interval. 0 disables it.
func WithJitter(fraction float64) Option { return func(o *options) { o.jitter = fraction } }

// WithMaxPollRate caps the polls of all pollers together at perSecond
// (default 20), with bursts of up to perSecond polls (at least one). A poller
// over the cap waits for its turn, still sending heartbeats meanwhile.
// math.Inf(1) removes the cap.
func WithMaxPollRate(perSecond float64) Option { return func(o *options) { o.rate = perSecond } }

// limiter returns the hub's shared poll limiter.
func (o *options) limiter() *rate.Limiter {
	if math.IsInf(o.rate, 1) {
		return rate.NewLimiter(rate.Inf, 1)
	}
	return rate.NewLimiter(rate.Limit(o.rate), max(1, int(o.rate)))
}

// WithHeartbeat sets how often a watcher that has had no event for a while
// gets the last status again with Heartbeat set (default 30s), so proxies
// keep idle streams open. 0 disables heartbeats.
func WithHeartbeat(d time.Duration) Option { return func(o *options) { o.heartbeat = d } }

// WithMaxWatch bounds how long one subscription lasts (default 6h); when
// it is reached the subscription ends without an error and the caller may
// subscribe again. 0 removes the bound.
func WithMaxWatch(d time.Duration) Option { return func(o *options) { o.maxWatch = d } }

// WithRetryBackoff sets the waits after transient source errors: first, then
// doubling up to max (defaults 1s and 1m), each spread by the jitter. A
// successful poll resets it.
func WithRetryBackoff(first, max time.Duration) Option {
	return func(o *options) { o.retryFirst, o.retryMax = first, max }
}

// WithClock sets the hub's clock (default: the system clock).
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithErrorClassifier sets the function that decides whether a source error
// ends the watch (permanent) or is retried (default PermanentError).
func WithErrorClassifier(permanent func(error) bool) Option {
	return func(o *options) { o.permanent = permanent }
}

// WithTerminal says which statuses end a watch: after one, the thing
// watched never changes and its poller stops. Default: Terminal (a task's
// succeed and failed); a hub of servers ends at "gone".
func WithTerminal(f func(status string) bool) Option {
	return func(o *options) {
		if f != nil {
			o.terminal = f
		}
	}
}

// WithLogger sets the hub's logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// PermanentError is the default error classifier. An error carrying a gRPC
// status of NotFound, InvalidArgument, PermissionDenied, Internal or
// FailedPrecondition is permanent: asking again will not help. Everything
// else, plain errors included, is treated as transient and retried.
func PermanentError(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.InvalidArgument, codes.PermissionDenied,
		codes.Internal, codes.FailedPrecondition:
		return true
	}
	return false
}

// EndStatus is the gRPC status a watch ends with, from its subscription's
// Err: nil for a clean end, the source's own status, Unavailable at hub
// shutdown (watch what again, e.g. "the task"), or the context's code.
func EndStatus(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrHubClosed):
		return status.Error(codes.Unavailable, "server is shutting down; watch "+what+" again")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return status.FromContextError(err).Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unknown, err.Error())
}
