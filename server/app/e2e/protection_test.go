package e2e_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server"
)

// TestProtection: a protected server is neither deleted nor reinstalled,
// dry runs included, with not one mutating request reaching the provider;
// the protection is listed and audited; lifted, the delete goes through.
func TestProtection(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider())
	fleet := gpubmsv1.NewFleetServiceClient(h.c.conn)
	o := findOffer(t, h.c, 1)
	created, err := h.c.CreateGpuInstance(ctx(t), o.createRequest("guarded", 1))
	if err != nil {
		t.Fatal(err)
	}
	watchTask(t, h.c, created.GetTaskId())
	ids := serversNamed(t, h.c, "guarded")

	set, err := fleet.SetProtection(ctx(t), &gpubmsv1.SetProtectionRequest{ResourceIds: ids, Protected: true, Reason: "the weekly training run"})
	if err != nil {
		t.Fatal(err)
	}
	if p := set.GetProtections(); len(p) != 1 || !p[0].GetProtected() || p[0].GetCaller() == "" || p[0].GetUpdateTime() == nil {
		t.Errorf("SetProtection: %v, want the server protected, by whom and when", p)
	}
	mutations := func() int {
		return h.provider.calls("DeleteGpuInstances") + h.provider.calls("ReinstallGpu")
	}
	refused := func(name string, err error) {
		t.Helper()
		wantCode(t, err, codes.FailedPrecondition, server.ReasonProtected)
		for _, d := range status.Convert(err).Details() {
			if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetReason() == server.ReasonProtected {
				if ei.GetMetadata()["resource_ids"] != ids[0] || ei.GetMetadata()["reason:"+ids[0]] != "the weekly training run" {
					t.Errorf("%s: ErrorInfo %v, want the server and why", name, ei.GetMetadata())
				}
			}
		}
	}
	_, err = h.c.DeleteGpuInstances(ctx(t), &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: ids, RequestId: proto.String("del-guarded-1")})
	refused("delete", err)
	_, err = h.c.DeleteGpuInstances(ctx(t), &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: ids, ValidateOnly: true})
	refused("delete dry run", err)
	_, err = h.c.ReinstallGpu(ctx(t), &gpubmsv1.ReinstallGpuRequest{ResourceId: ids[0], ImageId: o.images[0].GetId(), Password: reinstallPassword})
	refused("reinstall", err)
	if n := mutations(); n != 0 {
		t.Fatalf("%d mutating requests reached the provider, want 0", n)
	}
	// Power is not guarded: a protected server may be stopped.
	if _, err := h.c.OperateGpuPower(ctx(t), &gpubmsv1.OperateGpuPowerRequest{Operate: "stop", ResourceIds: ids, ValidateOnly: true}); err != nil {
		t.Errorf("power dry run on a protected server: %v", err)
	}

	list, err := fleet.ListProtections(ctx(t), &gpubmsv1.ListProtectionsRequest{})
	if err != nil || len(list.GetProtections()) != 1 || list.GetProtections()[0].GetResourceId() != ids[0] {
		t.Fatalf("ListProtections: %v, %v; want %s", list, err, ids[0])
	}
	ev, err := fleet.ListAuditEvents(ctx(t), &gpubmsv1.ListAuditEventsRequest{Rpc: "SetProtection"})
	if err != nil || len(ev.GetEvents()) != 1 || !slices.Equal(ev.GetEvents()[0].GetResourceIds(), ids) || ev.GetEvents()[0].GetCode() != "OK" {
		t.Errorf("audit of SetProtection: %v, %v", ev, err)
	}
	del, err := fleet.ListAuditEvents(ctx(t), &gpubmsv1.ListAuditEventsRequest{Rpc: "DeleteGpuInstances"})
	if err != nil || len(del.GetEvents()) != 2 || !strings.Contains(del.GetEvents()[0].GetReason()+del.GetEvents()[1].GetReason(), server.ReasonProtected) {
		t.Errorf("audit of the refused deletes: %v, %v; want both, reason PROTECTED", del, err)
	}

	if _, err := fleet.SetProtection(ctx(t), &gpubmsv1.SetProtectionRequest{ResourceIds: ids, Protected: false}); err != nil {
		t.Fatal(err)
	}
	// The same request_id again: the refusal was not kept, so it goes through now.
	if _, err := h.c.DeleteGpuInstances(ctx(t), &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: ids, RequestId: proto.String("del-guarded-1")}); err != nil {
		t.Fatalf("delete after lifting the protection: %v", err)
	}
	if n := h.provider.calls("DeleteGpuInstances"); n != 1 {
		t.Errorf("%d DeleteGpuInstances requests, want 1", n)
	}
}
