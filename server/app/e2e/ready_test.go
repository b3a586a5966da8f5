package e2e_test

import (
	"testing"
	"time"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// TestWaitReady: after a create, the Go client's WaitReady follows the task
// to success, then each server to running, and answers their details with
// their addresses.
func TestWaitReady(t *testing.T) {
	t.Parallel()
	h := start(t, withTaskDelay(300*time.Millisecond))
	c := gpubms.NewClient(h.c.conn)
	o := findOffer(t, h.c, 2)
	created, err := c.CreateGpuInstance(ctx(t), o.createRequest("ready", 2))
	if err != nil {
		t.Fatal(err)
	}
	servers, err := c.WaitReady(ctx(t), created.GetTaskId(), gpubms.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if len(servers) != 2 {
		t.Fatalf("WaitReady answered %d servers, want 2", len(servers))
	}
	for _, s := range servers {
		cards := s.GetNetworks().GetNetworkCards()
		if s.GetState() != "running" || len(cards) == 0 || cards[0].GetIpAddress() == "" {
			t.Errorf("server %s: state %s, cards %v; want running with an address", s.GetResourceId(), s.GetState(), cards)
		}
	}
	// Delete is done when the server is gone.
	ids := []string{servers[0].GetResourceId(), servers[1].GetResourceId()}
	if _, err := c.DeleteGpuInstances(ctx(t), &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: ids}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		ev, err := c.WaitGpu(ctx(t), id, gpubmsv1.GpuState_GPU_STATE_GONE)
		if err != nil || ev.GetState() != gpubmsv1.GpuState_GPU_STATE_GONE {
			t.Errorf("WaitGpu(%s, gone): %v, %v", id, ev, err)
		}
	}
}
