package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const interval = 5 * time.Second

// newTestHub returns a hub on a fake clock with deterministic defaults: no
// jitter, no heartbeat, no rate cap, no maximum watch time.
func newTestHub(t testing.TB, src TaskSource, opts ...Option) (*Hub, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	base := []Option{
		WithClock(clk),
		WithPollInterval(interval),
		WithJitter(0),
		WithHeartbeat(0),
		WithMaxPollRate(math.Inf(1)),
		WithMaxWatch(0),
		WithRetryBackoff(time.Second, 8*time.Second),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}
	h := NewHub(src, append(base, opts...)...)
	t.Cleanup(h.Close)
	return h, clk
}

// seen is the part of an event that tests compare.
type seen struct {
	Status    string
	IDs       []string
	Heartbeat bool
}

func seenOf(ev Event) seen { return seen{ev.Status, ev.ResourceIDs, ev.Heartbeat} }

// collect reads sub until it ends, bounded in time.
func collect(t testing.TB, sub *Subscription) []seen {
	t.Helper()
	var out []seen
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				return out
			}
			out = append(out, seenOf(ev))
		case <-timeout:
			t.Fatalf("subscription did not end; events so far: %v", out)
		}
	}
}

// recv returns the next event of sub, bounded in time.
func recv(t testing.TB, sub *Subscription) Event {
	t.Helper()
	select {
	case ev, ok := <-sub.Events():
		if !ok {
			t.Fatalf("subscription ended (err %v), want an event", sub.Err())
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

// pending returns the event waiting in sub's mailbox, if any. It is only
// meaningful while the hub is idle (see idle).
func pending(sub *Subscription) (Event, bool) {
	select {
	case ev, ok := <-sub.Events():
		return ev, ok
	default:
		return Event{}, false
	}
}

// idle waits until every poller waits on a timer (n of them) or has ended.
func idle(t testing.TB, h *Hub, clk *fakeClock) {
	t.Helper()
	eventually(t, "pollers to wait", func() bool { return clk.armed() == h.Stats().Tasks })
}

// drive advances the clock by steps until every poller has ended, taking
// each subscriber's event after every step, so nothing is coalesced; it
// returns what each subscriber saw, up to the end of its subscription.
func drive(t testing.TB, h *Hub, clk *fakeClock, by time.Duration, subs ...*Subscription) [][]seen {
	t.Helper()
	got := make([][]seen, len(subs))
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatal("pollers still running after 100 steps")
		}
		idle(t, h, clk)
		for j, sub := range subs {
			if ev, ok := pending(sub); ok {
				got[j] = append(got[j], seenOf(ev))
			}
		}
		if h.Stats().Tasks == 0 {
			break
		}
		clk.Advance(by)
	}
	for j, sub := range subs {
		got[j] = append(got[j], collect(t, sub)...)
	}
	return got
}

func TestSequences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		script    []step
		want      []seen
		wantCode  codes.Code // of Err; OK means nil
		wantCalls int
	}{
		{
			name:      "init init succeed",
			script:    []step{st("init"), st("init"), st("succeed")},
			want:      []seen{{Status: "init"}, {Status: "succeed"}},
			wantCalls: 3,
		},
		{
			name:      "init failed",
			script:    []step{st("init"), st("init"), st("failed")},
			want:      []seen{{Status: "init"}, {Status: "failed"}},
			wantCalls: 3,
		},
		{
			name:      "already succeeded",
			script:    []step{st("succeed", "r1")},
			want:      []seen{{Status: "succeed", IDs: []string{"r1"}}},
			wantCalls: 1,
		},
		{
			name:      "unknown task",
			script:    nil,
			wantCode:  codes.NotFound,
			wantCalls: 1,
		},
		{
			name:      "permanent error after init",
			script:    []step{st("init"), fail(codes.PermissionDenied)},
			want:      []seen{{Status: "init"}},
			wantCode:  codes.PermissionDenied,
			wantCalls: 2,
		},
		{
			name: "transient errors do not end the watch",
			script: []step{st("init"), fail(codes.Unavailable), {err: errors.New("connection reset")},
				fail(codes.DeadlineExceeded), st("init"), st("succeed")},
			want:      []seen{{Status: "init"}, {Status: "succeed"}},
			wantCalls: 6,
		},
		{
			name:      "transient error before the first status",
			script:    []step{fail(codes.Unavailable), st("init"), st("succeed")},
			want:      []seen{{Status: "init"}, {Status: "succeed"}},
			wantCalls: 3,
		},
		{
			name: "resource ids change",
			script: []step{st("init"), st("init", "r1"), st("init", "r1"), st("init", "r1", "r2"),
				st("succeed", "r1", "r2")},
			want: []seen{{Status: "init"}, {Status: "init", IDs: []string{"r1"}},
				{Status: "init", IDs: []string{"r1", "r2"}}, {Status: "succeed", IDs: []string{"r1", "r2"}}},
			wantCalls: 5,
		},
		{
			name:      "reordered resource ids are no change",
			script:    []step{st("init", "a", "b"), st("init", "b", "a"), st("failed", "b", "a")},
			want:      []seen{{Status: "init", IDs: []string{"a", "b"}}, {Status: "failed", IDs: []string{"b", "a"}}},
			wantCalls: 3,
		},
		{
			name:      "unknown status passes through",
			script:    []step{st("init"), st("queued"), st("queued"), st("succeed")},
			want:      []seen{{Status: "init"}, {Status: "queued"}, {Status: "succeed"}},
			wantCalls: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := newFakeSource(map[string][]step{"t1": tt.script})
			h, clk := newTestHub(t, src)
			sub := h.Subscribe(t.Context(), "t1")
			defer sub.Close()
			got := drive(t, h, clk, 10*time.Second, sub)[0]
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if code := status.Code(sub.Err()); code != tt.wantCode {
				t.Errorf("got Err %v, want code %v", sub.Err(), tt.wantCode)
			}
			if got := src.callsOf("t1"); got != tt.wantCalls {
				t.Errorf("got %d source calls, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestPollsEveryIntervalAndNoEventWithoutChange(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {st("init")}})
	h, clk := newTestHub(t, src)
	sub := h.Subscribe(t.Context(), "t1")
	defer sub.Close()
	if ev := recv(t, sub); ev.Status != "init" || ev.WatchedFor != 0 {
		t.Fatalf("got first event %+v, want init watched for 0", ev)
	}
	for i := 2; i <= 5; i++ {
		idle(t, h, clk)
		clk.Advance(interval - time.Millisecond)
		idle(t, h, clk)
		if got := src.callsOf("t1"); got != i-1 {
			t.Fatalf("got %d calls just before poll %d, want %d", got, i, i-1)
		}
		clk.Advance(time.Millisecond)
		eventually(t, "the poll", func() bool { return src.callsOf("t1") == i })
		idle(t, h, clk)
		if ev, ok := pending(sub); ok {
			t.Fatalf("got event %+v after unchanged poll %d, want none", ev, i)
		}
	}
}

func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {
		st("init"), fail(codes.Unavailable), fail(codes.Unavailable), fail(codes.Unavailable),
		fail(codes.Unavailable), st("init"), st("succeed"),
	}})
	h, clk := newTestHub(t, src, WithRetryBackoff(time.Second, 3*time.Second))
	sub := h.Subscribe(t.Context(), "t1")
	defer sub.Close()
	recv(t, sub)
	// The wait before each call after the first: the interval, then backoff
	// 1s, 2s, 3s (capped), 3s, then the interval again after a success.
	waits := []time.Duration{interval, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second, interval}
	for i, w := range waits {
		calls := i + 1
		idle(t, h, clk)
		clk.Advance(w - time.Millisecond)
		idle(t, h, clk)
		if got := src.callsOf("t1"); got != calls {
			t.Fatalf("wait %d: got %d calls %v early, want %d", i, got, time.Millisecond, calls)
		}
		clk.Advance(time.Millisecond)
		eventually(t, fmt.Sprintf("call %d", calls+1), func() bool { return src.callsOf("t1") == calls+1 })
	}
	if got := collect(t, sub); !cmp.Equal(got, []seen{{Status: "succeed"}}, cmpopts.EquateEmpty()) {
		t.Errorf("got remaining events %v, want [succeed]", got)
	}
	if err := sub.Err(); err != nil {
		t.Errorf("got Err %v, want nil", err)
	}
}

