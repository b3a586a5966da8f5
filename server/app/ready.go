package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gpubms/gpubms/server/upstream"
)

// readiness says whether the server can serve: its listeners are up, its
// store is open, and the provider answered lately. The provider's word is
// that of the last request sent to it (any call's, or a probe's): a
// success within the bound is ready, a failure is not. When no request was
// sent for an interval, or the last one failed, run sends a probe (a signed
// DescribeGpu of one server, which is never cached), so an idle server stays ready
// and a failing one recovers without traffic. The gRPC health service
// follows: SERVING when ready, NOT_SERVING otherwise.
type readiness struct {
	interval time.Duration // between checks; the bound is three of them
	probe    func(context.Context) error
	store    func(context.Context) error
	health   *health.Server
	services []string // the gRPC health names set with the overall status
	logger   *slog.Logger
	now      func() time.Time

	serving atomic.Bool // listeners up and not shutting down

	mu      sync.Mutex
	last    time.Time // the last provider request's end
	lastErr string    // its failure; "" for a success
	ready   bool      // the status last published
	reason  string
}

func newReadiness(interval time.Duration, probe, store func(context.Context) error, hs *health.Server, services []string, logger *slog.Logger) *readiness {
	return &readiness{
		interval: interval, probe: probe, store: store, health: hs, services: services,
		logger: logger, now: time.Now,
	}
}

// observe records a provider request (an upstream observer). A request
// its caller gave up on (cancelled, or past the caller's deadline) says
// nothing of the provider and is not recorded; the probe's own timeout is
// (see run).
func (r *readiness) observe(a upstream.Attempt) {
	if t, ok := upstream.AsTransportError(a.Err); ok && (t.Kind == upstream.KindCanceled || t.Kind == upstream.KindTimeout) {
		return
	}
	r.record(providerDown(a))
}

// record notes the provider's last answer: bad is why it cannot serve, ""
// when it can.
func (r *readiness) record(bad string) {
	r.mu.Lock()
	r.last = r.now()
	r.lastErr = bad
	r.mu.Unlock()
}

// providerDown is why a provider request says the provider cannot serve
// this server, or "" when it can: a reply in the provider's envelope that is
// not a credentials refusal or a provider failure. A refusal of the request
// itself (NotFound, a bad parameter, throttling) is the provider serving.
func providerDown(a upstream.Attempt) string {
	switch {
	case a.Err == nil:
		return ""
	case a.Code == "":
		if a.HTTPStatus != 0 {
			return fmt.Sprintf("%s: http %d without a reply", a.Action, a.HTTPStatus)
		}
		return a.Action + ": no reply (network)"
	case upstream.CredentialCode(a.Code):
		return a.Action + ": the provider refuses the credentials (" + a.Code + ")"
	case a.Code == upstream.CodeInternalError, a.HTTPStatus >= 500:
		return a.Action + ": the provider failed (" + a.Code + ")"
	}
	return ""
}

// check answers whether the server is ready now, and why not.
func (r *readiness) check(ctx context.Context) error {
	var errs []error
	if !r.serving.Load() {
		errs = append(errs, errors.New("not serving (starting or shutting down)"))
	}
	if err := r.store(ctx); err != nil {
		errs = append(errs, fmt.Errorf("store: %w", err))
	}
	r.mu.Lock()
	last, lastErr := r.last, r.lastErr
	r.mu.Unlock()
	switch age := r.now().Sub(last); {
	case last.IsZero():
		errs = append(errs, errors.New("provider: not reached yet"))
	case lastErr != "":
		errs = append(errs, fmt.Errorf("provider: %s, %s ago", lastErr, age.Round(time.Millisecond)))
	case age > 3*r.interval:
		errs = append(errs, fmt.Errorf("provider: no answer for %s", age.Round(time.Second)))
	}
	return errors.Join(errs...)
}

// probeTimeout is the least time a probe has to answer.
const probeTimeout = 5 * time.Second

// run probes and publishes the status every interval until ctx ends.
func (r *readiness) run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		r.mu.Lock()
		stale := r.last.IsZero() || r.lastErr != "" || r.now().Sub(r.last) >= r.interval
		r.mu.Unlock()
		if stale {
			// A probe has the interval to answer, but never less than
			// probeTimeout: a short interval must not make a slow
			// provider look down.
			wait := max(r.interval, probeTimeout)
			pctx, cancel := context.WithTimeout(ctx, wait)
			err := r.probe(upstream.NoCache(pctx)) // observe records its outcome
			if t, ok := upstream.AsTransportError(err); ok && t.Kind == upstream.KindTimeout && ctx.Err() == nil {
				r.record(fmt.Sprintf("probe: no answer within %s", wait))
			}
			cancel()
		}
		r.publish(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// publish sets the gRPC health status from check, logging each change.
func (r *readiness) publish(ctx context.Context) {
	err := r.check(ctx)
	ready, reason := err == nil, ""
	if err != nil {
		reason = err.Error()
	}
	r.mu.Lock()
	changed := ready != r.ready || reason != r.reason
	r.ready, r.reason = ready, reason
	r.mu.Unlock()
	if !changed {
		return
	}
	st := healthpb.HealthCheckResponse_SERVING
	if !ready {
		st = healthpb.HealthCheckResponse_NOT_SERVING
		r.logger.LogAttrs(ctx, slog.LevelWarn, "not ready", slog.String("reason", reason))
	} else {
		r.logger.LogAttrs(ctx, slog.LevelInfo, "ready")
	}
	if ctx.Err() != nil { // shutting down: Shutdown sets NOT_SERVING for good
		return
	}
	r.health.SetServingStatus("", st)
	for _, s := range r.services {
		r.health.SetServingStatus(s, st)
	}
}
