package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/watch"
)

// BenchmarkWatchTask10kStreams opens 10,000 WatchTask streams on 100 tasks
// that stay running, over a real gRPC connection (bufconn) to a hub with the
// production defaults (interval, jitter, poll-rate cap, heartbeat) on a fake
// clock, polling a stand-in provider over HTTP. Once every stream has its
// first event it reports the process's heap in use and resident set (client
// and server sides together, both being in this process) and the heap and
// goroutine stack held per stream; then, after a warm-up, it measures several
// poll intervals of steady state and reports the provider polls per interval
// (all tasks), the most polls of one task in one interval (1: a poller
// polling twice shows 2 here even when the rate cap hides it in the total),
// and the shortest and longest wait between two polls of a task.
//
//	go test -run '^$' -bench WatchTask10k -benchtime 1x ./server
func BenchmarkWatchTask10kStreams(b *testing.B) {
	const tasks, streams = 100, 10_000
	env, clk, rec := startLoadEnv(b, tasks)
	b.ReportAllocs()
	for b.Loop() {
		r := streamLoadRun(b, env, clk, rec, streamLoadConfig{tasks: tasks, streams: streams, warmup: 3, measure: 6})
		b.ReportMetric(r.heapPerStream, "heap-B/stream")
		b.ReportMetric(r.stackPerStream, "stack-B/stream")
		b.ReportMetric(r.heapMB, "MB-heap")
		if r.rssMB > 0 {
			b.ReportMetric(r.rssMB, "MB-rss")
		}
		b.ReportMetric(r.polls.mean(), "polls/interval")
		b.ReportMetric(float64(slices.Max(r.polls.perWindow)), "max-polls/interval")
		b.ReportMetric(float64(r.polls.maxPerTask), "max-polls/task/interval")
		b.ReportMetric(r.polls.minGap.Seconds(), "min-gap-s")
		b.ReportMetric(r.polls.maxGap.Seconds(), "max-gap-s")
		r.polls.check(b, tasks, watch.DefaultPollInterval)
	}
}

// TestWatchTaskStreamsPollEachTaskOncePerInterval is the benchmark's claim
// at a size that runs in every test run: 1,000 WatchTask streams on 20
// running tasks over 3 poll intervals from the first subscription, with the
// production defaults. Jitter only lengthens a wait, by less than
// DefaultJitter of the interval, so the k-th poll of a task (from 0) falls
// in [k·I, k·(1+j)·I], inside the k-th interval window while k·j < 1; 20
// tasks never exceed the cap's burst. So every task is polled by the
// provider exactly once in each of the 3 intervals. Like the other tests on
// startWatchEnv it is not parallel (its leak check sees every goroutine).
func TestWatchTaskStreamsPollEachTaskOncePerInterval(t *testing.T) {
	const tasks, streams, intervals = 20, 1000, 3
	env, clk, rec := startLoadEnv(t, tasks)
	r := streamLoadRun(t, env, clk, rec, streamLoadConfig{tasks: tasks, streams: streams, measure: intervals})
	p := r.polls
	for k, n := range p.perWindow {
		if n != tasks {
			t.Errorf("interval %d: %d provider polls, want exactly %d (one per task)", k, n, tasks)
		}
	}
	if p.minPerTask != 1 || p.maxPerTask != 1 {
		t.Errorf("provider polls of one task in one interval range over [%d, %d], want exactly 1", p.minPerTask, p.maxPerTask)
	}
	maxGap := watch.DefaultPollInterval + time.Duration(float64(watch.DefaultPollInterval)*watch.DefaultJitter)
	if p.minGap < watch.DefaultPollInterval || p.maxGap > maxGap {
		t.Errorf("waits between two polls of a task range over [%v, %v], want within [%v, %v]",
			p.minGap, p.maxGap, watch.DefaultPollInterval, maxGap)
	}
	if r.extraEvents != 0 {
		t.Errorf("streams got %d events beyond their first, want none (the tasks did not change)", r.extraEvents)
	}
	p.check(t, tasks, watch.DefaultPollInterval)
}

// loadStep is how far the clock moves at a time. It divides the interval and
// the longest jittered wait (6s), so stepping adds no slack to a wait.
const loadStep = 100 * time.Millisecond

// startLoadEnv serves tasks running tasks (task-0, ...) through a hub with
// the production defaults on a fake clock, recording each provider poll.
func startLoadEnv(tb testing.TB, tasks int) (*watchEnv, *loadClock, *pollRecorder) {
	scripts := make(map[string][]string, tasks)
	for i := range tasks {
		scripts[fmt.Sprint("task-", i)] = []string{"init"}
	}
	clk := newLoadClock()
	prov := &watchProvider{scripts: scripts, calls: make(map[string]int)}
	rec := &pollRecorder{h: prov, clk: clk, at: make(map[string][]time.Time)}
	env := startWatchEnvOver(tb, rec, "AKID-test", "test-secret", false,
		watch.WithClock(clk),
		watch.WithPollInterval(watch.DefaultPollInterval),
		watch.WithJitter(watch.DefaultJitter),
		watch.WithMaxPollRate(watch.DefaultMaxPollRate),
		watch.WithHeartbeat(watch.DefaultHeartbeat),
		watch.WithMaxWatch(watch.DefaultMaxWatch),
		watch.WithRetryBackoff(watch.DefaultRetryInitial, watch.DefaultRetryMaxDelay))
	env.prov = prov
	return env, clk, rec
}