func TestFanOutCostsOneWatcher(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 200} {
		t.Run(fmt.Sprint(n, " watchers"), func(t *testing.T) {
			t.Parallel()
			src := newFakeSource(map[string][]step{"t1": {st("init"), st("init"), st("init", "r1"), st("succeed", "r1")}})
			src.gate = make(chan struct{})
			h, clk := newTestHub(t, src)
			subs := make([]*Subscription, n)
			var wg sync.WaitGroup
			for i := range subs {
				wg.Go(func() { subs[i] = h.Subscribe(t.Context(), "t1") })
			}
			wg.Wait()
			if got := h.Stats(); got != (Stats{Tasks: 1, Watchers: n}) {
				t.Fatalf("got stats %+v, want 1 task, %d watchers", got, n)
			}
			close(src.gate)
			got := drive(t, h, clk, interval, subs...)
			want := []seen{{Status: "init"}, {Status: "init", IDs: []string{"r1"}}, {Status: "succeed", IDs: []string{"r1"}}}
			for i := range subs {
				if diff := cmp.Diff(want, got[i], cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("watcher %d: events (-want +got):\n%s", i, diff)
				}
			}
			if got := src.totalCalls(); got != 4 {
				t.Errorf("got %d source calls for %d watchers, want 4 (as for one)", got, n)
			}
		})
	}
}

