package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/store/redistest"
)

// TestReplicas: three gpubmsd on one Redis and one provider behave as one:
// a create retried on another replica orders once; protection and leases
// set on one hold on all, and a lease acts once though every replica runs
// an executor; the audit trail is one; with Redis gone, mutations fail
// Unavailable naming the store, reads go on, readiness says why, and all
// recovers when it is back.
func TestReplicas(t *testing.T) {
	t.Parallel()
	rs := redistest.StartPersistent(t) // Redis as it must run for replicas: with AOF
	ec := emulator.DefaultConfig()
	ec.TaskDelay = taskDelay
	prov := newProvider(t, ec)
	var hs []*harness
	for range 3 {
		hs = append(hs, start(t, func(c *setup) {
			c.provider, c.RedisURL, c.LeaseInterval, c.ReadyInterval = prov, rs.URL(0), 50*time.Millisecond, 50*time.Millisecond
		}))
	}
	a, b, c := hs[0], hs[1], hs[2]
	o := findOffer(t, a.c, 2)

	req := withRequestID(o.createRequest("replicated", 1), "replicas-create-1")
	first, err := a.c.CreateGpuInstance(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.c.CreateGpuInstance(ctx(t), req)
	if err != nil || again.GetTaskId() != first.GetTaskId() {
		t.Fatalf("the same request_id on another replica: %v, %v; want task %s", again, err, first.GetTaskId())
	}
	if n := prov.calls("CreateGpuInstance"); n != 1 {
		t.Fatalf("%d creates reached the provider, want 1", n)
	}
	watchTask(t, c.c, first.GetTaskId())
	ids := serversNamed(t, c.c, "replicated")

	fa, fb, fc := gpubmsv1.NewFleetServiceClient(a.c.conn), gpubmsv1.NewFleetServiceClient(b.c.conn), gpubmsv1.NewFleetServiceClient(c.c.conn)
	if _, err := fa.SetProtection(ctx(t), &gpubmsv1.SetProtectionRequest{ResourceIds: ids, Protected: true}); err != nil {
		t.Fatal(err)
	}
	_, err = b.c.DeleteGpuInstances(ctx(t), &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: ids})
	wantCode(t, err, codes.FailedPrecondition, "PROTECTED")
	if _, err := fc.SetProtection(ctx(t), &gpubmsv1.SetProtectionRequest{ResourceIds: ids, Protected: false}); err != nil {
		t.Fatal(err)
	}

	if _, err := fb.SetLease(ctx(t), &gpubmsv1.SetLeaseRequest{ResourceIds: ids, Ttl: durationpb.New(200 * time.Millisecond),
		Action: gpubmsv1.LeaseAction_LEASE_ACTION_DELETE}); err != nil {
		t.Fatal(err)
	}
	waitLease(t, fa, ids[0], gpubmsv1.LeaseState_LEASE_STATE_DONE)
	time.Sleep(300 * time.Millisecond) // more rounds, on every replica
	if n := prov.calls("DeleteGpuInstances"); n != 1 {
		t.Errorf("%d deletes reached the provider, want 1 (one lease, three executors)", n)
	}
	ev, err := fc.ListAuditEvents(ctx(t), &gpubmsv1.ListAuditEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	rpcs := map[string]int{}
	for _, e := range ev.GetEvents() {
		rpcs[e.GetRpc()]++
	}
	if rpcs["CreateGpuInstance"] != 2 || rpcs["SetProtection"] != 2 || rpcs["SetLease"] != 1 || rpcs["DeleteGpuInstances"] < 2 {
		t.Errorf("one audit trail across the replicas: %v", rpcs)
	}

	// Redis goes away.
	rs.Stop()
	_, err = a.c.DeleteGpuInstances(ctx(t), &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: []string{"gpu-x"}})
	wantCode(t, err, codes.Unavailable, "")
	if msg := strings.ToLower(err.Error()); !strings.Contains(msg, "store") || !strings.Contains(msg, "redis") {
		t.Errorf("the refusal %v does not name the store and Redis", err)
	}
	if _, err := a.c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Errorf("a read without Redis: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := a.httpDo(t, http.MethodGet, "/readyz", nil, nil)
		if code == http.StatusServiceUnavailable && strings.Contains(string(body), "store") && strings.Contains(string(body), "redis") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz without Redis: %d %s, want 503 naming the store", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Redis is back: ready again, and mutations go through.
	rs.Restart()
	deadline = time.Now().Add(10 * time.Second)
	for {
		code, body := a.httpDo(t, http.MethodGet, "/readyz", nil, nil)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after Redis came back: %d %s, want 200", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := a.c.CreateGpuInstance(ctx(t), withRequestID(o.createRequest("after", 1), "replicas-after-1")); err != nil {
		t.Errorf("a create after Redis came back: %v", err)
	}
	// No record was lost: the first create's request_id is still answered
	// from its record, on any replica.
	again, err = c.c.CreateGpuInstance(ctx(t), req)
	if err != nil || again.GetTaskId() != first.GetTaskId() {
		t.Errorf("the first request_id after Redis restarted: %v, %v; want task %s", again, err, first.GetTaskId())
	}
	if n := prov.calls("CreateGpuInstance"); n != 2 {
		t.Errorf("%d creates reached the provider, want 2 (the first, once, and the one after)", n)
	}
}

// TestReplicatedWatches: watchers of one task on three replicas cost the
// provider what one replica's poller costs, and every watcher sees the same
// events; when the replica that polls for all of them stops, another takes
// over and the watchers on the others still see the task end.
func TestReplicatedWatches(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	ec := emulator.DefaultConfig()
	ec.TaskDelay = 2 * time.Second
	prov := newProvider(t, ec)
	var hs []*harness
	for range 3 {
		hs = append(hs, start(t, func(c *setup) { c.provider, c.RedisURL = prov, rs.URL(0) }))
	}
	o := findOffer(t, hs[0].c, 1)
	created, err := hs[0].c.CreateGpuInstance(ctx(t), o.createRequest("watched-everywhere", 1))
	if err != nil {
		t.Fatal(err)
	}
	task := created.GetTaskId()
	before := prov.calls("DescribeGpuTask")

	type result struct {
		events []string
		err    error
	}
	watch := func(h *harness, first chan<- struct{}) <-chan result {
		out := make(chan result, 1)
		go func() {
			s, err := h.c.WatchTask(ctx(t), &gpubmsv1.WatchTaskRequest{TaskId: task})
			if err != nil {
				out <- result{err: err}
				return
			}
			var r result
			for {
				ev, err := s.Recv()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						r.err = err
					}
					out <- r
					return
				}
				if !ev.GetEvent().GetHeartbeat() {
					r.events = append(r.events, ev.GetEvent().GetRawStatus())
				}
				if first != nil {
					close(first)
					first = nil
				}
			}
		}()
		return out
	}
	// The first replica polls first, so it owns the task.
	first := make(chan struct{})
	owner := watch(hs[0], first)
	<-first
	var others []<-chan result
	for i := range 10 {
		others = append(others, watch(hs[1+i%2], nil))
	}
	time.Sleep(300 * time.Millisecond)
	if err := hs[0].stop(); err != nil {
		t.Fatal(err)
	}
	if r := <-owner; status.Code(r.err) != codes.Unavailable {
		t.Errorf("the watcher on the stopped replica: %v, %v; want Unavailable (watch again elsewhere)", r.events, r.err)
	}
	for i, ch := range others {
		r := <-ch
		if r.err != nil || len(r.events) == 0 || r.events[len(r.events)-1] != "succeed" || r.events[0] != "init" {
			t.Errorf("watcher %d: %v, %v; want init ... succeed", i, r.events, r.err)
		}
	}
	// About 2 s of a task at one poll per 100 ms, for every watcher on
	// every replica: one poller's worth (about 20), not one per replica
	// (about 40).
	if n := prov.calls("DescribeGpuTask") - before; n > 28 {
		t.Errorf("%d DescribeGpuTask requests for 11 watchers on 3 replicas, want one poller's (about 20)", n)
	}
}

