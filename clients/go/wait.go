package gpubms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpubms/gpubms/clients/go/backoff"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// Defaults of the WaitOptions.
const (
	defaultPollInterval = 5 * time.Second
	defaultMaxAttempts  = 10
	defaultBackoffMin   = 200 * time.Millisecond
	defaultBackoffMax   = 10 * time.Second
)

// WaitOption configures WaitTask and WaitTasks.
type WaitOption func(*waitOptions)

type waitOptions struct {
	progress     func(*gpubmsv1.TaskEvent)
	pollInterval time.Duration
	maxAttempts  int
	backoffMin   time.Duration
	backoffMax   time.Duration
}

// WithProgress calls f with every event as it arrives, in order: the current
// status first, each change, heartbeats (TaskEvent.Heartbeat), and the
// terminal event. f runs on the waiting goroutine, so it needs no locking
// but should return quickly. It must not modify the event.
func WithProgress(f func(*gpubmsv1.TaskEvent)) WaitOption {
	return func(o *waitOptions) { o.progress = f }
}

// WithPollInterval sets how often DescribeGpuTask is asked when the server
// does not implement watching (default 5s). It has no effect while the
// server streams, since the server's own poller sets the pace then.
// Non-positive values keep the default.
func WithPollInterval(d time.Duration) WaitOption {
	return func(o *waitOptions) {
		if d > 0 {
			o.pollInterval = d
		}
	}
}

// WithMaxAttempts sets how many attempts in a row may fail with
// codes.Unavailable (a server restarting, a stream cut) before waiting gives
// up (default 10). A stream that delivered at least one event, or a round of
// polling that had an answer for every task, resets the count, so a long task
// survives any number of separate restarts. Values below 1 mean 1.
func WithMaxAttempts(n int) WaitOption {
	return func(o *waitOptions) { o.maxAttempts = max(n, 1) }
}

// WithBackoff sets the pause before a repeated attempt: it starts near
// initial and doubles up to maxDelay, with jitter so clients that lost the
// same server do not return in lockstep (defaults 200ms and 10s).
// Non-positive values keep the defaults.
func WithBackoff(initial, maxDelay time.Duration) WaitOption {
	return func(o *waitOptions) {
		if initial > 0 {
			o.backoffMin = initial
		}
		if maxDelay > 0 {
			o.backoffMax = maxDelay
		}
	}
}

// TaskFailedError reports a task that ended with the provider status
// "failed". Find it with errors.As.
type TaskFailedError struct {
	// TaskID is the failed task.
	TaskID string
	// Event is the terminal event, with the resources the task worked on.
	Event *gpubmsv1.TaskEvent
}

// Error names the task and the resources it worked on.
func (e *TaskFailedError) Error() string {
	msg := "gpubms: task " + e.TaskID + " failed"
	if ids := e.Event.GetResourceIds(); len(ids) > 0 {
		msg += " (resources " + strings.Join(ids, ", ") + ")"
	}
	return msg
}

// WaitTask waits for the task to end and returns its terminal event.
//
// It follows the server's WatchTask stream. When the stream breaks with
// codes.Unavailable (the server restarting) or ends before a terminal
// status, it attaches again, which is always safe, after a capped, jittered
// backoff and within WithMaxAttempts. When the server answers
// codes.Unimplemented (an older server, or a proxy that cannot stream), it
// falls back to asking DescribeGpuTask every WithPollInterval.
//
// A task that ends "failed" returns its event and a *TaskFailedError. When ctx
// ends first, the error satisfies errors.Is(err, ctx.Err()) and status.Code
// reports codes.DeadlineExceeded or codes.Canceled. Other errors are the
// server's gRPC status (for example codes.NotFound for an unknown task), with
// the task named in the message. On every error the returned event is the
// last one seen, or nil.
func (c *Client) WaitTask(ctx context.Context, taskID string, opts ...WaitOption) (*gpubmsv1.TaskEvent, error) {
	if taskID == "" {
		return nil, status.Error(codes.InvalidArgument, "gpubms: wait for task: empty task id")
	}
	w := newWaiter(c, []string{taskID}, opts)
	open := func(ctx context.Context, _ []string) (recvFunc, error) {
		return events(c.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: taskID}))
	}
	err := w.run(ctx, open)
	ev := w.last[taskID]
	if err != nil {
		return ev, err
	}
	if ev.GetStatus() == gpubmsv1.TaskStatus_TASK_STATUS_FAILED {
		return ev, &TaskFailedError{TaskID: taskID, Event: ev}
	}
	return ev, nil
}