func TestLateSubscriberGetsCurrentStatusAtOnce(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {st("init", "r1"), st("init", "r1"), st("succeed", "r1")}})
	h, clk := newTestHub(t, src)
	first := h.Subscribe(t.Context(), "t1")
	defer first.Close()
	ev := recv(t, first)
	t0 := ev.ObservedAt
	idle(t, h, clk)
	clk.Advance(2 * time.Second)

	late := h.Subscribe(t.Context(), "t1")
	defer late.Close()
	// Subscribe fills the mailbox before it returns: no poll, no waiting.
	got, ok := pending(late)
	if !ok {
		t.Fatal("late subscriber has no event at once")
	}
	want := Event{TaskID: "t1", Status: "init", ResourceIDs: []string{"r1"}, ObservedAt: t0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("late first event (-want +got):\n%s", diff)
	}
	if calls := src.callsOf("t1"); calls != 1 {
		t.Errorf("got %d source calls after the late subscription, want 1", calls)
	}

	got2 := drive(t, h, clk, interval, first, late)
	for i, name := range []string{"first", "late"} {
		if !cmp.Equal(got2[i], []seen{{Status: "succeed", IDs: []string{"r1"}}}) {
			t.Errorf("%s: got %v, want only succeed", name, got2[i])
		}
	}
	if calls := src.callsOf("t1"); calls != 3 {
		t.Errorf("got %d source calls, want 3", calls)
	}
}

func TestWatchedForAndObservedAt(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {st("init"), st("init"), st("succeed")}})
	h, clk := newTestHub(t, src)
	start := clk.Now()
	a := h.Subscribe(t.Context(), "t1")
	defer a.Close()
	recv(t, a)
	idle(t, h, clk)
	clk.Advance(3 * time.Second)
	b := h.Subscribe(t.Context(), "t1")
	defer b.Close()
	recv(t, b)
	clk.Advance(2 * time.Second) // poll 2 at 5s
	idle(t, h, clk)
	clk.Advance(interval) // poll 3 at 10s: succeed
	for _, tc := range []struct {
		sub  *Subscription
		want time.Duration
	}{{a, 10 * time.Second}, {b, 7 * time.Second}} {
		ev := recv(t, tc.sub)
		if ev.WatchedFor != tc.want || !ev.ObservedAt.Equal(start.Add(10*time.Second)) {
			t.Errorf("got WatchedFor %v ObservedAt +%v, want %v and +10s", ev.WatchedFor, ev.ObservedAt.Sub(start), tc.want)
		}
	}
}

func TestSlowSubscriberGetsLatestStateAndTheTerminalEvent(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {st("init"), st("queued"), st("init", "r1"), st("succeed", "r1")}})
	h, clk := newTestHub(t, src)
	fast := h.Subscribe(t.Context(), "t1")
	defer fast.Close()
	slow := h.Subscribe(t.Context(), "t1")
	defer slow.Close()
	var fastGot []seen
	for range 3 {
		fastGot = append(fastGot, seenOf(recv(t, fast)))
		idle(t, h, clk)
		clk.Advance(interval)
	}
	fastGot = append(fastGot, collect(t, fast)...)
	want := []seen{{Status: "init"}, {Status: "queued"}, {Status: "init", IDs: []string{"r1"}}, {Status: "succeed", IDs: []string{"r1"}}}
	if diff := cmp.Diff(want, fastGot, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("fast subscriber (-want +got):\n%s", diff)
	}
	// The slow one never read: its mailbox kept only the newest state.
	if got := collect(t, slow); !cmp.Equal(got, []seen{{Status: "succeed", IDs: []string{"r1"}}}) {
		t.Errorf("slow subscriber: got %v, want only the terminal event", got)
	}
}

