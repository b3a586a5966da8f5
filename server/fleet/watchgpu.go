package fleet

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/upstream"
	"github.com/gpubms/gpubms/server/watch"
)

// StateGone is the state of a server the provider no longer knows: the
// terminal state of a server hub (watch.WithTerminal(ServerGone)).
const StateGone = "gone"

// ServerGone reports whether a server's state is final.
func ServerGone(state string) bool { return state == StateGone }

// ServerReader describes one server (an *upstream.Client).
type ServerReader interface {
	DescribeGpuDetail(context.Context, *upstream.DescribeGpuDetailRequest) (*upstream.DescribeGpuDetailData, error)
}

// NewServerSource is the source of a hub of servers: a "task" is a server,
// its status the server's state, "gone" once the provider answers
// InstanceNotFound. Other failures are statuses made by status (the one
// error mapping).
func NewServerSource(r ServerReader, status func(action string, err error) *status.Status) watch.TaskSource {
	return serverSource{r: r, status: status}
}

type serverSource struct {
	r      ServerReader
	status func(string, error) *status.Status
}

func (s serverSource) DescribeTask(ctx context.Context, id string) (watch.Task, error) {
	d, err := s.r.DescribeGpuDetail(ctx, &upstream.DescribeGpuDetailRequest{ResourceID: id})
	if upstream.Code(err) == upstream.CodeInstanceNotFound {
		return watch.Task{Status: StateGone, ResourceIDs: []string{id}}, nil
	}
	if err != nil {
		return watch.Task{}, s.status(upstream.ActionDescribeGpuDetail, err).Err()
	}
	return watch.Task{Status: d.State, ResourceIDs: []string{id}}, nil
}

// WithServerHub serves WatchGpu from h, a hub over NewServerSource that
// ends at ServerGone.
func WithServerHub(h *watch.Hub) Option { return func(s *Service) { s.servers = h } }

var gpuStates = map[string]gpubmsv1.GpuState{
	"creating":   gpubmsv1.GpuState_GPU_STATE_CREATING,
	"running":    gpubmsv1.GpuState_GPU_STATE_RUNNING,
	"stopping":   gpubmsv1.GpuState_GPU_STATE_STOPPING,
	"stopped":    gpubmsv1.GpuState_GPU_STATE_STOPPED,
	"starting":   gpubmsv1.GpuState_GPU_STATE_STARTING,
	"restarting": gpubmsv1.GpuState_GPU_STATE_RESTARTING,
	"rebuilding": gpubmsv1.GpuState_GPU_STATE_REBUILDING,
	"deleting":   gpubmsv1.GpuState_GPU_STATE_DELETING,
	"error":      gpubmsv1.GpuState_GPU_STATE_ERROR,
	StateGone:    gpubmsv1.GpuState_GPU_STATE_GONE,
}

// GpuState is the enum of a provider state; GPU_STATE_UNSPECIFIED for one
// this version does not know.
func GpuState(raw string) gpubmsv1.GpuState { return gpuStates[raw] }

// hopeless reports whether a server in state can no longer reach until.
func hopeless(state, until gpubmsv1.GpuState) bool {
	switch until {
	case gpubmsv1.GpuState_GPU_STATE_RUNNING, gpubmsv1.GpuState_GPU_STATE_STOPPED:
		return state == gpubmsv1.GpuState_GPU_STATE_GONE || state == gpubmsv1.GpuState_GPU_STATE_ERROR
	}
	return false
}

// WatchGpu streams a server's state until until, a hopeless state, the
// server's end, the caller's deadline or the hub's maximum watch time.
func (s *Service) WatchGpu(req *gpubmsv1.WatchGpuRequest, stream grpc.ServerStreamingServer[gpubmsv1.WatchGpuResponse]) error {
	if s.servers == nil {
		return status.Error(codes.Unimplemented, "WatchGpu is not enabled on this server; poll DescribeGpuDetail instead")
	}
	id, until := req.GetResourceId(), req.GetUntil()
	// Until ends the subscription with the stream, holding nothing on the
	// stream's context (see watch.Subscription.Until).
	sub := s.servers.Subscribe(context.Background(), id)
	defer sub.Close()
	first, deleting := true, false
	for ev := range sub.Until(stream.Context()) {
		state := GpuState(ev.Status)
		if first && state == gpubmsv1.GpuState_GPU_STATE_GONE && until != gpubmsv1.GpuState_GPU_STATE_GONE {
			return status.Errorf(codes.NotFound, "server %s: the provider does not know it (InstanceNotFound)", id)
		}
		first = false
		if err := stream.Send(&gpubmsv1.WatchGpuResponse{Event: &gpubmsv1.GpuEvent{
			ResourceId: id, State: state, RawState: ev.Status,
			ObservedAt: timestamppb.New(ev.ObservedAt), WatchedFor: durationpb.New(ev.WatchedFor), Heartbeat: ev.Heartbeat,
		}}); err != nil {
			return err
		}
		switch {
		case until != gpubmsv1.GpuState_GPU_STATE_UNSPECIFIED && state == until:
			return nil
		case hopeless(state, until):
			return status.Errorf(codes.FailedPrecondition, "server %s is %s: it will not become %s", id, ev.Status, until)
		case until == gpubmsv1.GpuState_GPU_STATE_GONE && deleting && (state == gpubmsv1.GpuState_GPU_STATE_RUNNING || state == gpubmsv1.GpuState_GPU_STATE_STOPPED):
			// It was being deleted and is back: the delete failed.
			return status.Errorf(codes.FailedPrecondition, "server %s was being deleted and is %s again: the delete failed", id, ev.Status)
		}
		deleting = deleting || state == gpubmsv1.GpuState_GPU_STATE_DELETING
	}
	return watch.EndStatus(sub.Err(), "the server")
}
