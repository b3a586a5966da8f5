package gpubms

import (
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpubms/gpubms/clients/go/backoff"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// WaitGpu waits until the server is in state until (GPU_STATE_RUNNING,
// GPU_STATE_STOPPED or GPU_STATE_GONE) and returns the event that said so.
//
// It follows FleetService.WatchGpu, attaching again (after a capped,
// jittered backoff, within WithMaxAttempts failures in a row) when the
// stream breaks with codes.Unavailable or ends before until (the server's
// maximum watch time). A server that can no longer reach until (gone or in
// error, waiting for running) is codes.FailedPrecondition at once, an
// unknown one codes.NotFound. WithProgress is not called: events are
// server states, not task events.
func (c *Client) WaitGpu(ctx context.Context, resourceID string, until gpubmsv1.GpuState, opts ...WaitOption) (*gpubmsv1.GpuEvent, error) {
	o := waitOpts(opts)
	var last *gpubmsv1.GpuEvent
	for failures := 0; ; {
		s, err := c.WatchGpu(ctx, &gpubmsv1.WatchGpuRequest{ResourceId: resourceID, Until: until})
		progressed := false
		for err == nil {
			var r *gpubmsv1.WatchGpuResponse
			r, err = s.Recv()
			if err == nil {
				last, progressed = r.GetEvent(), true
				if last.GetState() == until {
					return last, nil
				}
			}
		}
		if ctxDone(ctx) {
			cause := ctx.Err()
			if cause == nil { // the deadline passed a moment before ctx's timer
				cause = context.DeadlineExceeded
			}
			return last, &contextError{what: "server " + resourceID, err: cause}
		}
		if !errors.Is(err, io.EOF) && status.Code(err) != codes.Unavailable {
			return last, annotate(err, "gpubms: wait for server "+resourceID)
		}
		if progressed {
			failures = 0
		}
		if failures++; failures > o.maxAttempts {
			return last, annotate(err, fmt.Sprintf("gpubms: wait for server %s: gave up after %d attempts", resourceID, o.maxAttempts))
		}
		if !sleep(ctx, backoff.Equal(backoff.Exponential(o.backoffMin, o.backoffMax, failures))) {
			return last, &contextError{what: "server " + resourceID, err: ctx.Err()}
		}
	}
}

// WaitReady is what a create's caller wants: it waits for the task to
// succeed (WaitTask), then for every server it made to be running
// (WaitGpu), and returns each server's details, addresses included, in the
// task's order. A failed task is a *TaskFailedError; a server that cannot
// become running is codes.FailedPrecondition, naming it.
func (c *Client) WaitReady(ctx context.Context, taskID string, opts ...WaitOption) ([]*gpubmsv1.DescribeGpuDetailResponse, error) {
	ev, err := c.WaitTask(ctx, taskID, opts...)
	if err != nil {
		return nil, err
	}
	ids := ev.GetResourceIds()
	out := make([]*gpubmsv1.DescribeGpuDetailResponse, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, id := range ids {
		g.Go(func() error {
			if _, err := c.WaitGpu(gctx, id, gpubmsv1.GpuState_GPU_STATE_RUNNING, opts...); err != nil {
				return err
			}
			d, err := c.DescribeGpuDetail(gctx, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: id})
			if err != nil {
				return annotate(err, "gpubms: describe ready server "+id)
			}
			out[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}
