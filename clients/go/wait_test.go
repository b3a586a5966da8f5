package gpubms_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// fast keeps retries and polls quick; nothing asserts on time.
var fast = []gpubms.WaitOption{
	gpubms.WithBackoff(time.Microsecond, time.Millisecond),
	gpubms.WithPollInterval(time.Millisecond),
}

// newClient serves svc in-process and returns a client of it.
func newClient(t *testing.T, svc gpubmsv1.GpuServiceServer, opts ...gpubms.Option) (*gpubms.Client, *testServer) {
	t.Helper()
	ts := startServer(svc)
	t.Cleanup(ts.stop)
	c, err := gpubms.Dial(context.Background(), bufTarget, append([]gpubms.Option{gpubms.WithInsecure(), ts.dialer()}, opts...)...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, ts
}

// statuses renders events as "raw" or "raw[resources]" (and "~" for a
// heartbeat), for compact comparisons.
func statuses(evs []*gpubmsv1.TaskEvent) []string {
	var out []string
	for _, ev := range evs {
		s := ev.GetTaskId() + ":" + ev.GetRawStatus()
		if len(ev.GetResourceIds()) > 0 {
			s += "[" + strings.Join(ev.GetResourceIds(), ",") + "]"
		}
		if ev.GetHeartbeat() {
			s += "~"
		}
		out = append(out, s)
	}
	return out
}

func TestWaitTask(t *testing.T) {
	t.Parallel()
	unavailable := fail(codes.Unavailable, "server shutting down")
	tests := []struct {
		name         string
		svc          *fakeService
		opts         []gpubms.WaitOption
		wantRaw      string // raw status of the returned event; "" for none
		wantCode     codes.Code
		wantFailed   bool
		wantMsg      string // a substring of the error
		wantProgress []string
		wantAttaches int
		wantPolls    int
	}{
		{
			name: "succeeds",
			svc: &fakeService{watch: map[string][][]step{"t1": {{
				send(event("t1", "init")), send(event("t1", "init", "r1")), send(event("t1", "succeed", "r1")),
			}}}},
			wantRaw:      "succeed",
			wantProgress: []string{"t1:init", "t1:init[r1]", "t1:succeed[r1]"},
			wantAttaches: 1,
		},
		{
			name: "heartbeats reach progress",
			svc: &fakeService{watch: map[string][][]step{"t1": {{
				send(event("t1", "init")), send(&gpubmsv1.TaskEvent{TaskId: "t1", Status: gpubmsv1.TaskStatus_TASK_STATUS_INIT, RawStatus: "init", Heartbeat: true}), send(event("t1", "succeed")),
			}}}},
			wantRaw:      "succeed",
			wantProgress: []string{"t1:init", "t1:init~", "t1:succeed"},
			wantAttaches: 1,
		},
		{
			name: "unknown raw status is not terminal",
			svc: &fakeService{watch: map[string][][]step{"t1": {{
				send(&gpubmsv1.TaskEvent{TaskId: "t1", RawStatus: "paused"}), send(event("t1", "succeed")),
			}}}},
			wantRaw:      "succeed",
			wantProgress: []string{"t1:paused", "t1:succeed"},
			wantAttaches: 1,
		},
		{
			name: "fails with TaskFailedError",
			svc: &fakeService{watch: map[string][][]step{"t1": {{
				send(event("t1", "init", "r1")), send(event("t1", "failed", "r1")),
			}}}},
			wantRaw:      "failed",
			wantFailed:   true,
			wantMsg:      "task t1 failed (resources r1)",
			wantProgress: []string{"t1:init[r1]", "t1:failed[r1]"},
			wantAttaches: 1,
		},
		{
			name: "re-attaches after Unavailable",
			svc: &fakeService{watch: map[string][][]step{"t1": {
				{send(event("t1", "init")), unavailable},
				{unavailable},
				{send(event("t1", "init")), send(event("t1", "succeed"))},
			}}},
			wantRaw:      "succeed",
			wantProgress: []string{"t1:init", "t1:init", "t1:succeed"},
			wantAttaches: 3,
		},
		{
			name: "re-attaches after a stream that ends early",
			svc: &fakeService{watch: map[string][][]step{"t1": {
				{send(event("t1", "init")), endOK()},
				{send(event("t1", "succeed"))},
			}}},
			wantRaw:      "succeed",
			wantProgress: []string{"t1:init", "t1:succeed"},
			wantAttaches: 2,
		},
		{
			name: "gives up after max attempts",
			svc: &fakeService{watch: map[string][][]step{"t1": {
				{unavailable},
			}}},
			opts:         []gpubms.WaitOption{gpubms.WithMaxAttempts(3)},
			wantCode:     codes.Unavailable,
			wantMsg:      "watch task t1: gave up after 3 attempts: server shutting down",
			wantAttaches: 3,
		},
		{
			name: "progress resets the attempt count",
			svc: &fakeService{watch: map[string][][]step{"t1": {
				{unavailable},
				{send(event("t1", "init")), unavailable},
				{unavailable},
				{send(event("t1", "succeed"))},
			}}},
			// Without the reset the third failure in a row would give up.
			opts:         []gpubms.WaitOption{gpubms.WithMaxAttempts(3)},
			wantRaw:      "succeed",
			wantProgress: []string{"t1:init", "t1:succeed"},
			wantAttaches: 4,
		},
		{
			name:         "unknown task is NotFound",
			svc:          &fakeService{},
			wantCode:     codes.NotFound,
			wantMsg:      "gpubms: watch task t1: task t1 not found",
			wantAttaches: 1,
		},
		{
			name: "polls when watching is unimplemented",
			svc: &fakeService{watchUnimplemented: true, tasks: map[string][]answer{"t1": {
				taskAnswer("init"), taskAnswer("init"), taskAnswer("init", "r1"), taskAnswer("succeed", "r1"),
			}}},
			wantRaw:      "succeed",
			wantProgress: []string{"t1:init", "t1:init[r1]", "t1:succeed[r1]"},
			wantPolls:    4,
		},
		{
			name: "polling rides out Unavailable",
			svc: &fakeService{watchUnimplemented: true, tasks: map[string][]answer{"t1": {
				taskAnswer("init"), {err: status.Error(codes.Unavailable, "busy")}, taskAnswer("succeed"),
			}}},
			wantRaw:      "succeed",
			wantProgress: []string{"t1:init", "t1:succeed"},
			wantPolls:    3,
		},
		{
			name: "polling reads the raw status when the enum is unset",
			svc: &fakeService{watchUnimplemented: true, tasks: map[string][]answer{"t1": {
				{resp: &gpubmsv1.DescribeGpuTaskResponse{Status: "failed"}},
			}}},
			wantRaw:      "failed",
			wantFailed:   true,
			wantProgress: []string{"t1:failed"},
			wantPolls:    1,
		},
		{
			name:         "polling an unknown task is NotFound",
			svc:          &fakeService{watchUnimplemented: true},
			wantCode:     codes.NotFound,
			wantMsg:      "gpubms: describe task t1: task t1 not found",
			wantPolls:    1,
			wantAttaches: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newClient(t, tt.svc)
			var seen []*gpubmsv1.TaskEvent
			opts := append(append([]gpubms.WaitOption{}, fast...), tt.opts...)
			opts = append(opts, gpubms.WithProgress(func(ev *gpubmsv1.TaskEvent) { seen = append(seen, ev) }))

			ev, err := c.WaitTask(context.Background(), "t1", opts...)

			if got := ev.GetRawStatus(); tt.wantRaw != "" && got != tt.wantRaw {
				t.Errorf("event status: got %q, want %q", got, tt.wantRaw)
			}
			var failed *gpubms.TaskFailedError
			switch {
			case tt.wantFailed:
				if !errors.As(err, &failed) {
					t.Fatalf("error: got %v, want a *TaskFailedError", err)
				}
				if failed.TaskID != "t1" || failed.Event != ev {
					t.Errorf("TaskFailedError: got task %q event %v, want task t1 and the returned event", failed.TaskID, failed.Event)
				}
			case tt.wantCode != codes.OK:
				if got := status.Code(err); got != tt.wantCode {
					t.Errorf("code: got %v (%v), want %v", got, err, tt.wantCode)
				}
			default:
				if err != nil {
					t.Fatalf("WaitTask: got error %v, want none", err)
				}
			}
			if tt.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.wantMsg)) {
				t.Errorf("error: got %v, want it to contain %q", err, tt.wantMsg)
			}
			if diff := cmp.Diff(tt.wantProgress, statuses(seen)); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
			if got := tt.svc.attachCount("t1"); got != tt.wantAttaches {
				t.Errorf("WatchTask attaches: got %d, want %d", got, tt.wantAttaches)
			}
			if got := tt.svc.pollCount("t1"); got != tt.wantPolls {
				t.Errorf("DescribeGpuTask calls: got %d, want %d", got, tt.wantPolls)
			}
		})
	}
}

