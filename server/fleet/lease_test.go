package fleet

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/auth"
	"github.com/gpubms/gpubms/server/store"
)

// fakeGpus is a GpuService of servers in memory: a stop stops at once, a
// delete removes at once; it records every mutating call with its
// request_id and the caller, and can fail the next call of an RPC.
type fakeGpus struct {
	mu       sync.Mutex
	states   map[string]string
	tasks    map[string]*gpubmsv1.DescribeGpuTaskResponse
	calls    []string // "rpc id request_id caller", of the calls that reached it
	failNext map[string]error
	done     map[string]bool // request ids answered: a repeat is replayed, not done again
	pages    int32           // DescribeGpu's pages, one server each
	listed   int             // DescribeGpu calls
}

// record notes a call; it reports false for a request id already answered
// (replayed, as gpubms's idempotency records do).
func (f *fakeGpus) record(ctx context.Context, rpc, id, rid string) (bool, error) {
	if f.done[rid] {
		return false, nil
	}
	c, _ := auth.FromContext(ctx)
	f.calls = append(f.calls, rpc+" "+id+" "+rid+" "+c.Name)
	if err := f.failNext[rpc]; err != nil {
		delete(f.failNext, rpc)
		return false, err
	}
	if f.done == nil {
		f.done = map[string]bool{}
	}
	f.done[rid] = true
	return true, nil
}

func (f *fakeGpus) DescribeGpuDetail(_ context.Context, r *gpubmsv1.DescribeGpuDetailRequest) (*gpubmsv1.DescribeGpuDetailResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.states[r.GetResourceId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "InstanceNotFound")
	}
	return &gpubmsv1.DescribeGpuDetailResponse{ResourceId: r.GetResourceId(), State: st}, nil
}

func (f *fakeGpus) DescribeGpuTask(_ context.Context, r *gpubmsv1.DescribeGpuTaskRequest) (*gpubmsv1.DescribeGpuTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tasks[r.GetTaskId()]; t != nil {
		return t, nil
	}
	return nil, status.Error(codes.NotFound, "DataNotExists")
}

func (f *fakeGpus) OperateGpuPower(ctx context.Context, r *gpubmsv1.OperateGpuPowerRequest) (*gpubmsv1.OperateGpuPowerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fresh, err := f.record(ctx, "stop", r.GetResourceIds()[0], r.GetRequestId()); err != nil || !fresh {
		return &gpubmsv1.OperateGpuPowerResponse{}, err
	}
	f.states[r.GetResourceIds()[0]] = "stopped"
	return &gpubmsv1.OperateGpuPowerResponse{}, nil
}

func (f *fakeGpus) DeleteGpuInstances(ctx context.Context, r *gpubmsv1.DeleteGpuInstancesRequest) (*gpubmsv1.DeleteGpuInstancesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fresh, err := f.record(ctx, "delete", r.GetResourceIds()[0], r.GetRequestId()); err != nil || !fresh {
		return &gpubmsv1.DeleteGpuInstancesResponse{}, err
	}
	delete(f.states, r.GetResourceIds()[0])
	return &gpubmsv1.DeleteGpuInstancesResponse{}, nil
}

func (f *fakeGpus) DescribeGpu(_ context.Context, r *gpubmsv1.DescribeGpuRequest) (*gpubmsv1.DescribeGpuResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed++
	if f.pages == 0 {
		return &gpubmsv1.DescribeGpuResponse{}, nil
	}
	// One server a page, f.pages pages.
	return &gpubmsv1.DescribeGpuResponse{Pages: f.pages, PageNumber: r.GetPageNumber(),
		Records: []*gpubmsv1.Gpu{{ResourceId: fmt.Sprintf("gpu-%d", r.GetPageNumber()), State: "running"}}}, nil
}

func (f *fakeGpus) callsSoFar() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// executor is a fleet Service with leases on a real store in dir.
func executor(t *testing.T, dir string, gpus *fakeGpus, clk *clock) (*Service, *store.Bolt) {
	t.Helper()
	st, err := store.Open(dir, store.WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, WithProtection(st, nil), WithLeases(st, gpus, time.Minute, clk.now)), st
}

func leaseCtx(t *testing.T) context.Context {
	return auth.NewContext(t.Context(), auth.Caller{Name: LeaseCaller, Role: auth.Operator})
}

