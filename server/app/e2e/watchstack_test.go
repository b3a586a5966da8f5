package e2e_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// maxWatchFrames is how many frames a watch stream's handler goroutine may
// wait under, from the handler to the goroutine's start. A parked
// goroutine's stack shrinks only while it uses less than a quarter of it,
// and a stream waits for as long as its task runs: under the 15 frames of
// today's chain (about 3.4 KiB in gpubmsd) 10,000 streams hold 8 KiB of
// stack each; under the 30 of one interceptor per step, 16 KiB each, which
// was most of the server's memory.
const maxWatchFrames = 20

// TestWatchStreamWaitsShallow: a WatchTask stream served through the whole
// chain (caller authentication, metrics, limits, validation) waits for its
// task's next change under at most maxWatchFrames frames.
func TestWatchStreamWaitsShallow(t *testing.T) {
	h := start(t, withTaskDelay(time.Minute))
	o := findOffer(t, h.c, 1)
	created, err := h.c.CreateGpuInstance(ctx(t), o.createRequest("shallow", 1))
	if err != nil {
		t.Fatalf("CreateGpuInstance: %v", err)
	}
	s, err := h.c.WatchTask(ctx(t), &gpubmsv1.WatchTaskRequest{TaskId: created.GetTaskId()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("first event: %v", err)
	}
	// The first event is sent before the handler waits again: look until
	// it waits (bounded).
	var frames int
	for range 100 {
		if frames = watchHandlerFrames(); frames > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if frames == 0 {
		t.Fatal("no goroutine is serving the WatchTask stream")
	}
	t.Logf("the WatchTask stream waits under %d frames", frames)
	if frames > maxWatchFrames {
		t.Errorf("a WatchTask stream waits under %d frames, want at most %d: every frame of the interceptor chain is stack each open stream keeps", frames, maxWatchFrames)
	}
}

// watchHandlerFrames is the number of frames, from the WatchTask handler
// down, of a goroutine waiting in it; 0 when there is none.
func watchHandlerFrames() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		lines := strings.Split(g, "\n")
		if len(lines) == 0 || !strings.Contains(lines[0], "[chan receive") && !strings.Contains(lines[0], "[select") {
			continue
		}
		for i, l := range lines {
			if strings.HasPrefix(l, "github.com/gpubms/gpubms/server.(*Service).WatchTask(") {
				n := 0
				for _, f := range lines[i:] {
					if f != "" && !strings.HasPrefix(f, "\t") && !strings.HasPrefix(f, "created by ") {
						n++
					}
				}
				return n
			}
		}
	}
	return 0
}
