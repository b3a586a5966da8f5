package e2e_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/emulator"
)

// TestWatchGpu: a server's states in order, from running through a stop
// and a delete to gone; until ends the watch once reached and fails fast
// when it cannot be; an unknown server is NotFound; watchers of one server
// share one poller.
func TestWatchGpu(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider(), withTaskDelay(500*time.Millisecond))
	fleet := gpubmsv1.NewFleetServiceClient(h.c.conn)
	o := findOffer(t, h.c, 1)
	created, err := h.c.CreateGpuInstance(ctx(t), o.createRequest("watched", 1))
	if err != nil {
		t.Fatal(err)
	}
	watchTask(t, h.c, created.GetTaskId())
	ids := serversNamed(t, h.c, "watched")
	id := ids[0]

	// collect watches the server until the stream ends, closing first (when
	// not nil) at the first event.
	collect := func(c context.Context, until gpubmsv1.GpuState, first chan<- struct{}) ([]string, error) {
		s, err := fleet.WatchGpu(c, &gpubmsv1.WatchGpuRequest{ResourceId: id, Until: until})
		if err != nil {
			return nil, err
		}
		var states []string
		for {
			r, err := s.Recv()
			if errors.Is(err, io.EOF) {
				return states, nil
			}
			if err != nil {
				return states, err
			}
			if ev := r.GetEvent(); !ev.GetHeartbeat() {
				states = append(states, ev.GetState().String())
				if ev.GetResourceId() != id || ev.GetRawState() == "" || ev.GetObservedAt() == nil {
					t.Errorf("event %v: want the server, its raw state and when", ev)
				}
			}
			if first != nil {
				close(first)
				first = nil
			}
		}
	}
	got, err := collect(ctx(t), gpubmsv1.GpuState_GPU_STATE_RUNNING, nil)
	if err != nil || !slices.Equal(got, []string{"GPU_STATE_RUNNING"}) {
		t.Fatalf("until running on a running server: %v, %v; want one event and OK", got, err)
	}

	// Three watchers of the whole life: the same events, from one poller.
	var wg sync.WaitGroup
	results := make([][]string, 3)
	errs := make([]error, 3)
	for i := range results {
		first := make(chan struct{})
		wg.Go(func() { results[i], errs[i] = collect(ctx(t), gpubmsv1.GpuState_GPU_STATE_UNSPECIFIED, first) })
		select {
		case <-first:
		case <-time.After(10 * time.Second):
			t.Fatal("a watcher got no first event within 10s")
		}
	}
	before := h.provider.calls("DescribeGpuDetail")
	if _, err := h.c.OperateGpuPower(ctx(t), &gpubmsv1.OperateGpuPowerRequest{Operate: "stop", ResourceIds: ids}); err != nil {
		t.Fatal(err)
	}
	stopped, err := collect(ctx(t), gpubmsv1.GpuState_GPU_STATE_STOPPED, nil)
	if err != nil || len(stopped) == 0 || stopped[len(stopped)-1] != "GPU_STATE_STOPPED" {
		t.Fatalf("until stopped: %v, %v", stopped, err)
	}
	// Waiting for running on a stopped server is not hopeless, until the
	// server is deleted.
	var hopeless []string
	var hopelessErr error
	first := make(chan struct{})
	wg.Go(func() { hopeless, hopelessErr = collect(ctx(t), gpubmsv1.GpuState_GPU_STATE_RUNNING, first) })
	<-first
	if _, err := h.c.DeleteGpuInstances(ctx(t), &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: ids}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	want := []string{"GPU_STATE_RUNNING", "GPU_STATE_STOPPING", "GPU_STATE_STOPPED", "GPU_STATE_DELETING", "GPU_STATE_GONE"}
	for i := range results {
		if errs[i] != nil || !slices.Equal(results[i], want) {
			t.Errorf("watcher %d: %v, %v; want %v and OK", i, results[i], errs[i], want)
		}
	}
	wantCode(t, hopelessErr, codes.FailedPrecondition, "")
	if !slices.Equal(hopeless, []string{"GPU_STATE_STOPPED", "GPU_STATE_DELETING", "GPU_STATE_GONE"}) {
		t.Errorf("until running from stopped through a delete: %v, want stopped, deleting, gone", hopeless)
	}
	// One poller for every watcher: a request per poll interval (100 ms)
	// over the stop and the delete, not one per watcher.
	if n := h.provider.calls("DescribeGpuDetail") - before; n > 30 {
		t.Errorf("%d DescribeGpuDetail requests while five watched one server, want one poller's", n)
	}

	// Gone now: until GONE is done at once; anything else is NotFound.
	got, err = collect(ctx(t), gpubmsv1.GpuState_GPU_STATE_GONE, nil)
	if err != nil || !slices.Equal(got, []string{"GPU_STATE_GONE"}) {
		t.Errorf("until gone on a deleted server: %v, %v", got, err)
	}
	_, err = collect(ctx(t), gpubmsv1.GpuState_GPU_STATE_RUNNING, nil)
	wantCode(t, err, codes.NotFound, "")
}

// TestWatchGpuErrorState: a create whose task leaves its server in error
// fails a wait for running fast, with FailedPrecondition; the server can
// still be deleted.
func TestWatchGpuErrorState(t *testing.T) {
	t.Parallel()
	h := start(t, withFaults(emulator.Faults{ErrorStateRate: 1}), withTaskDelay(time.Second))
	fleet := gpubmsv1.NewFleetServiceClient(h.c.conn)
	o := findOffer(t, h.c, 1)
	created, err := h.c.CreateGpuInstance(ctx(t), o.createRequest("broken", 1))
	if err != nil {
		t.Fatal(err)
	}
	ids := serversNamed(t, h.c, "broken")
	s, err := fleet.WatchGpu(ctx(t), &gpubmsv1.WatchGpuRequest{ResourceId: ids[0], Until: gpubmsv1.GpuState_GPU_STATE_RUNNING})
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for {
		r, err := s.Recv()
		if err != nil {
			wantCode(t, err, codes.FailedPrecondition, "")
			break
		}
		states = append(states, r.GetEvent().GetState().String())
	}
	if !slices.Equal(states, []string{"GPU_STATE_CREATING", "GPU_STATE_ERROR"}) {
		t.Errorf("states %v, want creating then error", states)
	}
	task, err := h.c.DescribeGpuTask(ctx(t), &gpubmsv1.DescribeGpuTaskRequest{TaskId: created.GetTaskId()})
	if err != nil || task.GetTaskStatus() != gpubmsv1.TaskStatus_TASK_STATUS_FAILED {
		t.Errorf("task %v, %v; want failed", task, err)
	}
	if _, err := h.c.DeleteGpuInstances(ctx(t), &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: ids}); err != nil {
		t.Errorf("delete of a server in error: %v", err)
	}
}