func operator(t *testing.T) context.Context {
	return auth.NewContext(t.Context(), auth.Caller{Name: "alice", Role: auth.Operator})
}

func leaseOf(t *testing.T, s *Service, id string) *gpubmsv1.Lease {
	t.Helper()
	r, err := s.ListLeases(t.Context(), &gpubmsv1.ListLeasesRequest{ResourceId: id})
	if err != nil || len(r.GetLeases()) != 1 {
		t.Fatalf("ListLeases(%s) = %v, %v", id, r, err)
	}
	return r.GetLeases()[0]
}

// TestLeaseExecutorClock: on a fake clock, each lease acts at its time,
// once, and never again, across a restart on the same store too.
func TestLeaseExecutorClock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC)}
	gpus := &fakeGpus{states: map[string]string{"a": "running", "b": "running", "c": "running", "d": "running"}, failNext: map[string]error{}}
	s, _ := executor(t, dir, gpus, clk)
	start := clk.now()
	mustSet := func(req *gpubmsv1.SetLeaseRequest) {
		t.Helper()
		if _, err := s.SetLease(operator(t), req); err != nil {
			t.Fatal(err)
		}
	}
	mustSet(&gpubmsv1.SetLeaseRequest{ResourceIds: []string{"a"}, Ttl: durationpb.New(8 * time.Hour)})
	mustSet(&gpubmsv1.SetLeaseRequest{ResourceIds: []string{"b"}, ExpireAt: timestamppb.New(start.Add(10 * time.Hour)),
		StopAt: timestamppb.New(start.Add(9 * time.Hour)), Action: gpubmsv1.LeaseAction_LEASE_ACTION_DELETE})
	mustSet(&gpubmsv1.SetLeaseRequest{ResourceIds: []string{"c"}, Ttl: durationpb.New(8 * time.Hour), Action: gpubmsv1.LeaseAction_LEASE_ACTION_DELETE})
	mustSet(&gpubmsv1.SetLeaseRequest{ResourceIds: []string{"d"}, Ttl: durationpb.New(8 * time.Hour)})
	if _, err := s.SetProtection(operator(t), &gpubmsv1.SetProtectionRequest{ResourceIds: []string{"d"}, Protected: true, Reason: "keep"}); err != nil {
		t.Fatal(err)
	}
	gpus.mu.Lock()
	delete(gpus.states, "c") // gone before its lease
	gpus.mu.Unlock()

	s.leaseRound(leaseCtx(t))
	if calls := gpus.callsSoFar(); len(calls) != 0 {
		t.Fatalf("before any lease is due: calls %v", calls)
	}
	clk.advance(8 * time.Hour)
	s.leaseRound(leaseCtx(t))
	clk.advance(time.Minute) // the next round sees what the stop did
	s.leaseRound(leaseCtx(t))
	if got := leaseOf(t, s, "a").GetState(); got != gpubmsv1.LeaseState_LEASE_STATE_DONE {
		t.Errorf("a at its expiry: %v, want DONE", got)
	}
	if got := leaseOf(t, s, "c").GetState(); got != gpubmsv1.LeaseState_LEASE_STATE_GONE {
		t.Errorf("c, gone: %v, want GONE", got)
	}
	if got := leaseOf(t, s, "d"); got.GetState() != gpubmsv1.LeaseState_LEASE_STATE_PROTECTED || got.GetLastError() == "" {
		t.Errorf("d, protected: %v, want PROTECTED with why", got)
	}
	clk.advance(time.Hour) // b's stop_at
	gpus.mu.Lock()
	gpus.failNext["stop"] = status.Error(codes.Unavailable, "provider busy")
	gpus.mu.Unlock()
	s.leaseRound(leaseCtx(t))
	if l := leaseOf(t, s, "b"); l.GetAttempts() != 1 || l.GetLastError() == "" || l.GetState() != gpubmsv1.LeaseState_LEASE_STATE_ACTIVE {
		t.Errorf("b after a failed stop: %v, want one attempt recorded, still active", l)
	}
	clk.advance(10 * time.Minute) // past the backoff
	s.leaseRound(leaseCtx(t))
	clk.advance(time.Minute)
	s.leaseRound(leaseCtx(t))
	if got := leaseOf(t, s, "b").GetState(); got != gpubmsv1.LeaseState_LEASE_STATE_STOPPED {
		t.Errorf("b at stop_at: %v, want STOPPED", got)
	}

	// Restart: a new executor on the same store.
	if err := s.leases.(*store.Bolt).Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = executor(t, dir, gpus, clk)
	clk.advance(time.Hour) // b's expiry
	for range 4 {
		s.leaseRound(leaseCtx(t))
		clk.advance(time.Minute)
	}
	if got := leaseOf(t, s, "b").GetState(); got != gpubmsv1.LeaseState_LEASE_STATE_DONE {
		t.Errorf("b at its expiry, after the restart: %v, want DONE", got)
	}
	want := map[string]int{"stop a": 1, "stop b": 2, "delete b": 1} // b's first stop failed
	got := map[string]int{}
	rids := map[string]string{}
	for _, c := range gpus.callsSoFar() {
		var rpc, id, rid, caller string
		n, _ := fmt.Sscan(c, &rpc, &id, &rid, &caller)
		if n != 4 || caller != LeaseCaller || rid == "" {
			t.Errorf("call %q: want rpc, server, request id, caller lease", c)
		}
		got[rpc+" "+id]++
		if prev, ok := rids[rpc+" "+id]; ok && prev != rid {
			t.Errorf("%s %s retried with request id %s, then %s: want the same", rpc, id, prev, rid)
		}
		rids[rpc+" "+id] = rid
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d calls, want %d (all calls %v)", k, got[k], n, gpus.callsSoFar())
		}
	}
	if len(got) != len(want) {
		t.Errorf("calls %v, want only %v", got, want)
	}
	ev, _, err := s.leases.(*store.Bolt).ListAudit(t.Context(), store.AuditQuery{Caller: LeaseCaller})
	if err != nil || len(ev) == 0 || ev[0].GetReason() != ReasonProtected {
		t.Errorf("audit of the lease caller: %v, %v; want the protected refusals", ev, err)
	}

	// A month on, the finished leases are no longer listed; the one still
	// waiting (the protected server's) is.
	clk.advance(31 * 24 * time.Hour)
	s.leaseRound(leaseCtx(t))
	r, err := s.ListLeases(t.Context(), &gpubmsv1.ListLeasesRequest{})
	if err != nil || len(r.GetLeases()) != 1 || r.GetLeases()[0].GetResourceId() != "d" {
		t.Errorf("leases a month on: %v, %v; want d's only", r.GetLeases(), err)
	}
}