// WaitTasks waits for every task to end and returns the terminal event of
// each, by task id. It follows one WatchTasks stream and otherwise behaves as
// WaitTask: re-attaching (for the tasks still running) after codes.Unavailable,
// polling DescribeGpuTask after codes.Unimplemented, WithProgress seeing every
// event of every task. Duplicate ids are watched once; the contract takes at
// most 100 ids per call.
//
// When some tasks fail, the map is complete and the error joins one
// *TaskFailedError per failed task (errors.As finds the first). On any other
// error the map holds the last event seen of each task that had one.
//
// The ids are a slice rather than variadic so that WaitOptions can follow.
func (c *Client) WaitTasks(ctx context.Context, taskIDs []string, opts ...WaitOption) (map[string]*gpubmsv1.TaskEvent, error) {
	ids := make([]string, 0, len(taskIDs))
	for _, id := range taskIDs {
		if id == "" {
			return nil, status.Error(codes.InvalidArgument, "gpubms: wait for tasks: empty task id")
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return map[string]*gpubmsv1.TaskEvent{}, nil
	}
	w := newWaiter(c, ids, opts)
	open := func(ctx context.Context, pending []string) (recvFunc, error) {
		return events(c.WatchTasks(ctx, &gpubmsv1.WatchTasksRequest{TaskIds: pending}))
	}
	err := w.run(ctx, open)
	if err != nil {
		return w.last, err
	}
	var failed []error
	for _, id := range ids {
		if ev := w.last[id]; ev.GetStatus() == gpubmsv1.TaskStatus_TASK_STATUS_FAILED {
			failed = append(failed, &TaskFailedError{TaskID: id, Event: ev})
		}
	}
	return w.last, errors.Join(failed...)
}

// recvFunc returns the next event of one attached stream.
type recvFunc func() (*gpubmsv1.TaskEvent, error)

// openFunc attaches a stream for the tasks still pending.
type openFunc func(ctx context.Context, pending []string) (recvFunc, error)

// events adapts a WatchTask or WatchTasks stream, as its call returned it,
// to a recvFunc.
func events[R interface{ GetEvent() *gpubmsv1.TaskEvent }](s interface{ Recv() (R, error) }, err error) (recvFunc, error) {
	if err != nil {
		return nil, err
	}
	return func() (*gpubmsv1.TaskEvent, error) {
		r, err := s.Recv()
		return r.GetEvent(), err
	}, nil
}

// waiter is the state of one WaitTask or WaitTasks call. It is used by one
// goroutine only.
type waiter struct {
	c     *Client
	o     waitOptions
	ids   []string
	what  string // names the tasks in error messages
	start time.Time
	last  map[string]*gpubmsv1.TaskEvent
	done  map[string]bool
}

// waitOpts applies opts over the defaults.
func waitOpts(opts []WaitOption) waitOptions {
	o := waitOptions{
		pollInterval: defaultPollInterval,
		maxAttempts:  defaultMaxAttempts,
		backoffMin:   defaultBackoffMin,
		backoffMax:   defaultBackoffMax,
	}
	for _, opt := range opts {
		opt(&o)
	}
	o.backoffMax = max(o.backoffMax, o.backoffMin)
	return o
}

func newWaiter(c *Client, ids []string, opts []WaitOption) *waiter {
	o := waitOpts(opts)
	what := "task " + ids[0]
	if len(ids) > 1 {
		what = "tasks " + strings.Join(ids, ", ")
	}
	return &waiter{
		c: c, o: o, ids: ids, what: what, start: time.Now(),
		last: make(map[string]*gpubmsv1.TaskEvent, len(ids)),
		done: make(map[string]bool, len(ids)),
	}
}

// pending returns the tasks not yet terminal, in the caller's order.
func (w *waiter) pending() []string {
	var p []string
	for _, id := range w.ids {
		if !w.done[id] {
			p = append(p, id)
		}
	}
	return p
}

func (w *waiter) finished() bool { return len(w.done) == len(w.ids) }

// deliver records ev and shows it to the progress callback. Events of tasks
// not asked for, or already terminal, are ignored.
func (w *waiter) deliver(ev *gpubmsv1.TaskEvent) {
	id := ev.GetTaskId()
	if !slices.Contains(w.ids, id) || w.done[id] {
		return
	}
	w.last[id] = ev
	if terminal(ev.GetStatus()) {
		w.done[id] = true
	}
	if w.o.progress != nil {
		w.o.progress(ev)
	}
}

func terminal(s gpubmsv1.TaskStatus) bool {
	return s == gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED || s == gpubmsv1.TaskStatus_TASK_STATUS_FAILED
}

// errEndedEarly stands for a stream that ended OK before every task was
// terminal (a server's maximum watch time, say): worth attaching again.
var errEndedEarly = status.Error(codes.Unavailable, "stream ended before a terminal status")

// run follows streams until every task is terminal.
func (w *waiter) run(ctx context.Context, open openFunc) error {
	failures := 0
	for {
		progressed, err := w.follow(ctx, open, w.pending())
		if w.finished() {
			return nil
		}
		if ctxDone(ctx) {
			return w.ctxError(ctx)
		}
		if err == nil {
			err = errEndedEarly
		}
		switch status.Code(err) {
		case codes.Unavailable:
		case codes.Unimplemented:
			return w.poll(ctx)
		default:
			return annotate(err, "gpubms: watch "+w.what)
		}
		if progressed {
			failures = 0
		}
		failures++
		if failures >= w.o.maxAttempts {
			return annotate(err, fmt.Sprintf("gpubms: watch %s: gave up after %d attempts", w.what, failures))
		}
		if !sleep(ctx, w.backoff(failures)) {
			return w.ctxError(ctx)
		}
	}
}

// follow reads one stream until it ends or every task is terminal. It
// reports whether any event arrived.
func (w *waiter) follow(ctx context.Context, open openFunc, pending []string) (progressed bool, err error) {
	// The stream's own context ends it when we return early, so no stream
	// (and no goroutine behind it) outlives the call.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recv, err := open(sctx, pending)
	if err != nil {
		return false, err
	}
	for {
		ev, err := recv()
		if errors.Is(err, io.EOF) {
			return progressed, nil
		}
		if err != nil {
			return progressed, err
		}
		if ev == nil {
			continue
		}
		progressed = true
		w.deliver(ev)
		if w.finished() {
			return true, nil
		}
	}
}

// poll asks DescribeGpuTask for each pending task every poll interval,
// delivering an event whenever a task's status or resources change. A round
// that fails with codes.Unavailable is retried after a backoff; only a whole
// round without failure resets the count, so one task the provider keeps
// failing on cannot be polled forever while the others answer.
func (w *waiter) poll(ctx context.Context) error {
	failures := 0 // rounds in a row that failed
	for {
		delay := w.o.pollInterval
		if id, err := w.pollRound(ctx); err != nil {
			if ctxDone(ctx) {
				return w.ctxError(ctx)
			}
			if status.Code(err) != codes.Unavailable {
				return annotate(err, "gpubms: describe task "+id)
			}
			failures++
			if failures >= w.o.maxAttempts {
				return annotate(err, fmt.Sprintf("gpubms: describe task %s: gave up after %d attempts", id, failures))
			}
			delay = w.backoff(failures)
		} else {
			failures = 0
		}
		if w.finished() {
			return nil
		}
		if !sleep(ctx, delay) {
			return w.ctxError(ctx)
		}
	}
}

// pollRound asks once for each pending task, in order, and stops at the
// first failure, returning the task it failed on.
func (w *waiter) pollRound(ctx context.Context) (string, error) {
	for _, id := range w.pending() {
		resp, err := w.c.DescribeGpuTask(ctx, &gpubmsv1.DescribeGpuTaskRequest{TaskId: id})
		if err != nil {
			return id, err
		}
		if ev := eventFromTask(id, resp, time.Since(w.start)); changed(w.last[id], ev) {
			w.deliver(ev)
		}
	}
	return "", nil
}

// eventFromTask makes the event a watching server would have sent.
func eventFromTask(id string, r *gpubmsv1.DescribeGpuTaskResponse, watched time.Duration) *gpubmsv1.TaskEvent {
	st := r.GetTaskStatus()
	if st == gpubmsv1.TaskStatus_TASK_STATUS_UNSPECIFIED {
		// The enum is the server's reading of the raw status; read it here
		// too in case the server left it unset.
		switch r.GetStatus() {
		case "init":
			st = gpubmsv1.TaskStatus_TASK_STATUS_INIT
		case "succeed":
			st = gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED
		case "failed":
			st = gpubmsv1.TaskStatus_TASK_STATUS_FAILED
		}
	}
	return &gpubmsv1.TaskEvent{
		TaskId:      id,
		Status:      st,
		RawStatus:   r.GetStatus(),
		ResourceIds: r.GetResourceIds(),
		ObservedAt:  timestamppb.Now(),
		WatchedFor:  durationpb.New(watched),
	}
}

func changed(prev, ev *gpubmsv1.TaskEvent) bool {
	return prev == nil ||
		prev.GetStatus() != ev.GetStatus() ||
		prev.GetRawStatus() != ev.GetRawStatus() ||
		!slices.Equal(prev.GetResourceIds(), ev.GetResourceIds())
}

// backoff returns the pause before attempt n+1: initial·2^(n-1) capped at the
// maximum, then jittered down by up to half.
func (w *waiter) backoff(n int) time.Duration {
	return backoff.Equal(backoff.Exponential(w.o.backoffMin, w.o.backoffMax, n))
}

// sleep waits d or until ctx ends; it reports whether the full d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ctxDone reports whether ctx has ended, counting a deadline that has passed
// by the clock but not yet fired: the server, which knows the deadline too,
// may end the stream a moment before the caller's own timer does.
func ctxDone(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

func (w *waiter) ctxError(ctx context.Context) error {
	err := ctx.Err()
	if err == nil { // the deadline passed, its timer not yet fired
		err = context.DeadlineExceeded
	}
	return &contextError{what: w.what, err: err}
}

// contextError is the caller's context ending a wait. It unwraps to the
// context's error (errors.Is(err, context.DeadlineExceeded)) and carries the
// matching gRPC status (status.Code(err) == codes.DeadlineExceeded), so both
// ways of asking agree.
type contextError struct {
	what string
	err  error
}

func (e *contextError) Error() string { return "gpubms: wait for " + e.what + ": " + e.err.Error() }

func (e *contextError) Unwrap() error { return e.err }

// GRPCStatus returns codes.DeadlineExceeded or codes.Canceled.
func (e *contextError) GRPCStatus() *status.Status {
	s := status.FromContextError(e.err).Proto()
	s.Message = e.Error()
	return status.FromProto(s)
}

// annotate prefixes the message of a gRPC status error, keeping its code and
// details, so callers can still branch on status.Code and read ErrorInfo.
func annotate(err error, prefix string) error {
	s, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	p := s.Proto()
	p.Message = prefix + ": " + p.Message
	return status.ErrorProto(p)
}
