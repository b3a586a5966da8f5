package e2e_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/fleet"
)

func withLeaseInterval(d time.Duration) option {
	return func(c *setup) { c.LeaseInterval = d }
}

// createServers creates n servers named name and waits for them.
func createServers(t *testing.T, h *harness, o offer, name string, n int32) []string {
	t.Helper()
	created, err := h.c.CreateGpuInstance(ctx(t), o.createRequest(name, n))
	if err != nil {
		t.Fatal(err)
	}
	watchTask(t, h.c, created.GetTaskId())
	return serversNamed(t, h.c, name)
}

// waitLease waits (at most 10 s) until the server's lease is in state.
func waitLease(t *testing.T, f gpubmsv1.FleetServiceClient, id string, state gpubmsv1.LeaseState) *gpubmsv1.Lease {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := f.ListLeases(ctx(t), &gpubmsv1.ListLeasesRequest{ResourceId: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.GetLeases()) == 1 && r.GetLeases()[0].GetState() == state {
			return r.GetLeases()[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease of %s: %v, want %v within 10s", id, r.GetLeases(), state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// state is a server's state, "gone" when the provider no longer knows it.
func state(t *testing.T, h *harness, id string) string {
	t.Helper()
	d, err := h.c.DescribeGpuDetail(ctx(t), &gpubmsv1.DescribeGpuDetailRequest{ResourceId: id})
	if err != nil {
		return "gone"
	}
	return d.GetState()
}

// TestLeases: at expiry a stop lease stops its server, a delete lease with
// stop_at stops it first and deletes it at expiry, once; a protected
// server is skipped and the refusal audited; all as the caller "lease".
func TestLeases(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider(), withLeaseInterval(50*time.Millisecond))
	f := gpubmsv1.NewFleetServiceClient(h.c.conn)
	o := findOffer(t, h.c, 3)
	ids := createServers(t, h, o, "leased", 3)
	stopOne, deleteOne, guarded := ids[0], ids[1], ids[2]

	if _, err := f.SetProtection(ctx(t), &gpubmsv1.SetProtectionRequest{ResourceIds: []string{guarded}, Protected: true, Reason: "keep"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := f.SetLease(ctx(t), &gpubmsv1.SetLeaseRequest{ResourceIds: []string{stopOne}, Ttl: durationpb.New(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	set, err := f.SetLease(ctx(t), &gpubmsv1.SetLeaseRequest{
		ResourceIds: []string{deleteOne, guarded}, ExpireAt: timestamppb.New(now.Add(3 * time.Second)),
		StopAt: timestamppb.New(now.Add(200 * time.Millisecond)), Action: gpubmsv1.LeaseAction_LEASE_ACTION_DELETE,
	})
	if err != nil {
		t.Fatal(err)
	}
	if l := set.GetLeases(); len(l) != 2 || l[0].GetState() != gpubmsv1.LeaseState_LEASE_STATE_ACTIVE || l[0].GetCaller() == "" {
		t.Fatalf("SetLease: %v", l)
	}

	// The delete lease stops its server at stop_at, before expiry.
	waitLease(t, f, deleteOne, gpubmsv1.LeaseState_LEASE_STATE_STOPPED)
	waitLease(t, f, stopOne, gpubmsv1.LeaseState_LEASE_STATE_DONE)
	waitLease(t, f, deleteOne, gpubmsv1.LeaseState_LEASE_STATE_DONE)
	waitLease(t, f, guarded, gpubmsv1.LeaseState_LEASE_STATE_PROTECTED)
	deadline := time.Now().Add(10 * time.Second)
	for state(t, h, stopOne) != "stopped" || state(t, h, deleteOne) != "gone" {
		if time.Now().After(deadline) {
			t.Fatalf("states %s and %s, want stopped and gone", state(t, h, stopOne), state(t, h, deleteOne))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A few more rounds: nothing is done twice.
	time.Sleep(300 * time.Millisecond)
	if n := h.provider.calls("DeleteGpuInstances"); n != 1 {
		t.Errorf("%d DeleteGpuInstances requests, want 1 (the protected server's refused before the provider)", n)
	}
	if n := h.provider.calls("OperateGpuPower"); n != 2 {
		t.Errorf("%d OperateGpuPower requests, want the two stops (none of the protected server)", n)
	}
	if s := state(t, h, guarded); s != "running" {
		t.Errorf("the protected server is %s, want it running, untouched", s)
	}
	ev, err := f.ListAuditEvents(ctx(t), &gpubmsv1.ListAuditEventsRequest{Caller: fleet.LeaseCaller})
	if err != nil {
		t.Fatal(err)
	}
	var refused, deletes int
	for _, e := range ev.GetEvents() {
		switch {
		case e.GetReason() == fleet.ReasonProtected && slices.Equal(e.GetResourceIds(), []string{guarded}):
			refused++
		case e.GetRpc() == "DeleteGpuInstances" && e.GetCode() == "OK":
			deletes++
		}
	}
	if deletes != 1 || refused < 1 {
		t.Errorf("audit of the lease caller: %d deletes, %d refusals of the protected server; want 1 and at least 1", deletes, refused)
	}

	// Cleared, a lease is gone.
	cl, err := f.ClearLease(ctx(t), &gpubmsv1.ClearLeaseRequest{ResourceIds: []string{guarded, "gpu-no-lease"}})
	if err != nil || !slices.Equal(cl.GetCleared(), []string{guarded}) {
		t.Errorf("ClearLease: %v, %v", cl, err)
	}
}

// TestLeaseTTLOnCreate: a create's lease_ttl becomes a lease on every
// server it made once its task succeeds; GPUBMS_DEFAULT_LEASE gives one to
// a create that asked for none.
func TestLeaseTTLOnCreate(t *testing.T) {
	t.Parallel()
	h := start(t, withLeaseInterval(50*time.Millisecond), func(c *setup) {
		c.DefaultLease, c.DefaultLeaseAction = 48*time.Hour, "delete"
	})
	f := gpubmsv1.NewFleetServiceClient(h.c.conn)
	o := findOffer(t, h.c, 3)
	req := o.createRequest("ttl", 2)
	req.LeaseTtl = durationpb.New(8 * time.Hour)
	req.LeaseAction = gpubmsv1.LeaseAction_LEASE_ACTION_STOP
	created, err := h.c.CreateGpuInstance(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	watchTask(t, h.c, created.GetTaskId())
	for _, id := range serversNamed(t, h.c, "ttl") {
		l := waitLease(t, f, id, gpubmsv1.LeaseState_LEASE_STATE_ACTIVE)
		if l.GetAction() != gpubmsv1.LeaseAction_LEASE_ACTION_STOP || l.GetExpireAt().AsTime().Before(time.Now().Add(7*time.Hour)) {
			t.Errorf("lease %v, want stop in about 8h", l)
		}
	}
	ids := createServers(t, h, o, "defaulted", 1)
	l := waitLease(t, f, ids[0], gpubmsv1.LeaseState_LEASE_STATE_ACTIVE)
	if l.GetAction() != gpubmsv1.LeaseAction_LEASE_ACTION_DELETE || l.GetExpireAt().AsTime().Before(time.Now().Add(47*time.Hour)) {
		t.Errorf("default lease %v, want delete in about 48h", l)
	}
}

// TestLeaseAcrossRestart: a lease set before a restart acts after it, once,
// from the same store.
func TestLeaseAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ec := emulator.DefaultConfig()
	ec.TaskDelay = taskDelay
	prov := newProvider(t, ec)
	use := func(c *setup) { c.provider, c.DataDir, c.LeaseInterval = prov, dir, 50*time.Millisecond }
	h1 := start(t, use)
	o := findOffer(t, h1.c, 1)
	ids := createServers(t, h1, o, "restarted", 1)
	f1 := gpubmsv1.NewFleetServiceClient(h1.c.conn)
	if _, err := f1.SetLease(ctx(t), &gpubmsv1.SetLeaseRequest{
		ResourceIds: ids, Ttl: durationpb.New(2 * time.Second), Action: gpubmsv1.LeaseAction_LEASE_ACTION_DELETE,
	}); err != nil {
		t.Fatal(err)
	}
	if err := h1.stop(); err != nil {
		t.Fatal(err)
	}
	h2 := start(t, use)
	waitLease(t, gpubmsv1.NewFleetServiceClient(h2.c.conn), ids[0], gpubmsv1.LeaseState_LEASE_STATE_DONE)
	time.Sleep(300 * time.Millisecond)
	if n := prov.calls("DeleteGpuInstances"); n != 1 {
		t.Errorf("%d DeleteGpuInstances requests across the restart, want 1", n)
	}
}
