package e2e_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// TestListFleet: every server, with its creator, lease and protection,
// and the filters.
func TestListFleet(t *testing.T) {
	t.Parallel()
	h := start(t, withLeaseInterval(50*time.Millisecond))
	f := gpubmsv1.NewFleetServiceClient(h.c.conn)
	o := findOffer(t, h.c, 2)
	ids := createServers(t, h, o, "inventory", 2)
	leased, guarded := ids[0], ids[1]
	if _, err := f.SetLease(ctx(t), &gpubmsv1.SetLeaseRequest{ResourceIds: []string{leased}, Ttl: durationpb.New(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.SetProtection(ctx(t), &gpubmsv1.SetProtectionRequest{ResourceIds: []string{guarded}, Protected: true}); err != nil {
		t.Fatal(err)
	}
	list := func(req *gpubmsv1.ListFleetRequest) []string {
		t.Helper()
		r, err := f.ListFleet(ctx(t), req)
		if err != nil {
			t.Fatalf("ListFleet(%v): %v", req, err)
		}
		var out []string
		for _, s := range r.GetServers() {
			if s.GetServer().GetName() != "" && slices.Contains(ids, s.GetServer().GetResourceId()) {
				out = append(out, s.GetServer().GetResourceId())
			}
		}
		slices.Sort(out)
		return out
	}
	// The creator is recorded once the executor sees the task succeed.
	var all *gpubmsv1.ListFleetResponse
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if all, err = f.ListFleet(ctx(t), &gpubmsv1.ListFleetRequest{}); err != nil {
			t.Fatal(err)
		}
		known := 0
		for _, s := range all.GetServers() {
			if slices.Contains(ids, s.GetServer().GetResourceId()) && s.GetCreator() != "" {
				known++
			}
		}
		if known == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("creators not recorded within 10s: %v", all.GetServers())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range all.GetServers() {
		switch s.GetServer().GetResourceId() {
		case leased:
			if s.GetLease().GetState() != gpubmsv1.LeaseState_LEASE_STATE_ACTIVE || s.GetProtection() != nil {
				t.Errorf("leased server %v: want its lease, no protection", s)
			}
		case guarded:
			if s.GetLease() != nil || !s.GetProtection().GetProtected() {
				t.Errorf("protected server %v: want its protection, no lease", s)
			}
		}
		if slices.Contains(ids, s.GetServer().GetResourceId()) &&
			(s.GetState() != gpubmsv1.GpuState_GPU_STATE_RUNNING || s.GetCreateTime() == nil || time.Since(s.GetCreateTime().AsTime()) > time.Minute ||
				s.GetUnitPrice() == "" || s.GetCurrency() == "") {
			t.Errorf("server %v: want running, created just now, with its price", s)
		}
	}
	pr := &gpubmsv1.DescribeGpuGoodsPriceRequest{RegionId: o.regionID, GoodsId: o.goodsID, ComputeId: o.compute.GetId(),
		InstanceChargeType: o.chargeType, Amount: 1}
	if o.chargeType == "PrePaid" {
		pr.PrepaidMonth = proto.Int32(1)
	}
	price, err := h.c.DescribeGpuGoodsPrice(ctx(t), pr)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all.GetServers() {
		if slices.Contains(ids, s.GetServer().GetResourceId()) && (s.GetUnitPrice() != price.GetUnitPrice() || s.GetCurrency() != price.GetCurrency()) {
			t.Errorf("server %s priced %s %s, want %s %s", s.GetServer().GetResourceId(), s.GetUnitPrice(), s.GetCurrency(), price.GetUnitPrice(), price.GetCurrency())
		}
	}
	creator := all.GetServers()[slices.IndexFunc(all.GetServers(), func(s *gpubmsv1.FleetServer) bool { return s.GetServer().GetResourceId() == leased })].GetCreator()
	soon, past := timestamppb.New(time.Now().Add(2*time.Hour)), timestamppb.New(time.Now().Add(-time.Hour))
	sorted := slices.Sorted(slices.Values(ids))
	for _, tc := range []struct {
		name string
		req  *gpubmsv1.ListFleetRequest
		want []string
	}{
		{"all", &gpubmsv1.ListFleetRequest{}, sorted},
		{"unleased", &gpubmsv1.ListFleetRequest{Unleased: true}, []string{guarded}},
		{"unprotected", &gpubmsv1.ListFleetRequest{Unprotected: true}, []string{leased}},
		{"unleased and unprotected", &gpubmsv1.ListFleetRequest{Unleased: true, Unprotected: true}, nil},
		{"expiring before", &gpubmsv1.ListFleetRequest{ExpiringBefore: soon}, []string{leased}},
		{"creator", &gpubmsv1.ListFleetRequest{Caller: creator}, sorted},
		{"another creator", &gpubmsv1.ListFleetRequest{Caller: "nobody"}, nil},
		{"state", &gpubmsv1.ListFleetRequest{State: "running"}, sorted},
		{"created long ago", &gpubmsv1.ListFleetRequest{CreatedBefore: past}, nil},
	} {
		if got := list(tc.req); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