func TestLastUnsubscribeStopsPoller(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {st("init")}})
	h, clk := newTestHub(t, src)
	a := h.Subscribe(t.Context(), "t1")
	b := h.Subscribe(t.Context(), "t1")
	recv(t, a)
	idle(t, h, clk)

	a.Close()
	a.Close() // idempotent
	if got := h.Stats(); got != (Stats{Tasks: 1, Watchers: 1}) {
		t.Fatalf("after one leaves: got %+v, want 1 task, 1 watcher", got)
	}
	if _, ok := <-a.Events(); ok {
		t.Error("closed subscription still delivers")
	}
	if !errors.Is(a.Err(), context.Canceled) {
		t.Errorf("got Err %v, want context.Canceled", a.Err())
	}
	b.Close()
	if got := h.Stats(); got != (Stats{}) {
		t.Fatalf("after the last leaves: got %+v, want none", got)
	}
	eventually(t, "the poller's timer to stop", func() bool { return clk.armed() == 0 })
	clk.Advance(time.Hour)
	if got := src.callsOf("t1"); got != 1 {
		t.Errorf("got %d calls after the last watcher left, want 1", got)
	}
}

func TestResubscribeAfterTerminalPollsAgain(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {st("succeed")}})
	h, _ := newTestHub(t, src)
	for i := 1; i <= 2; i++ {
		sub := h.Subscribe(t.Context(), "t1")
		if got := collect(t, sub); !cmp.Equal(got, []seen{{Status: "succeed"}}) {
			t.Errorf("round %d: got %v, want [succeed]", i, got)
		}
		if got := src.callsOf("t1"); got != i {
			t.Errorf("round %d: got %d calls, want %d", i, got, i)
		}
	}
}

func TestContextEndsSubscription(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {st("init")}})
	h, clk := newTestHub(t, src)

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		sub := h.Subscribe(ctx, "t1")
		recv(t, sub)
		cancel()
		collect(t, sub)
		if !errors.Is(sub.Err(), context.Canceled) {
			t.Errorf("got Err %v, want context.Canceled", sub.Err())
		}
	})
	t.Run("deadline while watching", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		sub := h.Subscribe(ctx, "t1")
		collect(t, sub) // bounded; ends when the deadline passes
		if !errors.Is(sub.Err(), context.DeadlineExceeded) {
			t.Errorf("got Err %v, want context.DeadlineExceeded", sub.Err())
		}
	})
	t.Run("already done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		sub := h.Subscribe(ctx, "t2")
		if got := collect(t, sub); len(got) != 0 {
			t.Errorf("got events %v, want none", got)
		}
		if !errors.Is(sub.Err(), context.Canceled) {
			t.Errorf("got Err %v, want context.Canceled", sub.Err())
		}
	})
	eventually(t, "pollers to stop", func() bool { return h.Stats() == Stats{} && clk.armed() == 0 })
}

