package e2e_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// TestShutdown cancels Serve's context while a task is watched over gRPC
// and over HTTP: both streams end with Unavailable (watch again elsewhere)
// and Serve returns nil.
func TestShutdown(t *testing.T) {
	t.Parallel()
	// Tasks outlast the test, so the watches are open when the server stops.
	h := start(t, withTaskDelay(time.Hour))
	o := findOffer(t, h.c, 1)
	created, err := h.c.CreateGpuInstance(ctx(t), o.createRequest("shut", 1))
	if err != nil {
		t.Fatalf("CreateGpuInstance: %v", err)
	}
	id := created.GetTaskId()

	// gRPC watch, open once its first event has arrived.
	stream, err := h.c.WatchTask(ctx(t), &gpubmsv1.WatchTaskRequest{TaskId: id})
	if err != nil {
		t.Fatalf("WatchTask: %v", err)
	}
	first, err := stream.Recv()
	if err != nil || first.GetEvent().GetStatus() != gpubmsv1.TaskStatus_TASK_STATUS_INIT {
		t.Fatalf("WatchTask first event: got %v, %v; want init", first, err)
	}

	// HTTP watch, likewise.
	resp := h.openStream(t, ctx(t), http.MethodGet, "/v1/tasks/"+id+":watch", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET watch: got HTTP %d, want 200", resp.StatusCode)
	}
	lines := bufio.NewScanner(resp.Body)
	if !lines.Scan() {
		t.Fatalf("GET watch: no first line: %v", lines.Err())
	}

	if err := h.stop(); err != nil {
		t.Fatalf("Serve: got %v, want nil", err)
	}

	t.Run("gRPC stream ends Unavailable", func(t *testing.T) {
		for range 100 {
			r, err := stream.Recv()
			if err == nil {
				if r.GetEvent().GetStatus() != gpubmsv1.TaskStatus_TASK_STATUS_INIT {
					t.Errorf("got event %v after shutdown began, want none but init", r.GetEvent())
				}
				continue
			}
			if status.Code(err) != codes.Unavailable {
				t.Errorf("got %v, want Unavailable", err)
			}
			return
		}
		t.Error("stream did not end")
	})

	t.Run("HTTP stream ends with an Unavailable line", func(t *testing.T) {
		var last streamLine
		for n := 0; lines.Scan() && n < 100; n++ {
			if err := json.Unmarshal(lines.Bytes(), &last); err != nil {
				t.Fatalf("line %q: %v", lines.Bytes(), err)
			}
		}
		if last.Error == nil || codes.Code(last.Error.Code) != codes.Unavailable {
			t.Errorf("got last line %+v, want an error with code Unavailable", last)
		}
	})
}