// TestReplicatedRateLimit: a caller's rate limit holds across replicas: the
// calls it makes to two replicas together draw on one budget.
func TestReplicatedRateLimit(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	ec := emulator.DefaultConfig()
	prov := newProvider(t, ec)
	var hs []*harness
	for range 2 {
		hs = append(hs, start(t, func(c *setup) { c.provider, c.RedisURL, c.RateLimitPerCaller = prov, rs.URL(0), 2 }))
	}
	ok, refused := 0, 0
	for i := range 6 {
		_, err := hs[i%2].c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{})
		switch status.Code(err) {
		case codes.OK:
			ok++
		case codes.ResourceExhausted:
			refused++
		default:
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// Two a second for the caller, whichever replica it asks (each alone
	// would let two through, four in all).
	if ok > 3 || refused < 3 {
		t.Errorf("%d calls allowed and %d refused across two replicas, want at most 3 allowed (one shared budget of 2/s)", ok, refused)
	}
}

// TestReplicasOneOrder: the same create with one request_id sent to two
// replicas at once, and again to a replica started afresh, orders once; a
// lease due while one replica stops acts once.
func TestReplicasOneOrder(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	ec := emulator.DefaultConfig()
	ec.TaskDelay = taskDelay
	prov := newProvider(t, ec)
	use := func(c *setup) { c.provider, c.RedisURL, c.LeaseInterval = prov, rs.URL(0), 50*time.Millisecond }
	a, b := start(t, use), start(t, use)
	o := findOffer(t, a.c, 1)
	req := withRequestID(o.createRequest("once", 1), "replicas-once-1")
	type reply struct {
		task string
		err  error
	}
	replies := make(chan reply, 2)
	for _, h := range []*harness{a, b} {
		go func() {
			r, err := h.c.CreateGpuInstance(ctx(t), req)
			replies <- reply{r.GetTaskId(), err}
		}()
	}
	r1, r2 := <-replies, <-replies
	if r1.err != nil || r2.err != nil || r1.task == "" || r1.task != r2.task {
		t.Fatalf("two replicas at once: %+v, %+v; want one task for both", r1, r2)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	c := start(t, use)
	r3, err := c.c.CreateGpuInstance(ctx(t), req)
	if err != nil || r3.GetTaskId() != r1.task {
		t.Fatalf("after a replica restarted: %v, %v; want task %s", r3, err, r1.task)
	}
	if n := prov.calls("CreateGpuInstance"); n != 1 {
		t.Fatalf("%d creates reached the provider, want 1", n)
	}

	watchTask(t, c.c, r1.task)
	ids := serversNamed(t, c.c, "once")
	f := gpubmsv1.NewFleetServiceClient(c.c.conn)
	if _, err := f.SetLease(ctx(t), &gpubmsv1.SetLeaseRequest{ResourceIds: ids, Ttl: durationpb.New(500 * time.Millisecond),
		Action: gpubmsv1.LeaseAction_LEASE_ACTION_DELETE}); err != nil {
		t.Fatal(err)
	}
	if err := a.stop(); err != nil { // perhaps the executor's leader
		t.Fatal(err)
	}
	waitLease(t, f, ids[0], gpubmsv1.LeaseState_LEASE_STATE_DONE)
	time.Sleep(200 * time.Millisecond)
	if n := prov.calls("DeleteGpuInstances"); n != 1 {
		t.Errorf("%d deletes reached the provider, want 1", n)
	}
}

// TestReplicatedProviderCap: GPUBMS_PROVIDER_RATE_LIMIT is one budget for
// every replica: reads sent to two replicas together reach the provider at
// the shared rate, not at twice it.
func TestReplicatedProviderCap(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	prov := newProvider(t, emulator.DefaultConfig())
	var hs []*harness
	for range 2 {
		hs = append(hs, start(t, func(c *setup) { c.provider, c.RedisURL, c.ProviderRateLimit = prov, rs.URL(0), 2 }))
	}
	time.Sleep(1100 * time.Millisecond) // the readiness probes' tokens come back
	before := prov.calls("DescribeGpuDetail")
	done := make(chan struct{}, 10)
	for i := range 10 {
		go func() {
			defer func() { done <- struct{}{} }()
			c, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
			defer cancel()
			_, _ = hs[i%2].c.DescribeGpuDetail(c, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: fmt.Sprintf("gpu-cap-%d", i)})
		}()
	}
	for range 10 {
		<-done
	}
	// A burst of two and two a second for both replicas: two or three in
	// 300 ms (each replica alone would let two through, four in all).
	if n := prov.calls("DescribeGpuDetail") - before; n > 3 || n < 1 {
		t.Errorf("%d requests reached the provider in 300 ms through two replicas, want 1 to 3 (one budget of 2/s)", n)
	}
}

// TestReplicatedWatchSequence: a watcher on the replica that polls and one
// on another see the same sequence of a server's states, short-lived ones
// included: the other replica takes each change from the owner's stream.
func TestReplicatedWatchSequence(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	ec := emulator.DefaultConfig()
	ec.TaskDelay = 150 * time.Millisecond // about one poll interval
	prov := newProvider(t, ec)
	a := start(t, func(c *setup) { c.provider, c.RedisURL = prov, rs.URL(0) })
	b := start(t, func(c *setup) { c.provider, c.RedisURL = prov, rs.URL(0) })
	o := findOffer(t, a.c, 1)
	created, err := a.c.CreateGpuInstance(ctx(t), o.createRequest("sequence", 1))
	if err != nil {
		t.Fatal(err)
	}
	watchTask(t, a.c, created.GetTaskId())
	id := serversNamed(t, a.c, "sequence")[0]

	collect := func(h *harness, first chan<- struct{}) <-chan []string {
		out := make(chan []string, 1)
		s, err := gpubmsv1.NewFleetServiceClient(h.c.conn).WatchGpu(ctx(t), &gpubmsv1.WatchGpuRequest{ResourceId: id})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			var states []string
			for {
				r, err := s.Recv()
				if err != nil {
					out <- states
					return
				}
				if !r.GetEvent().GetHeartbeat() {
					states = append(states, r.GetEvent().GetRawState())
				}
				if first != nil {
					close(first)
					first = nil
				}
			}
		}()
		return out
	}
	first := make(chan struct{})
	onOwner := collect(a, first) // the first to poll owns the server
	<-first
	second := make(chan struct{})
	onOther := collect(b, second)
	<-second
	for _, op := range []string{"stop", "start", "stop"} {
		if _, err := a.c.OperateGpuPower(ctx(t), &gpubmsv1.OperateGpuPowerRequest{Operate: op, ResourceIds: []string{id}}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			d, err := a.c.DescribeGpuDetail(ctx(t), &gpubmsv1.DescribeGpuDetailRequest{ResourceId: id})
			if err == nil && (d.GetState() == "running" || d.GetState() == "stopped") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s: %v, %v", op, d, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // both pollers see the stable state
	}
	if _, err := a.c.DeleteGpuInstances(ctx(t), &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	owner, other := <-onOwner, <-onOther
	if len(owner) < 5 || owner[len(owner)-1] != "gone" {
		t.Fatalf("the owner's watcher saw %v, want the server's life to gone", owner)
	}
	if !slices.Equal(owner, other) {
		t.Errorf("watchers on two replicas saw\n%v and\n%v; want the same sequence", owner, other)
	}
}

// TestReplicatedWatchLoad: 300 WatchTask streams (60 with -short) over
// three replicas on 10 tasks: each sees init then succeed, and the provider
// is polled as by one replica, not three.
func TestReplicatedWatchLoad(t *testing.T) {
	t.Parallel()
	streams := 300
	if testing.Short() {
		streams = 60
	}
	rs := redistest.Start(t)
	ec := emulator.DefaultConfig()
	ec.TaskDelay = 2 * time.Second
	prov := newProvider(t, ec)
	var hs []*harness
	for range 3 {
		hs = append(hs, start(t, func(c *setup) { c.provider, c.RedisURL, c.WatchMaxPollRate = prov, rs.URL(0), 1000 }))
	}
	o := findOffer(t, hs[0].c, 10)
	var tasks []string
	for i := range 10 {
		r, err := hs[0].c.CreateGpuInstance(ctx(t), o.createRequest(fmt.Sprintf("load%d", i), 1))
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, r.GetTaskId())
	}
	before := prov.calls("DescribeGpuTask")
	start := time.Now()
	type result struct {
		task   string
		events []string
		err    error
	}
	results := make(chan result, streams)
	for i := range streams {
		h, task := hs[i%3], tasks[i%len(tasks)]
		go func() {
			s, err := h.c.WatchTask(ctx(t), &gpubmsv1.WatchTaskRequest{TaskId: task})
			if err != nil {
				results <- result{task: task, err: err}
				return
			}
			r := result{task: task}
			for {
				ev, err := s.Recv()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						r.err = err
					}
					results <- r
					return
				}
				if !ev.GetEvent().GetHeartbeat() {
					r.events = append(r.events, ev.GetEvent().GetRawStatus())
				}
			}
		}()
	}
	for range streams {
		r := <-results
		if r.err != nil || !slices.Equal(r.events, []string{"init", "succeed"}) {
			t.Errorf("a watcher of %s: %v, %v; want init then succeed", r.task, r.events, r.err)
		}
	}
	// One poller per task for the three replicas: about a poll per 100 ms
	// per task over the tasks' remaining time, and a few more as tasks end.
	elapsed := time.Since(start)
	onePoller := int(elapsed/pollInterval)*len(tasks) + 2*len(tasks)
	if n := prov.calls("DescribeGpuTask") - before; n > onePoller*3/2 {
		t.Errorf("%d DescribeGpuTask requests in %v for %d streams on 3 replicas, want about one poller's (at most %d)", n, elapsed, streams, onePoller*3/2)
	}
}