// TestLeaseTasks: a create's lease is set on its servers once the task
// succeeds, from the task's servers, and who created them recorded; a
// failed task sets none.
func TestLeaseTasks(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC)}
	gpus := &fakeGpus{states: map[string]string{}, failNext: map[string]error{}, tasks: map[string]*gpubmsv1.DescribeGpuTaskResponse{
		"t1": {TaskStatus: gpubmsv1.TaskStatus_TASK_STATUS_INIT},
		"t2": {TaskStatus: gpubmsv1.TaskStatus_TASK_STATUS_FAILED},
	}}
	s, st := executor(t, t.TempDir(), gpus, clk)
	for _, lt := range []store.LeaseTask{
		{TaskID: "t1", TTL: 8 * time.Hour, Action: gpubmsv1.LeaseAction_LEASE_ACTION_DELETE, Caller: "ci", Created: clk.now()},
		{TaskID: "t2", TTL: 8 * time.Hour, Caller: "ci", Created: clk.now()},
	} {
		if err := st.PutLeaseTask(t.Context(), lt); err != nil {
			t.Fatal(err)
		}
	}
	s.leaseRound(leaseCtx(t))
	if ls, _ := st.Leases(t.Context()); len(ls) != 0 {
		t.Fatalf("leases before the task succeeded: %v", ls)
	}
	clk.advance(5 * time.Minute)
	gpus.mu.Lock()
	gpus.tasks["t1"] = &gpubmsv1.DescribeGpuTaskResponse{TaskStatus: gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED, ResourceIds: []string{"x", "y"}}
	gpus.mu.Unlock()
	s.leaseRound(leaseCtx(t))
	ls, _ := st.Leases(t.Context())
	if len(ls) != 2 || ls[0].GetAction() != gpubmsv1.LeaseAction_LEASE_ACTION_DELETE || !ls[0].GetExpireAt().AsTime().Equal(clk.now().Add(8*time.Hour)) ||
		ls[0].GetCaller() != "ci" {
		t.Errorf("leases after the task: %v, want delete in 8h for x and y, set for ci", ls)
	}
	made, _ := st.Creations(t.Context())
	if made["x"].Caller != "ci" || made["y"].TaskID != "t1" {
		t.Errorf("creations %v, want x and y by ci from t1", made)
	}
	if left, _ := st.LeaseTasks(t.Context()); len(left) != 0 {
		t.Errorf("lease tasks left: %v, want none", left)
	}
}

