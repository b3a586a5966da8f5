package watch

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// BenchmarkHub10kWatchers watches 100 tasks with 100 subscribers each, every
// subscriber read by its own goroutine as a stream handler would, with the
// production defaults for jitter, rate cap and heartbeat. It reports the heap
// and goroutine stack held per watcher, and the provider polls made in one
// poll interval (at most one per task).
//
//	go test -run '^$' -bench Hub10k -benchtime 3x ./server/watch
func BenchmarkHub10kWatchers(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		r := loadRun(b, 100, 100)
		b.ReportMetric(r.heapPerWatcher, "heap-B/watcher")
		b.ReportMetric(r.stackPerWatcher, "stack-B/watcher")
		b.ReportMetric(float64(r.polls), "polls/interval")
	}
}

// TestLoadRunSmall runs the benchmark's code at a small scale in the normal
// test run, so it keeps working (its poll bound included). Its memory
// figures mean nothing here: other tests run alongside.
func TestLoadRunSmall(t *testing.T) {
	t.Parallel()
	loadRun(t, 10, 20)
}

type loadResult struct {
	heapPerWatcher, stackPerWatcher float64
	polls                           int
}

// loadRun subscribes perTask watchers to each of tasks tasks, measures the
// memory they hold once all have their first event, then counts the polls
// during one poll interval. It fails tb if any task polls more than once.
func loadRun(tb testing.TB, tasks, perTask int) loadResult {
	scripts := make(map[string][]step, tasks)
	for i := range tasks {
		scripts[fmt.Sprint("task-", i)] = []step{st("init", fmt.Sprint("gpu-", i))}
	}
	src := newFakeSource(scripts)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	h, clk := newTestHub(tb, src,
		WithJitter(DefaultJitter), WithMaxPollRate(DefaultMaxPollRate),
		WithHeartbeat(DefaultHeartbeat), WithMaxWatch(DefaultMaxWatch))
	n := tasks * perTask
	var first, done sync.WaitGroup
	first.Add(n)
	for i := range n {
		sub := h.Subscribe(tb.Context(), fmt.Sprint("task-", i%tasks))
		done.Go(func() {
			seenFirst := false
			for range sub.Events() {
				if !seenFirst {
					seenFirst = true
					first.Done()
				}
			}
			if !seenFirst {
				first.Done()
			}
		})
	}
	// The rate cap spreads the first polls over a second of fake time.
	for i := 0; i < 100 && src.totalCalls() < tasks; i++ {
		idle(tb, h, clk)
		clk.Advance(100 * time.Millisecond)
	}
	first.Wait()
	runtime.GC()
	runtime.ReadMemStats(&after)
	res := loadResult{
		heapPerWatcher:  float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n),
		stackPerWatcher: float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n),
	}

	// Polls in one interval, after the first round; in steps, so every
	// poller runs on time.
	for range 50 {
		clk.Advance(DefaultPollInterval / 50)
		idle(tb, h, clk)
	}
	start := src.totalCalls()
	for range 50 {
		clk.Advance(DefaultPollInterval / 50)
		idle(tb, h, clk)
	}
	res.polls = src.totalCalls() - start
	if res.polls > tasks {
		tb.Errorf("got %d polls in one interval for %d tasks, want at most %d", res.polls, tasks, tasks)
	}
	if got := h.Stats(); got != (Stats{Tasks: tasks, Watchers: n}) {
		tb.Errorf("got %+v, want %d tasks and %d watchers", got, tasks, n)
	}
	h.Close()
	done.Wait()
	return res
}
