package watch

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkHub10kWatchers watches 100 tasks that stay running with 100
// subscribers each, every subscriber read by its own goroutine as a stream
// handler would, with the production defaults for interval, jitter, poll-rate
// cap, heartbeat and maximum watch time, on the fake clock. After a warm-up
// it measures several poll intervals of steady state and reports the polls
// per interval (all tasks), the most polls of one task in one interval (1:
// a poller polling twice shows 2 here even when the rate cap hides it in the
// total), the shortest and longest wait between two polls of a task, and the
// heap and goroutine stack held per watcher.
//
//	go test -run '^$' -bench Hub10k -benchtime 3x ./server/watch
func BenchmarkHub10kWatchers(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		r := loadRun(b, loadConfig{tasks: 100, perTask: 100, warmup: 3, measure: 6})
		b.ReportMetric(r.heapPerWatcher, "heap-B/watcher")
		b.ReportMetric(r.stackPerWatcher, "stack-B/watcher")
		b.ReportMetric(r.polls.mean(), "polls/interval")
		b.ReportMetric(float64(slices.Max(r.polls.perWindow)), "max-polls/interval")
		b.ReportMetric(float64(r.polls.maxPerTask), "max-polls/task/interval")
		b.ReportMetric(r.polls.minGap.Seconds(), "min-gap-s")
		b.ReportMetric(r.polls.maxGap.Seconds(), "max-gap-s")
		r.polls.check(b, 100, DefaultPollInterval)
	}
}

// TestLoadPollsEachTaskOncePerInterval is the benchmark's claim at a size
// that runs in every test run: 1,000 watchers of 20 running tasks, with the
// production defaults, over 3 poll intervals from the first subscription.
//
// Exact, and fair to the jitter: jitter only lengthens a wait, by less than
// DefaultJitter of the interval, so the k-th poll of a task (counting from
// 0) falls in [k·I, k·(1+j)·I]. While k·j < 1 that is inside the k-th
// interval window [k·I, (k+1)·I), so for the first 1/j = 5 intervals every
// task is polled exactly once in every window. 20 tasks never exceed the
// cap's burst, so the cap delays none of them. The clock moves in steps
// that divide both I and (1+j)·I, so stepping adds no slack either.
func TestLoadPollsEachTaskOncePerInterval(t *testing.T) {
	t.Parallel()
	const tasks, perTask, intervals = 20, 50, 3
	if intervals*DefaultJitter >= 1 {
		t.Fatalf("the exact bound below needs intervals·jitter < 1")
	}
	r := loadRun(t, loadConfig{tasks: tasks, perTask: perTask, measure: intervals, exact: true})
	p := r.polls
	for k, n := range p.perWindow {
		if n != tasks {
			t.Errorf("interval %d: %d provider polls, want exactly %d (one per task)", k, n, tasks)
		}
	}
	if p.minPerTask != 1 || p.maxPerTask != 1 {
		t.Errorf("polls of one task in one interval range over [%d, %d], want exactly 1", p.minPerTask, p.maxPerTask)
	}
	maxGap := DefaultPollInterval + time.Duration(float64(DefaultPollInterval)*DefaultJitter)
	if p.minGap < DefaultPollInterval || p.maxGap > maxGap {
		t.Errorf("waits between two polls of a task range over [%v, %v], want within [%v, %v]",
			p.minGap, p.maxGap, DefaultPollInterval, maxGap)
	}
	if r.firstLate != 0 {
		t.Errorf("%d tasks were not polled at once on their first subscription", r.firstLate)
	}
	if r.extraEvents != 0 {
		t.Errorf("watchers got %d events beyond their first, want none (the tasks did not change)", r.extraEvents)
	}
	p.check(t, tasks, DefaultPollInterval)
}

// loadStep is how far the clock moves at a time. It divides the interval and
// the longest jittered wait (6s), so a poll happens exactly when it is due
// up to the rounding of the jitter to a step, which never lengthens the
// longest wait.
const loadStep = 100 * time.Millisecond

type loadConfig struct {
	tasks, perTask int
	// warmup intervals pass before measure intervals are counted, both
	// from the first subscription.
	warmup, measure int
	// exact: also record whether every first poll happened at once, and
	// count events beyond the first.
	exact bool
}

type loadResult struct {
	heapPerWatcher, stackPerWatcher float64
	polls                           pollStats
	firstLate                       int // tasks whose first poll was not at the first subscription
	extraEvents                     int // events after each watcher's first
}

// recordingSource notes when (on the hub's clock) each task is polled. The
// clock is set before the first subscription starts a poller.
type recordingSource struct {
	src TaskSource
	clk *fakeClock

	mu sync.Mutex
	at map[string][]time.Time
}

func (r *recordingSource) DescribeTask(ctx context.Context, taskID string) (Task, error) {
	now := r.clk.Now()
	r.mu.Lock()
	r.at[taskID] = append(r.at[taskID], now)
	r.mu.Unlock()
	return r.src.DescribeTask(ctx, taskID)
}

func (r *recordingSource) times() map[string][]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]time.Time, len(r.at))
	for id, ts := range r.at {
		out[id] = slices.Clone(ts)
	}
	return out
}