// TestLeaseStepsThatDidNotTake: a step is done when the server shows it: a
// server started again after its lease stopped it at stop_at is stopped
// again at expiry, and a stop the provider accepted without effect is sent
// again, each time as a new request (a repeat of the old one would only be
// replayed).
func TestLeaseStepsThatDidNotTake(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC)}
	gpus := &fakeGpus{states: map[string]string{"a": "running", "b": "running"}, failNext: map[string]error{}}
	s, _ := executor(t, t.TempDir(), gpus, clk)
	start := clk.now()
	if _, err := s.SetLease(operator(t), &gpubmsv1.SetLeaseRequest{ResourceIds: []string{"a"}, Action: gpubmsv1.LeaseAction_LEASE_ACTION_DELETE,
		ExpireAt: timestamppb.New(start.Add(10 * time.Hour)), StopAt: timestamppb.New(start.Add(9 * time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetLease(operator(t), &gpubmsv1.SetLeaseRequest{ResourceIds: []string{"b"}, Ttl: durationpb.New(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	round := func() {
		s.leaseRound(leaseCtx(t))
		clk.advance(time.Minute)
	}
	clk.advance(time.Hour) // b expires
	gpus.mu.Lock()
	gpus.done = map[string]bool{}
	gpus.mu.Unlock()
	// b's first stop is accepted but the server stays running (its task failed).
	s.leaseRound(leaseCtx(t))
	gpus.mu.Lock()
	gpus.states["b"] = "running"
	gpus.mu.Unlock()
	clk.advance(time.Minute)
	round()
	round()
	if got := leaseOf(t, s, "b"); got.GetState() != gpubmsv1.LeaseState_LEASE_STATE_DONE || got.GetSteps() != 2 {
		t.Errorf("b: %v, want DONE after two stops", got)
	}

	clk.t = start.Add(9 * time.Hour) // a's stop_at
	round()
	round()
	if got := leaseOf(t, s, "a").GetState(); got != gpubmsv1.LeaseState_LEASE_STATE_STOPPED {
		t.Fatalf("a at stop_at: %v, want STOPPED", got)
	}
	gpus.mu.Lock()
	gpus.states["a"] = "running" // started again by hand
	gpus.mu.Unlock()
	clk.t = start.Add(10 * time.Hour) // a expires
	for range 4 {
		round()
	}
	if got := leaseOf(t, s, "a"); got.GetState() != gpubmsv1.LeaseState_LEASE_STATE_DONE {
		t.Errorf("a at expiry: %v, want DONE (stopped again, then deleted)", got)
	}
	counts := map[string]int{}
	for _, c := range gpus.callsSoFar() {
		f := strings.Fields(c)
		counts[f[0]+" "+f[1]]++
	}
	if counts["stop a"] != 2 || counts["delete a"] != 1 || counts["stop b"] != 2 {
		t.Errorf("calls %v: want a stopped twice and deleted once, b stopped twice", counts)
	}
}

// TestListFleetTruncated: a fleet larger than ListFleet reads says so.
func TestListFleetTruncated(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC)}
	for _, tc := range []struct {
		pages     int32
		truncated bool
		servers   int
	}{{3, false, 3}, {maxFleetPages, false, maxFleetPages}, {maxFleetPages + 5, true, maxFleetPages}} {
		gpus := &fakeGpus{states: map[string]string{}, failNext: map[string]error{}, pages: tc.pages}
		s, _ := executor(t, t.TempDir(), gpus, clk)
		r, err := s.ListFleet(t.Context(), &gpubmsv1.ListFleetRequest{})
		if err != nil || r.GetTruncated() != tc.truncated || len(r.GetServers()) != tc.servers {
			t.Errorf("%d pages: %d servers, truncated %v, %v; want %d, %v", tc.pages, len(r.GetServers()), r.GetTruncated(), err, tc.servers, tc.truncated)
		}
	}
}
