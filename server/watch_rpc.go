package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/upstream"
	"github.com/gpubms/gpubms/server/watch"
)

// WithHub serves WatchTask and WatchTasks from h. Without it both answer
// Unimplemented. The caller owns h and closes it (before stopping the gRPC
// server, so that open watches end with Unavailable instead of holding up
// the drain).
func WithHub(h *watch.Hub) Option {
	return func(o *options) { o.hub = h }
}

// NewTaskSource adapts up to the hub: one DescribeGpuTask per poll, its
// failures converted by Status, so the hub's classifier sees gRPC codes
// (an unknown task is NotFound and ends the watch; an outage is Unavailable
// and is retried).
func NewTaskSource(up *upstream.Client) watch.TaskSource {
	if up == nil {
		panic("server: nil upstream client")
	}
	return taskSource{up: up}
}

type taskSource struct{ up *upstream.Client }

func (s taskSource) DescribeTask(ctx context.Context, taskID string) (watch.Task, error) {
	d, err := s.up.DescribeGpuTask(ctx, &upstream.DescribeGpuTaskRequest{TaskID: taskID})
	if err != nil {
		return watch.Task{}, Status(upstream.ActionDescribeGpuTask, err).Err()
	}
	return watch.Task{Status: string(d.Status), ResourceIDs: d.ResourceIDs}, nil
}

// errNoHub answers the watch RPCs of a service built without WithHub.
var errNoHub = status.Error(codes.Unimplemented, "task watching is not enabled on this server; poll DescribeGpuTask instead")

// WatchTask streams one task's events: the current status at once, then each
// change (and heartbeats), ending with OK after a terminal status or at the
// server's maximum watch time. An unknown task ends with NotFound, a server
// shutdown with Unavailable (watch again), the caller's deadline with
// DeadlineExceeded.
func (s *Service) WatchTask(req *gpubmsv1.WatchTaskRequest, stream grpc.ServerStreamingServer[gpubmsv1.WatchTaskResponse]) error {
	if s.hub == nil {
		return errNoHub
	}
	id := req.GetTaskId()
	if id == "" {
		return status.Error(codes.InvalidArgument, "task_id is required")
	}
	// Until ends the subscription with the stream, holding nothing on the
	// stream's context (see watch.Subscription.Until).
	ctx := stream.Context()
	sub := s.hub.Subscribe(context.Background(), id)
	defer sub.Close()
	for ev := range sub.Until(ctx) {
		if err := stream.Send(&gpubmsv1.WatchTaskResponse{Event: taskEvent(ev)}); err != nil {
			return err
		}
	}
	return s.watchEnd(ctx, id, sub.Err())
}

// WatchTasks streams the events of several tasks (duplicates watched once),
// each tagged with its task id and in order for that task, and ends with OK
// once every task has ended cleanly. The first task to fail ends the whole
// stream with its status, its message naming the task.
func (s *Service) WatchTasks(req *gpubmsv1.WatchTasksRequest, stream grpc.ServerStreamingServer[gpubmsv1.WatchTasksResponse]) error {
	if s.hub == nil {
		return errNoHub
	}
	ids := dedupe(req.GetTaskIds())
	if len(ids) == 0 || slices.Contains(ids, "") {
		return status.Error(codes.InvalidArgument, "task_ids must name at least one task, none empty")
	}
	ctx, cancel := context.WithCancel(stream.Context())

	// One forwarder per task moves its events onto one channel. The channel
	// is unbuffered, so a task's end is reported only after its last event
	// was taken: nothing is lost or reordered within a task.
	type end struct {
		taskID string
		err    error
	}
	events := make(chan watch.Event)
	ends := make(chan end, len(ids))
	var wg sync.WaitGroup
	defer func() {
		cancel() // ends every subscription, so every forwarder returns
		wg.Wait()
	}()
	for _, id := range ids {
		sub := s.hub.Subscribe(ctx, id)
		wg.Go(func() {
			defer sub.Close()
			for ev := range sub.Events() {
				select {
				case events <- ev:
				case <-ctx.Done():
					return
				}
			}
			ends <- end{id, sub.Err()}
		})
	}
	for open := len(ids); open > 0; {
		select {
		case ev := <-events:
			if err := stream.Send(&gpubmsv1.WatchTasksResponse{Event: taskEvent(ev)}); err != nil {
				return err
			}
		case e := <-ends:
			if e.err != nil {
				return taskStatusError(e.taskID, s.watchEnd(ctx, e.taskID, e.err))
			}
			open--
		case <-ctx.Done():
			// The caller left. A forwarder holding an event gives up on it
			// and reports no end, so waiting for every end would hang.
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	return nil
}

// watchStatus is the status a watch of a task ends with (watch.EndStatus).
func watchStatus(err error) error { return watch.EndStatus(err, "the task") }

// watchEnd is watchStatus(err) for the watch of taskID, logged the way fail
// logs a unary failure: an Internal end means the provider rejected this
// server's credentials, clock or request while polling, which the operator
// must see (the hub itself logs a task's end at Info only).
func (s *Service) watchEnd(ctx context.Context, taskID string, err error) error {
	end := watchStatus(err)
	if st := status.Convert(end); st.Code() == codes.Internal {
		s.log.LogAttrs(ctx, slog.LevelError, "internal error watching a task",
			slog.String("action", upstream.ActionDescribeGpuTask), slog.String("task_id", taskID),
			slog.String("error", st.Message()))
	}
	return end
}

// taskStatusError prefixes err's message with the task id, keeping its code
// and details.
func taskStatusError(taskID string, err error) error {
	p := status.Convert(err).Proto()
	p.Message = fmt.Sprintf("task %s: %s", taskID, p.GetMessage())
	return status.FromProto(p).Err()
}

func taskEvent(ev watch.Event) *gpubmsv1.TaskEvent {
	return &gpubmsv1.TaskEvent{
		TaskId:      ev.TaskID,
		Status:      protoTaskStatus(ev.Status),
		RawStatus:   ev.Status,
		ResourceIds: ev.ResourceIDs,
		ObservedAt:  timestamppb.New(ev.ObservedAt),
		WatchedFor:  durationpb.New(ev.WatchedFor),
		Heartbeat:   ev.Heartbeat,
	}
}

// dedupe returns ids without repeats, in first-seen order.
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
