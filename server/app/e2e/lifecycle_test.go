package e2e_test

import (
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// TestGpuService runs the main paths, over gRPC and over HTTP/JSON, against
// one shared server, then checks that no secret reached its log or a reply.
func TestGpuService(t *testing.T) {
	t.Parallel()
	h := start(t)
	t.Run("paths", func(t *testing.T) {
		t.Run("lifecycle over gRPC", func(t *testing.T) {
			t.Parallel()
			testLifecycleGRPC(t, h)
		})
		t.Run("lifecycle over HTTP", func(t *testing.T) {
			t.Parallel()
			testLifecycleHTTP(t, h)
		})
		t.Run("OpenAPI document", func(t *testing.T) {
			t.Parallel()
			testOpenAPI(t, h)
		})
	})
	t.Run("no secret in logs or replies", func(t *testing.T) {
		// The lifecycles above sent both passwords and every request was
		// signed with the emulator's secret.
		logs := h.logs.String()
		for _, want := range []string{`"grpc.method":"CreateGpuInstance"`, `"grpc.method":"ReinstallGpu"`} {
			if !strings.Contains(logs, want) {
				t.Fatalf("log has no %s line: the check below would prove nothing", want)
			}
		}
		h.checkNoSecrets(t)
	})
}

// testLifecycleGRPC walks one order through every action with the
// generated client: catalogue, price, images, create, watch, list, detail,
// stop, start, reinstall, delete.
func testLifecycleGRPC(t *testing.T, h *harness) {
	c := h.c
	const name = "grpclc"

	// regions → goods → images: a compute with stock, picked from the replies.
	o := findOffer(t, c, 2)
	vpc := o.vpcID // shared with the HTTP lifecycle, which runs alongside
	t.Logf("buying goods %d compute %s in %s (%s), %d in stock", o.goodsID, o.compute.GetId(), o.regionID, o.chargeType, o.compute.GetPurchaseNum())

	t.Run("price", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			charge string
			months *int32
			amount int32
			billed int64 // months billed
		}{
			{"prepaid 3 months of 2", "PrePaid", proto.Int32(3), 2, 3},
			{"prepaid to month end is one month", "PrePaid", proto.Int32(0), 1, 1},
			{"postpaid is one month", "PostPaid", nil, 2, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p, err := c.DescribeGpuGoodsPrice(ctx(t), &gpubmsv1.DescribeGpuGoodsPriceRequest{
					RegionId: o.regionID, GoodsId: o.goodsID, ComputeId: o.compute.GetId(),
					InstanceChargeType: tc.charge, PrepaidMonth: tc.months, Amount: tc.amount,
				})
				if err != nil {
					t.Fatalf("DescribeGpuGoodsPrice: %v", err)
				}
				unit := cents(t, p.GetUnitPrice())
				want := new(big.Int).Mul(unit, big.NewInt(int64(tc.amount)*tc.billed))
				if got := cents(t, p.GetTradeAmount()); got.Cmp(want) != 0 || unit.Sign() <= 0 {
					t.Errorf("got trade_amount %s with unit_price %s, want unit × %d × %d months", p.GetTradeAmount(), p.GetUnitPrice(), tc.amount, tc.billed)
				}
				if p.GetCurrency() != "CN" {
					t.Errorf("got currency %q, want CN", p.GetCurrency())
				}
			})
		}
	})

	// Create two servers, explicit RAID 0, and watch the task.
	created, err := c.CreateGpuInstance(ctx(t), o.createRequest(name, 2))
	if err != nil {
		t.Fatalf("CreateGpuInstance: %v", err)
	}
	if created.GetTaskId() == "" {
		t.Fatal("CreateGpuInstance: got no task_id")
	}
	evs := watchTask(t, c, created.GetTaskId())
	ids := evs[len(evs)-1].GetResourceIds()
	if len(ids) != 2 {
		t.Fatalf("create task: got resource_ids %v, want 2", ids)
	}
	task, err := c.DescribeGpuTask(ctx(t), &gpubmsv1.DescribeGpuTaskRequest{TaskId: created.GetTaskId()})
	if err != nil {
		t.Fatalf("DescribeGpuTask: %v", err)
	}
	if task.GetStatus() != "succeed" || task.GetTaskStatus() != gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED || !slices.Equal(task.GetResourceIds(), ids) {
		t.Errorf("DescribeGpuTask: got %v, want succeed over %v", task, ids)
	}

	wantStates := func(t *testing.T, want string) {
		t.Helper()
		l, err := c.DescribeGpu(ctx(t), &gpubmsv1.DescribeGpuRequest{Name: name})
		if err != nil {
			t.Fatalf("DescribeGpu: %v", err)
		}
		var got []string
		for _, r := range l.GetRecords() {
			got = append(got, r.GetResourceId()+" "+r.GetState())
		}
		if diff := cmp.Diff([]string{ids[0] + " " + want, ids[1] + " " + want}, got); diff != "" {
			t.Errorf("DescribeGpu(name %s) states (-want +got):\n%s", name, diff)
		}
	}
	wantStates(t, "running")

	t.Run("list", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			req       *gpubmsv1.DescribeGpuRequest
			wantNames []string
			wantPages int32
		}{
			{"name filter", &gpubmsv1.DescribeGpuRequest{Name: name}, []string{name + "001", name + "002"}, 1},
			{"app_id filter", &gpubmsv1.DescribeGpuRequest{AppId: vpc, Name: name}, []string{name + "001", name + "002"}, 1},
			{"page 1 of size 1", &gpubmsv1.DescribeGpuRequest{Name: name, PageSize: proto.Int32(1), PageNumber: proto.Int32(1)}, []string{name + "001"}, 2},
			{"page 2 of size 1", &gpubmsv1.DescribeGpuRequest{Name: name, PageSize: proto.Int32(1), PageNumber: proto.Int32(2)}, []string{name + "002"}, 2},
			{"page 3 of size 1", &gpubmsv1.DescribeGpuRequest{Name: name, PageSize: proto.Int32(1), PageNumber: proto.Int32(3)}, nil, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				l, err := c.DescribeGpu(ctx(t), tc.req)
				if err != nil {
					t.Fatalf("DescribeGpu: %v", err)
				}
				var got []string
				for _, r := range l.GetRecords() {
					got = append(got, r.GetName())
					if r.GetRegionId() != o.regionID || r.GetAppId() != vpc || r.GetCpu() != o.compute.GetCpu() || r.GetRam() != o.compute.GetRam() {
						t.Errorf("record %s: got region %s app %s cpu %d ram %d, want %s %s %d %d", r.GetName(),
							r.GetRegionId(), r.GetAppId(), r.GetCpu(), r.GetRam(), o.regionID, vpc, o.compute.GetCpu(), o.compute.GetRam())
					}
					if len(r.GetNetworks().GetNetworkCards()) == 0 {
						t.Errorf("record %s: got no network cards", r.GetName())
					}
				}
				if diff := cmp.Diff(tc.wantNames, got); diff != "" {
					t.Errorf("names (-want +got):\n%s", diff)
				}
				if l.GetTotalCount() != 2 || l.GetPages() != tc.wantPages {
					t.Errorf("got total_count %d pages %d, want 2 and %d", l.GetTotalCount(), l.GetPages(), tc.wantPages)
				}
			})
		}
	})

	step(t, "detail", func(t *testing.T) {
		var disks int
		for _, d := range o.compute.GetDisks() {
			disks += int(d.GetCount())
		}
		for i, id := range ids {
			d, err := c.DescribeGpuDetail(ctx(t), &gpubmsv1.DescribeGpuDetailRequest{ResourceId: id})
			if err != nil {
				t.Fatalf("DescribeGpuDetail(%s): %v", id, err)
			}
			if d.GetResourceId() != id || d.GetState() != "running" || d.GetImageName() != o.images[0].GetName() ||
				d.GetInstanceChargeType() != o.chargeType || d.GetName() != name+[]string{"001", "002"}[i] {
				t.Errorf("DescribeGpuDetail(%s): got id %s state %s image %s charge %s name %s, want running, %s, %s", id,
					d.GetResourceId(), d.GetState(), d.GetImageName(), d.GetInstanceChargeType(), d.GetName(), o.images[0].GetName(), o.chargeType)
			}
			cards := d.GetNetworks().GetNetworkCards()
			if len(cards) == 0 || cards[0].GetIpAddress() == "" || len(cards[0].GetMac()) == 0 {
				t.Errorf("DescribeGpuDetail(%s): got network cards %v, want one with an address and MACs", id, cards)
			}
			if len(d.GetVolumes()) != disks {
				t.Errorf("DescribeGpuDetail(%s): got %d volumes, want %d (the compute's disks)", id, len(d.GetVolumes()), disks)
			}
			for _, v := range d.GetVolumes() {
				if v.GetVolumeId() == "" || v.GetCapacity() <= 0 {
					t.Errorf("DescribeGpuDetail(%s): volume %v has no id or capacity", id, v)
				}
			}
			if d.GetRunningTime() == "" || d.GetCreateDate() == "" {
				t.Errorf("DescribeGpuDetail(%s): got running_time %q create_date %q, want both", id, d.GetRunningTime(), d.GetCreateDate())
			}
		}
	})

	// Power: one task per server, index-aligned with the servers.
	power := func(t *testing.T, op, want string) {
		t.Helper()
		r, err := c.OperateGpuPower(ctx(t), &gpubmsv1.OperateGpuPowerRequest{Operate: op, ResourceIds: ids})
		if err != nil {
			t.Fatalf("OperateGpuPower(%s): %v", op, err)
		}
		if !slices.Equal(r.GetResourceIds(), ids) || len(r.GetTaskIds()) != len(ids) {
			t.Fatalf("OperateGpuPower(%s): got resource_ids %v task_ids %v, want one task per %v", op, r.GetResourceIds(), r.GetTaskIds(), ids)
		}
		byTask := watchTasks(t, c, r.GetTaskIds())
		for i, tid := range r.GetTaskIds() {
			evs := byTask[tid]
			if got := evs[len(evs)-1].GetResourceIds(); !slices.Equal(got, []string{ids[i]}) {
				t.Errorf("OperateGpuPower(%s) task %d: got resource_ids %v, want [%s]", op, i, got, ids[i])
			}
		}
		wantStates(t, want)
	}
	step(t, "stop", func(t *testing.T) { power(t, "stop", "stopped") })
	step(t, "start", func(t *testing.T) { power(t, "start", "running") })

	step(t, "reinstall", func(t *testing.T) {
		im := secondImage(t, o.images, o.images[0])
		r, err := c.ReinstallGpu(ctx(t), &gpubmsv1.ReinstallGpuRequest{
			ResourceId: ids[0], ImageId: im.GetId(), Password: reinstallPassword, Raid: proto.Int32(0),
		})
		if err != nil {
			t.Fatalf("ReinstallGpu: %v", err)
		}
		if len(r.GetTaskIds()) != 1 {
			t.Fatalf("ReinstallGpu: got task_ids %v, want one", r.GetTaskIds())
		}
		watchTask(t, c, r.GetTaskIds()[0])
		d, err := c.DescribeGpuDetail(ctx(t), &gpubmsv1.DescribeGpuDetailRequest{ResourceId: ids[0]})
		if err != nil {
			t.Fatalf("DescribeGpuDetail: %v", err)
		}
		if d.GetState() != "running" || d.GetImageName() != im.GetName() {
			t.Errorf("after reinstall: got state %s image %s, want running %s", d.GetState(), d.GetImageName(), im.GetName())
		}
	})

	step(t, "delete", func(t *testing.T) {
		if _, err := c.DeleteGpuInstances(ctx(t), &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: ids}); err != nil {
			t.Fatalf("DeleteGpuInstances: %v", err)
		}
		for _, id := range ids {
			eventually(t, "server "+id+" gone", func() (bool, error) {
				d, err := c.DescribeGpuDetail(ctx(t), &gpubmsv1.DescribeGpuDetailRequest{ResourceId: id})
				if err == nil {
					if d.GetState() != "deleting" {
						t.Fatalf("deleted server %s: got state %s, want deleting until gone", id, d.GetState())
					}
					return false, nil
				}
				wantCode(t, err, codes.NotFound, "InstanceNotFound")
				return true, nil
			})
		}
		l, err := c.DescribeGpu(ctx(t), &gpubmsv1.DescribeGpuRequest{Name: name})
		if err != nil {
			t.Fatalf("DescribeGpu: %v", err)
		}
		if l.GetTotalCount() != 0 || len(l.GetRecords()) != 0 {
			t.Errorf("after delete: got %d servers named %s, want none", l.GetTotalCount(), name)
		}
	})
}

// step runs one step of a sequence as a subtest; the sequence stops at the
// first failing step, whose state the next would depend on.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}