type streamLoadConfig struct {
	tasks, streams int
	// warmup intervals pass before measure intervals are counted, both
	// from the first subscription.
	warmup, measure int
}

type streamLoadResult struct {
	heapPerStream, stackPerStream float64
	heapMB, rssMB                 float64 // HeapInuse and VmRSS (0 off Linux) with every stream open
	polls                         pollStats
	extraEvents                   int64 // events after each stream's first
}

// streamLoadRun opens cfg.streams WatchTask streams on cfg.tasks tasks while
// the clock stands still, so every poller starts at one instant; measures
// the memory once every stream has its first event; then moves the clock, in
// steps, through the warm-up and the measured intervals.
func streamLoadRun(tb testing.TB, env *watchEnv, clk *loadClock, rec *pollRecorder, cfg streamLoadConfig) streamLoadResult {
	tb.Helper()
	rec.reset()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	defer cancel()
	t0 := clk.Now()
	var first, done sync.WaitGroup
	var extra atomic.Int64
	first.Add(cfg.streams)
	for i := range cfg.streams {
		done.Go(func() {
			s, err := env.client.WatchTask(ctx, &gpubmsv1.WatchTaskRequest{TaskId: fmt.Sprint("task-", i%cfg.tasks)})
			if err == nil {
				_, err = s.Recv()
			}
			first.Done()
			if err != nil {
				tb.Error(err)
				return
			}
			for {
				if _, err := s.Recv(); err != nil {
					return
				}
				extra.Add(1)
			}
		})
	}
	want := watch.Stats{Tasks: cfg.tasks, Watchers: cfg.streams}
	waitLoad(tb, "every stream subscribed", func() bool { return env.hub.Stats() == want })
	if !clk.Now().Equal(t0) {
		tb.Fatal("the clock moved while the streams opened")
	}
	idleLoad(tb, env.hub, clk)
	// The rate cap spreads the first polls of many tasks over some seconds.
	for i := 0; i < 100 && rec.tasks() < cfg.tasks; i++ {
		clk.advance(loadStep)
		idleLoad(tb, env.hub, clk)
	}
	first.Wait()
	runtime.GC()
	runtime.ReadMemStats(&after)
	res := streamLoadResult{
		heapPerStream:  float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(cfg.streams),
		stackPerStream: float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(cfg.streams),
		heapMB:         float64(after.HeapInuse) / (1 << 20),
		rssMB:          float64(vmRSS()) / (1 << 20),
	}

	from := t0.Add(time.Duration(cfg.warmup) * watch.DefaultPollInterval)
	end := from.Add(time.Duration(cfg.measure) * watch.DefaultPollInterval)
	for clk.Now().Before(end) {
		clk.advance(loadStep)
		idleLoad(tb, env.hub, clk)
	}
	res.polls = windowStats(rec.times(), from, watch.DefaultPollInterval, cfg.measure)
	if got := env.hub.Stats(); got != want {
		tb.Errorf("got %+v, want %+v", got, want)
	}
	cancel()
	done.Wait()
	waitLoad(tb, "the server to drop the watchers", func() bool { return env.hub.Stats() == watch.Stats{} })
	res.extraEvents = extra.Load()
	return res
}

// vmRSS returns the process's resident set size in bytes, from
// /proc/self/status; 0 where there is none.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(v) // "123456 kB"
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// idleLoad waits until every poller waits on a timer of clk: none is
// polling, so moving the clock now is seen by all of them.
func idleLoad(tb testing.TB, h *watch.Hub, clk *loadClock) {
	tb.Helper()
	waitLoad(tb, "pollers to wait", func() bool { return clk.armed() == h.Stats().Tasks })
}

// waitLoad waits, bounded in time, until cond holds.
func waitLoad(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// pollRecorder notes when, on the hub's clock, the provider is asked about
// each task. The clock stands still while a poll is in flight (the test
// moves it only when every poller waits), so that is when the poll was made.
type pollRecorder struct {
	h   http.Handler
	clk *loadClock

	mu sync.Mutex
	at map[string][]time.Time
}

func (r *pollRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	id, now := req.URL.Query().Get("TaskId"), r.clk.Now()
	r.mu.Lock()
	r.at[id] = append(r.at[id], now)
	r.mu.Unlock()
	r.h.ServeHTTP(w, req)
}

func (r *pollRecorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.at)
}

func (r *pollRecorder) tasks() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.at)
}

func (r *pollRecorder) times() map[string][]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]time.Time, len(r.at))
	for id, ts := range r.at {
		out[id] = slices.Clone(ts)
	}
	return out
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

// loadClock is a watch.Clock that moves only when the test advances it.
type loadClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*loadTimer]struct{} // armed, not yet fired or stopped
}

type loadTimer struct {
	clk  *loadClock
	when time.Time
	ch   chan time.Time
}

func newLoadClock() *loadClock {
	return &loadClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), timers: make(map[*loadTimer]struct{})}
}

func (c *loadClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *loadClock) NewTimer(d time.Duration) watch.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &loadTimer{clk: c, when: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
	} else {
		c.timers[t] = struct{}{}
	}
	return t
}

func (t *loadTimer) C() <-chan time.Time { return t.ch }

func (t *loadTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	_, armed := t.clk.timers[t]
	delete(t.clk.timers, t)
	return armed
}

// advance moves the clock by d and fires every timer that is due.
func (c *loadClock) advance(d time.Duration) {
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

func (c *loadClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func (p *watchProvider) totalCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		n += c
	}
	return n
}
