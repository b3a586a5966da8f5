package main

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// frames splits a terminal output into the frames the progress drew,
// each without its escape sequences.
func frames(out string) [][]string {
	var fs [][]string
	for _, f := range regexp.MustCompile(`\x1b\[\d+A`).Split(out, -1) {
		f = regexp.MustCompile(`\x1b\[\?25[lh]|\r\x1b\[2K|\x1b\[2K`).ReplaceAllString(f, "")
		if f = strings.TrimSuffix(f, "\n"); f != "" {
			fs = append(fs, strings.Split(f, "\n"))
		}
	}
	return fs
}

func TestProgressTerminal(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	var out syncBuffer
	p := newProgress(&out, true, func() (int, int) { return 80, 24 }, clock.Now, []string{"task-1", "task-long-2"})
	p.run()
	clock.add(1500 * time.Millisecond)
	p.update(ev("task-1", "init", "gpu-001"))
	clock.add(2 * time.Second)
	p.update(ev("task-long-2", "init", "gpu-002", "gpu-003"))
	p.update(ev("task-1", "succeed", "gpu-001"))
	clock.add(61 * time.Second)
	p.update(ev("task-long-2", "failed", "gpu-002", "gpu-003"))
	p.stop()

	got := out.String()
	if !strings.HasPrefix(got, "\x1b[?25l") || !strings.HasSuffix(got, "\x1b[?25h") {
		t.Errorf("the cursor is not hidden while drawing, then shown: %q", got)
	}
	fs := frames(got)
	if len(fs) < 5 {
		t.Fatalf("got %d frames, want at least 5:\n%q", len(fs), got)
	}
	spinner := "[" + strings.Join(spinnerFrames, "") + "]"
	first := regexp.MustCompile(`^` + spinner + ` task-1       waiting  0s  -$`)
	if !first.MatchString(fs[0][0]) {
		t.Errorf("first frame: got %q", fs[0])
	}
	// After task-1's success: its mark and elapsed time stay.
	want := []string{
		"✓ task-1       succeed  3s  gpu-001",
	}
	found := false
	for _, f := range fs {
		if f[0] == want[0] && strings.Contains(f[1], "init     3s  gpu-002,gpu-003") {
			found = true
		}
	}
	if !found {
		t.Errorf("no frame with task-1 done and task-long-2 running:\n%q", fs)
	}
	last := fs[len(fs)-1]
	if diff := cmp.Diff([]string{
		"✓ task-1       succeed  3s     gpu-001",
		"✗ task-long-2  failed   1m04s  gpu-002,gpu-003",
	}, last); diff != "" {
		t.Errorf("last frame (-want +got):\n%s", diff)
	}
}

func TestProgressTerminalShortAndNarrow(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	ids := []string{"t1", "t2", "t3", "t4"}

	// Too short for a line per task: one line of counts.
	var out syncBuffer
	p := newProgress(&out, true, func() (int, int) { return 80, 4 }, clock.Now, ids)
	p.run()
	p.update(ev("t1", "succeed"))
	p.update(ev("t2", "failed"))
	clock.add(5 * time.Second)
	p.stop()
	fs := frames(out.String())
	if diff := cmp.Diff([]string{"- 4 tasks: 2 running, 1 succeeded, 1 failed  5s"}, fs[len(fs)-1]); diff != "" {
		t.Errorf("last frame (-want +got):\n%s", diff)
	}

	// Too narrow for a line: cut, so that no line wraps.
	var narrow syncBuffer
	p = newProgress(&narrow, true, func() (int, int) { return 20, 24 }, clock.Now, []string{"a-very-long-task-id-0123456789"})
	p.run()
	p.stop()
	for _, f := range frames(narrow.String()) {
		for _, l := range f {
			if w := displayWidth(l); w > 19 {
				t.Errorf("line %q is %d cells wide on a 20-column terminal", l, w)
			}
		}
	}
}

// TestProgressPlain: without a terminal, a line per change of status or
// servers, heartbeats and repeats skipped.
func TestProgressPlain(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	p := newProgress(&out, false, nil, time.Now, []string{"t1"})
	p.run()
	p.update(ev("t1", "init"))
	p.update(ev("t1", "init"))
	p.update(&gpubmsv1.TaskEvent{TaskId: "t1", Status: gpubmsv1.TaskStatus_TASK_STATUS_INIT, RawStatus: "init", Heartbeat: true})
	p.update(ev("t1", "init", "gpu-001"))
	p.update(ev("other", "init"))
	p.update(ev("t1", "succeed", "gpu-001"))
	p.stop()
	want := "t1 init -\nt1 init gpu-001\nt1 succeed gpu-001\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestFormatElapsed(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0s", 999 * time.Millisecond: "0s", 59 * time.Second: "59s", 61 * time.Second: "1m01s",
		time.Hour + 2*time.Minute + 3*time.Second: "1h02m",
	} {
		if got := formatElapsed(d); got != want {
			t.Errorf("formatElapsed(%v): got %q, want %q", d, got, want)
		}
	}
}