// TestUntil: a subscription on a context that is never done, read with
// Until, ends when Until's context does, when its task ends, or when it is
// closed; the poller goes with its last subscriber.
func TestUntil(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {st("init")}, "t2": {st("init"), st("succeed")}})
	h, clk := newTestHub(t, src)

	t.Run("context done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		sub := h.Subscribe(context.Background(), "t1")
		var got []string
		for ev := range sub.Until(ctx) {
			got = append(got, ev.Status)
			cancel()
		}
		if !cmp.Equal(got, []string{"init"}) || !errors.Is(sub.Err(), context.Canceled) {
			t.Errorf("got %v, Err %v; want [init], context.Canceled", got, sub.Err())
		}
	})
	t.Run("task ends", func(t *testing.T) {
		sub := h.Subscribe(context.Background(), "t2")
		defer sub.Close()
		var got []string
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ev := range sub.Until(t.Context()) {
				got = append(got, ev.Status)
			}
		}()
		eventually(t, "the first event", func() bool { return src.callsOf("t2") == 1 })
		idle(t, h, clk)
		clk.Advance(interval)
		<-done
		if !cmp.Equal(got, []string{"init", "succeed"}) || sub.Err() != nil {
			t.Errorf("got %v, Err %v; want [init succeed], nil", got, sub.Err())
		}
	})
	t.Run("reader stops", func(t *testing.T) {
		sub := h.Subscribe(context.Background(), "t1")
		for range sub.Until(t.Context()) {
			break
		}
		if sub.Err() != nil {
			t.Errorf("after the reader broke off: Err %v, want nil (still open)", sub.Err())
		}
		sub.Close()
		if !errors.Is(sub.Err(), context.Canceled) {
			t.Errorf("after Close: Err %v, want context.Canceled", sub.Err())
		}
	})
	eventually(t, "pollers to stop", func() bool { return h.Stats() == Stats{} && clk.armed() == 0 })
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {st("init"), st("init"), st("init"), st("init", "r1")}})
	h, clk := newTestHub(t, src, WithHeartbeat(12*time.Second))
	a := h.Subscribe(t.Context(), "t1")
	defer a.Close()
	recv(t, a)
	idle(t, h, clk)
	clk.Advance(interval) // poll at 5s, unchanged
	idle(t, h, clk)
	clk.Advance(2 * time.Second)
	b := h.Subscribe(t.Context(), "t1") // at 7s
	defer b.Close()
	recv(t, b)
	idle(t, h, clk)
	clk.Advance(3 * time.Second) // poll at 10s, unchanged
	idle(t, h, clk)
	if ev, ok := pending(a); ok {
		t.Fatalf("got %+v before the heartbeat is due, want nothing", ev)
	}
	clk.Advance(2 * time.Second) // heartbeat at 12s
	idle(t, h, clk)
	for _, tc := range []struct {
		name string
		sub  *Subscription
		want time.Duration
	}{{"a", a, 12 * time.Second}, {"b", b, 5 * time.Second}} {
		ev, ok := pending(tc.sub)
		if !ok || !ev.Heartbeat || ev.Status != "init" || ev.WatchedFor != tc.want || ev.ObservedAt.Sub(clk.Now()) != -2*time.Second {
			t.Errorf("%s: got %+v (ok %v), want an init heartbeat watched for %v, observed at the 10s poll", tc.name, ev, ok, tc.want)
		}
	}
	// A change (poll at 15s: r1) restarts the heartbeat period.
	clk.Advance(3 * time.Second)
	idle(t, h, clk)
	if ev := recv(t, a); ev.Heartbeat || len(ev.ResourceIDs) != 1 {
		t.Fatalf("got %+v, want the change to r1", ev)
	}
	for range 2 { // polls at 20s and 25s; no beat until 27s
		clk.Advance(interval)
		idle(t, h, clk)
	}
	if ev, ok := pending(a); ok {
		t.Fatalf("got %+v before the restarted heartbeat, want nothing", ev)
	}
	clk.Advance(2 * time.Second)
	idle(t, h, clk)
	if ev := recv(t, a); !ev.Heartbeat || ev.WatchedFor != 27*time.Second {
		t.Errorf("got %+v, want a heartbeat at 27s", ev)
	}
	// b has not read its change event: the heartbeat did not replace it.
	if ev := recv(t, b); ev.Heartbeat || len(ev.ResourceIDs) != 1 {
		t.Errorf("b: got %+v, want its unread change event kept", ev)
	}
}

func TestMaxWatchTime(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {st("init")}})
	h, clk := newTestHub(t, src, WithMaxWatch(12*time.Second))
	a := h.Subscribe(t.Context(), "t1")
	recv(t, a)
	idle(t, h, clk)
	clk.Advance(interval) // 5s
	idle(t, h, clk)
	b := h.Subscribe(t.Context(), "t1")
	recv(t, b)
	clk.Advance(interval) // 10s
	idle(t, h, clk)
	clk.Advance(2 * time.Second) // 12s: a's time is up
	if got := collect(t, a); len(got) != 0 {
		t.Errorf("a: got %v, want no more events", got)
	}
	if err := a.Err(); err != nil {
		t.Errorf("a: got Err %v, want nil (a clean end)", err)
	}
	idle(t, h, clk)
	if got := h.Stats(); got != (Stats{Tasks: 1, Watchers: 1}) {
		t.Fatalf("got %+v after a's end, want b still watching", got)
	}
	drive(t, h, clk, time.Second) // b ends at 17s
	if err := b.Err(); err != nil {
		t.Errorf("b: got Err %v, want nil", err)
	}
	if got := clk.Now().Sub(a.start); got != 17*time.Second {
		t.Errorf("b ended at %v, want 17s", got)
	}
	if got := src.callsOf("t1"); got != 4 {
		t.Errorf("got %d calls, want 4 (0s, 5s, 10s, 15s)", got)
	}
}