func TestWaitTaskContext(t *testing.T) {
	t.Parallel()
	unavailable := fail(codes.Unavailable, "restarting")
	tests := []struct {
		name string
		svc  *fakeService
		opts []gpubms.WaitOption
		// cancelOnEvent cancels, and expireOnEvent passes the deadline, at
		// the first event; otherwise a short real deadline passes.
		cancelOnEvent, expireOnEvent bool
		wantCtxErr                   error
		wantCode                     codes.Code
		wantRaw                      string
	}{
		{
			name:          "deadline while the stream is quiet",
			svc:           &fakeService{watch: map[string][][]step{"t1": {{send(event("t1", "init")), hang()}}}},
			expireOnEvent: true,
			wantCtxErr:    context.DeadlineExceeded,
			wantCode:      codes.DeadlineExceeded,
			wantRaw:       "init",
		},
		{
			name:          "cancel while the stream is quiet",
			svc:           &fakeService{watch: map[string][][]step{"t1": {{send(event("t1", "init")), hang()}}}},
			cancelOnEvent: true,
			wantCtxErr:    context.Canceled,
			wantCode:      codes.Canceled,
			wantRaw:       "init",
		},
		{
			name:       "deadline during backoff",
			svc:        &fakeService{watch: map[string][][]step{"t1": {{unavailable}}}},
			opts:       []gpubms.WaitOption{gpubms.WithBackoff(time.Hour, time.Hour)},
			wantCtxErr: context.DeadlineExceeded,
			wantCode:   codes.DeadlineExceeded,
		},
		{
			name:          "deadline between polls",
			svc:           &fakeService{watchUnimplemented: true, tasks: map[string][]answer{"t1": {taskAnswer("init")}}},
			opts:          []gpubms.WaitOption{gpubms.WithPollInterval(time.Hour)},
			expireOnEvent: true,
			wantCtxErr:    context.DeadlineExceeded,
			wantCode:      codes.DeadlineExceeded,
			wantRaw:       "init",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newClient(t, tt.svc)
			var ctx context.Context
			var cancel context.CancelFunc
			opts := tt.opts
			switch {
			case tt.cancelOnEvent:
				ctx, cancel = context.WithCancel(context.Background())
				opts = append(opts, gpubms.WithProgress(func(*gpubmsv1.TaskEvent) { cancel() }))
			case tt.expireOnEvent:
				e := newExpiring()
				ctx, cancel = e, e.expire
				opts = append(opts, gpubms.WithProgress(func(*gpubmsv1.TaskEvent) { e.expire() }))
			default:
				// The deadline only triggers the path under test (with an
				// hour of backoff, nothing else can end the wait); nothing
				// measures how long it took.
				ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
			}
			defer cancel()

			ev, err := c.WaitTask(ctx, "t1", opts...)

			if !errors.Is(err, tt.wantCtxErr) {
				t.Errorf("errors.Is(%v, %v): got false, want true", err, tt.wantCtxErr)
			}
			if got := status.Code(err); got != tt.wantCode {
				t.Errorf("code: got %v, want %v", got, tt.wantCode)
			}
			if got := ev.GetRawStatus(); got != tt.wantRaw {
				t.Errorf("last event: got %q, want %q", got, tt.wantRaw)
			}
		})
	}
}

