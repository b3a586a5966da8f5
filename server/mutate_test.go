package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/auth"
	"github.com/gpubms/gpubms/server/store"
	"github.com/gpubms/gpubms/server/upstream"
)

// TestSentNothing: only a refusal that says the provider did nothing lets
// a request_id be tried again; anything that may follow an action is an
// unknown outcome.
func TestSentNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&upstream.Error{Code: upstream.CodeParameterInvalid, HTTPStatus: 400}, true},
		{&upstream.Error{Code: "InstanceNotFound", HTTPStatus: 400}, true},
		{&upstream.Error{Code: upstream.CodeNotSufficient, HTTPStatus: 400}, true},
		{&upstream.Error{Code: upstream.CodeInstanceError, HTTPStatus: 400}, true},
		{&upstream.Error{Code: upstream.CodeSignatureDoesNotMatch, HTTPStatus: 400}, true},
		{&upstream.Error{Code: "Throttling", HTTPStatus: 429}, true},
		{&upstream.Error{Code: upstream.CodeInternalError, HTTPStatus: 400}, false},
		{&upstream.Error{Code: "OrderResourceError", HTTPStatus: 400}, false},
		{&upstream.Error{Code: upstream.CodeTaskToCoreFaild, HTTPStatus: 400}, false},
		{&upstream.Error{Code: "SomethingNew", HTTPStatus: 400}, false},
		{&upstream.Error{Code: upstream.CodeParameterInvalid, HTTPStatus: 502}, false},
		{&upstream.TransportError{Kind: upstream.KindNetwork, OutcomeUnknown: true}, false},
		{&upstream.TransportError{Kind: upstream.KindNetwork}, true},
		{errPanicked, false},
		{errors.New("anything else"), false},
	} {
		if got := sentNothing(tc.err); got != tc.want {
			t.Errorf("sentNothing(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// countingProvider answers every DeleteGpuInstances after delay and counts
// the answers.
func countingProvider(t *testing.T, delay time.Duration) (*upstream.Client, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"Code":"Success","Msg":"ok","Data":{}}`))
	}))
	t.Cleanup(ts.Close)
	up, err := upstream.New(ts.URL+"/gpubms/v1", testKeyID, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return up, &n
}

func openStore(t *testing.T) *store.Bolt {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// auditLog keeps the events appended.
type auditLog struct {
	mu  sync.Mutex
	evs []*gpubmsv1.AuditEvent
}

func (a *auditLog) AppendAudit(_ context.Context, ev *gpubmsv1.AuditEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.evs = append(a.evs, ev)
	return nil
}

func (a *auditLog) events() []*gpubmsv1.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*gpubmsv1.AuditEvent(nil), a.evs...)
}

func asCaller(ctx context.Context) context.Context {
	return auth.NewContext(ctx, auth.Caller{Name: "ci", Role: auth.Operator, Via: auth.ViaToken})
}

func deleteReq(id string) *gpubmsv1.DeleteGpuInstancesRequest {
	return &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: []string{"gpu-1"}, RequestId: proto.String(id)}
}

// TestRecordOutlivesItsCall: a record in flight does not expire while its
// call runs, however short the TTL: a retry from another server (no shared
// flight) waits for it rather than sending again.
func TestRecordOutlivesItsCall(t *testing.T) {
	t.Parallel()
	up, n := countingProvider(t, 400*time.Millisecond)
	st := openStore(t)
	s1 := New(up, WithRecords(st, 50*time.Millisecond))
	s2 := New(up, WithRecords(st, 50*time.Millisecond))
	short, cancel := context.WithTimeout(asCaller(t.Context()), 50*time.Millisecond)
	defer cancel()
	_, err := s1.DeleteGpuInstances(short, deleteReq("ttl-1"))
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("first call: %v, want DeadlineExceeded", err)
	}
	time.Sleep(100 * time.Millisecond) // past the TTL, the call still running
	if _, err := s2.DeleteGpuInstances(asCaller(t.Context()), deleteReq("ttl-1")); err != nil {
		t.Fatalf("retry on the other server: %v", err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("%d deletes reached the provider, want 1", got)
	}
	for _, s := range []*Service{s1, s2} {
		if err := s.Shutdown(t.Context()); err != nil {
			t.Error(err)
		}
	}
}

// TestShutdownStartsNoMutation: once Shutdown began, a mutation is refused
// before anything is sent, and audited.
func TestShutdownStartsNoMutation(t *testing.T) {
	t.Parallel()
	up, n := countingProvider(t, 0)
	a := new(auditLog)
	s := New(up, WithAudit(a))
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := s.DeleteGpuInstances(asCaller(t.Context()), deleteReq("late-1"))
	if status.Code(err) != codes.Unavailable || n.Load() != 0 {
		t.Errorf("after Shutdown: %v with %d provider requests, want Unavailable and none", err, n.Load())
	}
	if evs := a.events(); len(evs) != 1 || evs[0].GetCode() != "Unavailable" {
		t.Errorf("audit events %v, want one Unavailable", evs)
	}
}

// TestShutdownWaitsForFlights: Shutdown returns only after every mutation
// handed over has finished, however many start at once.
func TestShutdownWaitsForFlights(t *testing.T) {
	t.Parallel()
	up, answered := countingProvider(t, 20*time.Millisecond)
	s := New(up, WithRecords(openStore(t), time.Hour))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = s.DeleteGpuInstances(asCaller(context.Background()), deleteReq(string(rune('a'+i%26))+"-shut"))
		}()
	}
	time.Sleep(30 * time.Millisecond) // some reach the provider, some come later
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	atShutdown := answered.Load()
	wg.Wait()
	time.Sleep(50 * time.Millisecond) // time for a stray request to reach the provider
	if late := answered.Load() - atShutdown; late != 0 {
		t.Errorf("%d provider requests were answered after Shutdown returned", late)
	}
	if atShutdown == 0 {
		t.Error("no mutation was in flight at Shutdown: the test proves nothing")
	}
}

// TestPanicInSendIsUnknown: a send that panics is Internal, never kills
// the process, and leaves the request_id's outcome unknown: never re-sent.
func TestPanicInSendIsUnknown(t *testing.T) {
	t.Parallel()
	up, n := countingProvider(t, 0)
	s := New(up, WithRecords(openStore(t), time.Hour))
	m := mutation[*gpubmsv1.DeleteGpuInstancesResponse]{
		rpc: "DeleteGpuInstances", action: upstream.ActionDeleteGpuInstances,
		req: deleteReq("panic-1"), requestID: "panic-1",
		send:  func(context.Context) (*gpubmsv1.DeleteGpuInstancesResponse, error) { panic("a bug") },
		empty: func() *gpubmsv1.DeleteGpuInstancesResponse { return new(gpubmsv1.DeleteGpuInstancesResponse) },
	}
	_, err := run(s, asCaller(t.Context()), m)
	if status.Code(err) != codes.Internal {
		t.Fatalf("a panicking send: %v, want Internal", err)
	}
	_, err = s.DeleteGpuInstances(asCaller(t.Context()), deleteReq("panic-1"))
	if status.Code(err) != codes.FailedPrecondition || n.Load() != 0 {
		t.Errorf("the retry: %v with %d provider requests, want REQUEST_OUTCOME_UNKNOWN and none", err, n.Load())
	}
}

// TestDuplicateWhoLeavesIsAudited: a concurrent duplicate whose caller
// leaves before the shared call ends has its own audit event.
func TestDuplicateWhoLeavesIsAudited(t *testing.T) {
	t.Parallel()
	up, n := countingProvider(t, 200*time.Millisecond)
	a := new(auditLog)
	s := New(up, WithRecords(openStore(t), time.Hour), WithAudit(a))
	done := make(chan error, 1)
	go func() {
		_, err := s.DeleteGpuInstances(asCaller(context.Background()), deleteReq("dup-1"))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	short, cancel := context.WithTimeout(asCaller(t.Context()), 20*time.Millisecond)
	defer cancel()
	if _, err := s.DeleteGpuInstances(short, deleteReq("dup-1")); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("the duplicate: %v, want DeadlineExceeded", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	codesSeen := map[string]int{}
	for _, ev := range a.events() {
		codesSeen[ev.GetCode()]++
	}
	if codesSeen["OK"] != 1 || codesSeen["DeadlineExceeded"] != 1 || n.Load() != 1 {
		t.Errorf("events %v and %d provider requests, want one OK, one DeadlineExceeded, one request", codesSeen, n.Load())
	}
}
