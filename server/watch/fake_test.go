package watch

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeClock is a Clock that moves only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{} // armed, not yet fired or stopped
}

type fakeTimer struct {
	clk  *fakeClock
	when time.Time
	ch   chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{
		now:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		timers: make(map[*fakeTimer]struct{}),
	}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, when: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
	} else {
		c.timers[t] = struct{}{}
	}
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	_, armed := t.clk.timers[t]
	delete(t.clk.timers, t)
	return armed
}

// Advance moves the clock by d and fires every timer that is due, before it
// returns.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.when.After(c.now) {
			delete(c.timers, t)
			t.ch <- c.now
		}
	}
}

// armed returns the number of timers waiting to fire.
func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// step is one scripted reply of fakeSource.
type step struct {
	status string
	ids    []string
	err    error
}

func st(status string, ids ...string) step { return step{status: status, ids: ids} }
func fail(c codes.Code) step               { return step{err: status.Error(c, "scripted "+c.String())} }

// fakeSource replies to the n-th call for a task with the n-th step of its
// script, repeating the last step. A task with no script is unknown
// (NotFound). If gate is set, calls wait for it to be closed.
type fakeSource struct {
	gate chan struct{}

	mu      sync.Mutex
	scripts map[string][]step
	calls   map[string]int
	total   int
}

func newFakeSource(scripts map[string][]step) *fakeSource {
	return &fakeSource{scripts: scripts, calls: make(map[string]int)}
}

func (f *fakeSource) DescribeTask(ctx context.Context, taskID string) (Task, error) {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return Task{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.calls[taskID]
	f.calls[taskID]++
	f.total++
	script := f.scripts[taskID]
	if len(script) == 0 {
		return Task{}, status.Errorf(codes.NotFound, "task %q does not exist", taskID)
	}
	s := script[min(n, len(script)-1)]
	if s.err != nil {
		return Task{}, s.err
	}
	return Task{Status: s.status, ResourceIDs: s.ids}, nil
}

func (f *fakeSource) callsOf(taskID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[taskID]
}

func (f *fakeSource) totalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// eventually waits, bounded in time, until cond holds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}