func TestCloseEndsEverySubscription(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {st("init")}, "t2": {st("init")}})
	h, clk := newTestHub(t, src)
	subs := []*Subscription{h.Subscribe(t.Context(), "t1"), h.Subscribe(t.Context(), "t1"), h.Subscribe(t.Context(), "t2")}
	for _, s := range subs {
		recv(t, s)
	}
	idle(t, h, clk)
	h.Close()
	h.Close()
	for i, s := range subs {
		collect(t, s)
		if !errors.Is(s.Err(), ErrHubClosed) {
			t.Errorf("sub %d: got Err %v, want ErrHubClosed", i, s.Err())
		}
	}
	if got := h.Stats(); got != (Stats{}) {
		t.Errorf("got %+v after Close, want nothing", got)
	}
	late := h.Subscribe(t.Context(), "t1")
	collect(t, late)
	if !errors.Is(late.Err(), ErrHubClosed) {
		t.Errorf("Subscribe after Close: got Err %v, want ErrHubClosed", late.Err())
	}
}

func TestCloseInterruptsPollInFlight(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"t1": {st("init")}})
	src.gate = make(chan struct{}) // never opened: the poll blocks until cancelled
	h, _ := newTestHub(t, src)
	sub := h.Subscribe(t.Context(), "t1")
	h.Close()
	collect(t, sub)
	if !errors.Is(sub.Err(), ErrHubClosed) {
		t.Errorf("got Err %v, want ErrHubClosed", sub.Err())
	}
}

func TestGlobalPollRate(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"a": {st("init")}, "b": {st("init")}, "c": {st("init")}})
	h, clk := newTestHub(t, src, WithMaxPollRate(1))
	for _, id := range []string{"a", "b", "c"} {
		defer h.Subscribe(t.Context(), id).Close()
	}
	// One poll now; the other two wait for their turns, one per second.
	for want := 1; want <= 3; want++ {
		idle(t, h, clk)
		if got := src.totalCalls(); got != want {
			t.Fatalf("got %d calls, want %d", got, want)
		}
		clk.Advance(time.Second)
	}
	// The next round: three polls due near 5s, still one per second.
	clk.Advance(2 * time.Second) // 5s
	idle(t, h, clk)
	if got := src.totalCalls(); got != 4 {
		t.Errorf("got %d calls at 5s, want 4", got)
	}
}

func TestSubscribeUnsubscribeRace(t *testing.T) {
	t.Parallel()
	src := newFakeSource(map[string][]step{"a": {st("init")}, "b": {st("init"), st("succeed")}})
	h, clk := newTestHub(t, src)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			id := []string{"a", "b"}[i%2]
			for range 50 {
				sub := h.Subscribe(t.Context(), id)
				select {
				case <-sub.Events():
				default:
				}
				sub.Close()
			}
		})
	}
	for range 50 {
		clk.Advance(interval)
	}
	wg.Wait()
	eventually(t, "pollers to stop", func() bool { return h.Stats() == Stats{} })
}

func TestPermanentError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{status.Error(codes.NotFound, "x"), true},
		{status.Error(codes.InvalidArgument, "x"), true},
		{status.Error(codes.PermissionDenied, "x"), true},
		{status.Error(codes.Internal, "x"), true},
		{status.Error(codes.FailedPrecondition, "x"), true},
		{fmt.Errorf("wrapped: %w", status.Error(codes.NotFound, "x")), true},
		{status.Error(codes.Unavailable, "x"), false},
		{status.Error(codes.DeadlineExceeded, "x"), false},
		{status.Error(codes.ResourceExhausted, "x"), false},
		{errors.New("plain"), false},
		{context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.err), func(t *testing.T) {
			if got := PermanentError(tt.err); got != tt.want {
				t.Errorf("PermanentError(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestNewHubRejectsBadOptions(t *testing.T) {
	t.Parallel()
	src := newFakeSource(nil)
	for name, opt := range map[string]Option{
		"zero interval":      WithPollInterval(0),
		"jitter 1":           WithJitter(1),
		"negative jitter":    WithJitter(-0.1),
		"zero rate":          WithMaxPollRate(0),
		"NaN rate":           WithMaxPollRate(math.NaN()),
		"negative beat":      WithHeartbeat(-1),
		"negative max":       WithMaxWatch(-1),
		"backoff reversed":   WithRetryBackoff(time.Minute, time.Second),
		"nil clock":          WithClock(nil),
		"nil classifier":     WithErrorClassifier(nil),
		"nil logger":         WithLogger(nil),
		"zero first backoff": WithRetryBackoff(0, time.Second),
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHub did not panic")
				}
			}()
			NewHub(src, opt).Close()
		})
	}
}