// loadRun subscribes cfg.perTask watchers to each of cfg.tasks running
// tasks at one instant, measures the memory they hold once all have their
// first event, then moves the clock, in steps, through the warm-up and the
// measured intervals, recording every poll.
func loadRun(tb testing.TB, cfg loadConfig) loadResult {
	scripts := make(map[string][]step, cfg.tasks)
	for i := range cfg.tasks {
		scripts[fmt.Sprint("task-", i)] = []step{st("init", fmt.Sprint("gpu-", i))}
	}
	src := &recordingSource{src: newFakeSource(scripts), at: make(map[string][]time.Time)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	h, clk := newTestHub(tb, src,
		WithPollInterval(DefaultPollInterval), WithJitter(DefaultJitter), WithMaxPollRate(DefaultMaxPollRate),
		WithHeartbeat(DefaultHeartbeat), WithMaxWatch(DefaultMaxWatch))
	src.clk = clk
	t0 := clk.Now()
	n := cfg.tasks * cfg.perTask
	var first, done sync.WaitGroup
	var extra sync.Map // watcher -> events after the first
	first.Add(n)
	for i := range n {
		sub := h.Subscribe(tb.Context(), fmt.Sprint("task-", i%cfg.tasks))
		done.Go(func() {
			seen := 0
			for range sub.Events() {
				if seen++; seen == 1 {
					first.Done()
				}
			}
			if seen == 0 {
				first.Done()
			}
			if seen > 1 {
				extra.Store(i, seen-1)
			}
		})
	}
	idle(tb, h, clk)
	res := loadResult{}
	if cfg.exact {
		for id, ts := range src.times() {
			if len(ts) != 1 || !ts[0].Equal(t0) {
				tb.Logf("%s: first polls %v, want one at the subscription", id, ts)
				res.firstLate++
			}
		}
		res.firstLate += cfg.tasks - len(src.times())
	}
	// The rate cap spreads the first polls of many tasks over some seconds.
	for i := 0; i < 100 && !allPolled(src, cfg.tasks); i++ {
		clk.Advance(loadStep)
		idle(tb, h, clk)
	}
	first.Wait()
	runtime.GC()
	runtime.ReadMemStats(&after)
	res.heapPerWatcher = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	res.stackPerWatcher = float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n)

	from := t0.Add(time.Duration(cfg.warmup) * DefaultPollInterval)
	end := from.Add(time.Duration(cfg.measure) * DefaultPollInterval)
	for clk.Now().Before(end) {
		clk.Advance(loadStep)
		idle(tb, h, clk)
	}
	res.polls = windowStats(src.times(), from, DefaultPollInterval, cfg.measure)
	if got := h.Stats(); got != (Stats{Tasks: cfg.tasks, Watchers: n}) {
		tb.Errorf("got %+v, want %d tasks and %d watchers", got, cfg.tasks, n)
	}
	h.Close()
	done.Wait()
	extra.Range(func(_, v any) bool { res.extraEvents += v.(int); return true })
	return res
}

func allPolled(src *recordingSource, tasks int) bool {
	src.mu.Lock()
	defer src.mu.Unlock()
	return len(src.at) == tasks
}

// pollStats is what a poll log says about the measured intervals.
type pollStats struct {
	perWindow              []int // provider polls in each measured interval
	minPerTask, maxPerTask int   // fewest and most polls of one task in one interval
	// minGap is the shortest wait between two polls of one task over the
	// whole run; maxGap the longest one ending in the measured intervals.
	minGap, maxGap time.Duration
}

func (p pollStats) mean() float64 {
	sum := 0
	for _, n := range p.perWindow {
		sum += n
	}
	return float64(sum) / float64(len(p.perWindow))
}

func (p pollStats) String() string {
	return fmt.Sprintf("polls per interval %v, per task per interval [%d, %d], waits [%v, %v]",
		p.perWindow, p.minPerTask, p.maxPerTask, p.minGap, p.maxGap)
}

// check fails tb unless no task was polled more than once in an interval,
// no wait was shorter than the interval and no interval had more polls than
// tasks: what one poller per task, never early, means.
func (p pollStats) check(tb testing.TB, tasks int, interval time.Duration) {
	tb.Helper()
	if p.maxPerTask > 1 || p.minGap < interval || slices.Max(p.perWindow) > tasks {
		tb.Errorf("%d tasks: %v; want at most 1 poll per task per interval, no wait under %v, at most %d polls per interval",
			tasks, p, interval, tasks)
	}
}

// windowStats counts the polls in n intervals of length d from from.
func windowStats(log map[string][]time.Time, from time.Time, d time.Duration, n int) pollStats {
	p := pollStats{perWindow: make([]int, n), minPerTask: -1, minGap: -1}
	end := from.Add(time.Duration(n) * d)
	for _, ts := range log {
		per := make([]int, n)
		for i, t := range ts {
			if i > 0 {
				gap := t.Sub(ts[i-1])
				if p.minGap < 0 || gap < p.minGap {
					p.minGap = gap
				}
				if !t.Before(from) && t.Before(end) {
					p.maxGap = max(p.maxGap, gap)
				}
			}
			if t.Before(from) || !t.Before(end) {
				continue
			}
			k := int(t.Sub(from) / d)
			per[k]++
			p.perWindow[k]++
		}
		for _, c := range per {
			p.maxPerTask = max(p.maxPerTask, c)
			if p.minPerTask < 0 || c < p.minPerTask {
				p.minPerTask = c
			}
		}
	}
	return p
}