func TestWaitTasks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		svc          *fakeService
		ids          []string
		wantFinal    map[string]string // task id → raw status
		wantFailed   []string
		wantCode     codes.Code
		wantRequests [][]string
		wantProgress []string
	}{
		{
			name: "all succeed",
			svc: &fakeService{watchMany: [][]step{{
				send(event("a", "init")), send(event("b", "init")), send(event("a", "succeed")), send(event("b", "succeed")),
			}}},
			ids:          []string{"a", "b"},
			wantFinal:    map[string]string{"a": "succeed", "b": "succeed"},
			wantRequests: [][]string{{"a", "b"}},
			wantProgress: []string{"a:init", "b:init", "a:succeed", "b:succeed"},
		},
		{
			name: "duplicates watched once, strangers ignored",
			svc: &fakeService{watchMany: [][]step{{
				send(event("x", "succeed")), send(event("a", "succeed")), send(event("b", "succeed")),
			}}},
			ids:          []string{"a", "b", "a"},
			wantFinal:    map[string]string{"a": "succeed", "b": "succeed"},
			wantRequests: [][]string{{"a", "b"}},
			wantProgress: []string{"a:succeed", "b:succeed"},
		},
		{
			name: "re-attaches for the tasks still running",
			svc: &fakeService{watchMany: [][]step{
				{send(event("a", "init")), send(event("b", "init")), send(event("a", "succeed")), fail(codes.Unavailable, "restarting")},
				{send(event("b", "succeed"))},
			}},
			ids:          []string{"a", "b"},
			wantFinal:    map[string]string{"a": "succeed", "b": "succeed"},
			wantRequests: [][]string{{"a", "b"}, {"b"}},
			wantProgress: []string{"a:init", "b:init", "a:succeed", "b:succeed"},
		},
		{
			name: "failed tasks are joined TaskFailedErrors",
			svc: &fakeService{watchMany: [][]step{{
				send(event("a", "failed")), send(event("b", "succeed")), send(event("c", "failed")),
			}}},
			ids:          []string{"a", "b", "c"},
			wantFinal:    map[string]string{"a": "failed", "b": "succeed", "c": "failed"},
			wantFailed:   []string{"a", "c"},
			wantRequests: [][]string{{"a", "b", "c"}},
			wantProgress: []string{"a:failed", "b:succeed", "c:failed"},
		},
		{
			name: "polls when watching is unimplemented",
			svc: &fakeService{watchUnimplemented: true, tasks: map[string][]answer{
				"a": {taskAnswer("init"), taskAnswer("succeed")},
				"b": {taskAnswer("init"), taskAnswer("init"), taskAnswer("succeed")},
			}},
			ids:          []string{"a", "b"},
			wantFinal:    map[string]string{"a": "succeed", "b": "succeed"},
			wantProgress: []string{"a:init", "b:init", "a:succeed", "b:succeed"},
		},
		{
			name:     "an unknown task ends the wait",
			svc:      &fakeService{watchMany: [][]step{{send(event("a", "init")), fail(codes.NotFound, "task b not found")}}},
			ids:      []string{"a", "b"},
			wantCode: codes.NotFound,
			wantFinal: map[string]string{
				"a": "init",
			},
			wantRequests: [][]string{{"a", "b"}},
			wantProgress: []string{"a:init"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newClient(t, tt.svc)
			var seen []*gpubmsv1.TaskEvent
			opts := append(append([]gpubms.WaitOption{}, fast...), gpubms.WithProgress(func(ev *gpubmsv1.TaskEvent) { seen = append(seen, ev) }))

			final, err := c.WaitTasks(context.Background(), tt.ids, opts...)

			got := map[string]string{}
			for id, ev := range final {
				got[id] = ev.GetRawStatus()
			}
			if diff := cmp.Diff(tt.wantFinal, got); diff != "" {
				t.Errorf("final events (-want +got):\n%s", diff)
			}
			var gotFailed []string
			if tt.wantCode == codes.OK {
				for _, e := range unjoin(err) {
					var f *gpubms.TaskFailedError
					if !errors.As(e, &f) {
						t.Fatalf("error: got %v, want only *TaskFailedError", e)
					}
					gotFailed = append(gotFailed, f.TaskID)
				}
			} else if code := status.Code(err); code != tt.wantCode {
				t.Errorf("code: got %v (%v), want %v", code, err, tt.wantCode)
			}
			if diff := cmp.Diff(tt.wantFailed, gotFailed); diff != "" {
				t.Errorf("failed tasks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRequests, tt.svc.watchManyRequests()); diff != "" {
				t.Errorf("WatchTasks requests (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantProgress, statuses(seen)); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
		})
	}
}

// unjoin lists the errors of an errors.Join (nil for nil).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestWaitRejectsEmptyIDs(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t, &fakeService{})
	if _, err := c.WaitTask(context.Background(), ""); status.Code(err) != codes.InvalidArgument {
		t.Errorf("WaitTask(\"\"): got %v, want InvalidArgument", err)
	}
	if _, err := c.WaitTasks(context.Background(), []string{"a", ""}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("WaitTasks(a, \"\"): got %v, want InvalidArgument", err)
	}
	got, err := c.WaitTasks(context.Background(), nil)
	if err != nil || len(got) != 0 {
		t.Errorf("WaitTasks(nil): got %v, %v, want an empty map and no error", got, err)
	}
}

// expiring is a context whose deadline passes when expire is called, so a
// test reaches the deadline path at a chosen moment rather than on a clock.
type expiring struct {
	context.Context
	once sync.Once
	done chan struct{}
}

func newExpiring() *expiring {
	return &expiring{Context: context.Background(), done: make(chan struct{})}
}

func (e *expiring) expire() { e.once.Do(func() { close(e.done) }) }

func (e *expiring) Done() <-chan struct{} { return e.done }

func (e *expiring) Err() error {
	select {
	case <-e.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// TestWaitTasksPollingGivesUp proves the attempt bound holds while polling
// several tasks: one task answering must not reset the count of another's
// failures in a row, or a task the provider keeps failing on is polled
// until the caller's context ends (never, without a deadline).
func TestWaitTasksPollingGivesUp(t *testing.T) {
	t.Parallel()
	svc := &fakeService{watchUnimplemented: true, tasks: map[string][]answer{
		"a": {taskAnswer("init")},
		"b": {{err: status.Error(codes.Unavailable, "provider unavailable")}},
	}}
	c, _ := newClient(t, svc)
	// A bound on a hang, not a timing assertion: the wait gives up by itself.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts := append(append([]gpubms.WaitOption{}, fast...), gpubms.WithMaxAttempts(3))

	final, err := c.WaitTasks(ctx, []string{"a", "b"}, opts...)

	if got := status.Code(err); got != codes.Unavailable {
		t.Fatalf("code: got %v (%v), want Unavailable", got, err)
	}
	if want := "gave up after 3 attempts"; !strings.Contains(err.Error(), want) {
		t.Errorf("error: got %v, want it to contain %q", err, want)
	}
	if got := svc.pollCount("b"); got != 3 {
		t.Errorf("DescribeGpuTask calls for b: got %d, want 3", got)
	}
	if got := final["a"].GetRawStatus(); got != "init" {
		t.Errorf("last event of a: got %q, want init", got)
	}
}