// TestReplicatedReattach: a Go client waiting on a replica that stops
// attaches again, through its balancer, to another replica, and gets the
// task's current state and its end.
func TestReplicatedReattach(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	ec := emulator.DefaultConfig()
	ec.TaskDelay = 2 * time.Second
	prov := newProvider(t, ec)
	var hs []*harness
	for range 3 {
		hs = append(hs, start(t, func(c *setup) { c.provider, c.RedisURL = prov, rs.URL(0) }))
	}
	o := findOffer(t, hs[0].c, 1)
	created, err := hs[0].c.CreateGpuInstance(ctx(t), o.createRequest("reattach", 1))
	if err != nil {
		t.Fatal(err)
	}
	// The client's balancer knows only the first replica at first.
	r := manual.NewBuilderWithScheme("replicas")
	r.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: hs[0].grpcAddr}}})
	conn, err := grpc.NewClient(r.Scheme()+":///gpubms", grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := gpubms.NewClient(conn)
	first := make(chan struct{})
	var once sync.Once
	type result struct {
		ev  *gpubmsv1.TaskEvent
		err error
	}
	done := make(chan result, 1)
	go func() {
		ev, err := c.WaitTask(ctx(t), created.GetTaskId(), gpubms.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
			gpubms.WithProgress(func(*gpubmsv1.TaskEvent) { once.Do(func() { close(first) }) }))
		done <- result{ev, err}
	}()
	<-first
	r.UpdateState(resolver.State{Addresses: []resolver.Address{{Addr: hs[1].grpcAddr}, {Addr: hs[2].grpcAddr}}})
	if err := hs[0].stop(); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil || res.ev.GetStatus() != gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED {
		t.Errorf("WaitTask across a replica's stop: %v, %v; want succeed", res.ev, res.err)
	}
}
