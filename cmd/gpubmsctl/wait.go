package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// waitStopped is a wait that Ctrl-C stopped, after it printed how to
// follow the tasks that go on.
type waitStopped struct{ err error }

func (e *waitStopped) Error() string { return "stopped waiting: " + e.err.Error() }
func (e *waitStopped) Unwrap() error { return e.err }

// waitTasks follows the tasks to their end, showing their progress on
// stderr, and returns the last event of each (a bare one, status
// unspecified, for a task that sent none), in the order of ids. When the
// wait is stopped (Ctrl-C, --timeout) it says on stderr that the tasks go
// on and how to follow them. onEvent, if set, sees every event instead of
// the display.
func (a *app) waitTasks(ctx context.Context, c *gpubms.Client, ids []string, onEvent func(*gpubmsv1.TaskEvent)) ([]*gpubmsv1.TaskEvent, error) {
	var unique []string
	for _, id := range ids {
		if !slices.Contains(unique, id) {
			unique = append(unique, id)
		}
	}
	ids = unique
	var p *progress
	if onEvent == nil {
		p = newProgress(a.stderr, a.tty, a.termSize, time.Now, ids)
		p.run()
		onEvent = p.update
	}
	opt := gpubms.WithProgress(onEvent)
	last := map[string]*gpubmsv1.TaskEvent{}
	var err error
	if len(ids) == 1 {
		var ev *gpubmsv1.TaskEvent
		ev, err = c.WaitTask(ctx, ids[0], opt)
		last[ids[0]] = ev
	} else {
		last, err = c.WaitTasks(ctx, ids, opt)
	}
	if p != nil {
		p.stop()
	}
	evs := make([]*gpubmsv1.TaskEvent, 0, len(ids))
	for _, id := range ids {
		ev := last[id]
		if ev == nil {
			ev = &gpubmsv1.TaskEvent{TaskId: id}
		}
		evs = append(evs, ev)
	}
	if err != nil && ended(ctx, err) {
		err = a.stoppedWaiting(evs, err)
	}
	return evs, err
}

// ended reports whether waiting stopped because ctx ended: its error is
// set, or the server already answered DeadlineExceeded for the deadline
// that has just passed (a moment before ctx's own timer fires).
func ended(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && status.Code(err) == codes.DeadlineExceeded && !time.Now().Before(d)
}

// stoppedWaiting says that the tasks still running go on at the provider,
// and the command that follows them.
func (a *app) stoppedWaiting(evs []*gpubmsv1.TaskEvent, err error) error {
	var pending []string
	for _, ev := range evs {
		if !isTerminal(ev) {
			pending = append(pending, ev.GetTaskId())
		}
	}
	why := "--timeout " + a.timeout.String() + " ran out"
	_, interrupted := a.interrupted()
	if interrupted {
		why = "interrupted"
	}
	goesOn, it := "the task goes on at the provider", "it"
	if len(pending) > 1 {
		goesOn, it = fmt.Sprintf("the %d tasks go on at the provider", len(pending)), "them"
	}
	if len(pending) > 0 {
		fmt.Fprintf(a.stderr, "gpubmsctl: stopped waiting (%s); %s. To follow %s:\n  %s\n", why, goesOn, it, a.watchCommandLine(pending))
	}
	if interrupted {
		return &waitStopped{err: err}
	}
	return err
}

// watchCommandLine is the gpubmsctl watch command for the tasks, with the
// connection flags given on this command line (never the token itself).
func (a *app) watchCommandLine(ids []string) string {
	parts := append([]string{"gpubmsctl", "watch"}, ids...)
	for _, name := range []string{"context", "addr", "insecure", "cacert", "cert", "key", "server-name", "token-file"} {
		f := a.root.PersistentFlags().Lookup(name)
		if f == nil || !f.Changed {
			continue
		}
		if f.Value.Type() == "bool" {
			parts = append(parts, "--"+name+"="+f.Value.String())
			continue
		}
		parts = append(parts, "--"+name, shellQuote(f.Value.String()))
	}
	return strings.Join(parts, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@,+=%-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// failureReason is what the provider said of a failed task beyond the word
// "failed": its own status string when it is another. The contract's
// TaskEvent has no reason field yet; this is where one would show.
func failureReason(ev *gpubmsv1.TaskEvent) string {
	if raw := ev.GetRawStatus(); raw != "" && !strings.EqualFold(raw, "failed") {
		return raw
	}
	return ""
}

func isTerminal(ev *gpubmsv1.TaskEvent) bool {
	return ev.GetStatus() == gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED || ev.GetStatus() == gpubmsv1.TaskStatus_TASK_STATUS_FAILED
}

// waitDocument is the one document of -o json or yaml for a mutation run
// with --wait: the reply, and the last state of each of its tasks.
type waitDocument struct {
	Response json.RawMessage   `json:"response"`
	Tasks    []json.RawMessage `json:"tasks"`
	// Servers are the servers a create --wait=ready made, running.
	Servers []json.RawMessage `json:"servers,omitempty"`
}

// tasksDocument is the one document of watch: the last state of each task.
type tasksDocument struct {
	Tasks []json.RawMessage `json:"tasks"`
}

func marshalEvents(evs []*gpubmsv1.TaskEvent) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(evs))
	for _, ev := range evs {
		b, err := marshalProto(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// replyAndWait shows the reply of a mutation that started tasks and, with
// wait, follows the tasks. -o table prints the reply at once and the tasks'
// final states at the end; json and yaml print one document at the end,
// the reply with the tasks' last states, even when the wait failed or was
// stopped.
func replyAndWait[R proto.Message](ctx context.Context, a *app, c *gpubms.Client, resp R, ids []string, wait bool, table func(*printer, R) error) error {
	if !wait {
		return show(a, resp, table)
	}
	if a.output == formatTable {
		if err := table(a.printer(), resp); err != nil {
			return err
		}
	}
	evs, err := a.waitTasks(ctx, c, ids, nil)
	if a.output == formatTable {
		if !slices.ContainsFunc(evs, func(ev *gpubmsv1.TaskEvent) bool { return !isTerminal(ev) }) {
			if perr := printTaskStates(a.printer(), evs); perr != nil {
				return perr
			}
		}
		return err
	}
	if werr := a.writeWaitDocument(resp, evs, nil); werr != nil {
		return werr
	}
	return err
}

// writeWaitDocument writes the one document of a waited call: its reply,
// its tasks' last states and, for create --wait=ready, its servers.
func (a *app) writeWaitDocument(resp proto.Message, evs []*gpubmsv1.TaskEvent, servers []*gpubmsv1.DescribeGpuDetailResponse) error {
	doc := waitDocument{}
	var err error
	if doc.Response, err = marshalProto(resp); err != nil {
		return err
	}
	if doc.Tasks, err = marshalEvents(evs); err != nil {
		return err
	}
	for _, s := range servers {
		m, err := marshalProto(s)
		if err != nil {
			return err
		}
		doc.Servers = append(doc.Servers, m)
	}
	return a.writeValue(doc)
}
