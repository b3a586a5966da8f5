package server

import (
	"context"
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// TestValidation sends invalid requests through the real interceptor chain:
// each fails with InvalidArgument naming the field, in the message and in
// the Violations detail, and the provider sees no request at all.
func TestValidation(t *testing.T) {
	t.Parallel()
	create := func(edit func(*gpubmsv1.CreateGpuInstanceRequest)) func(context.Context, gpubmsv1.GpuServiceClient) (proto.Message, error) {
		return func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
			r := validCreate()
			edit(r)
			return c.CreateGpuInstance(ctx, r)
		}
	}
	price := func(amount int32) func(context.Context, gpubmsv1.GpuServiceClient) (proto.Message, error) {
		return func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
			return c.DescribeGpuGoodsPrice(ctx, &gpubmsv1.DescribeGpuGoodsPriceRequest{
				RegionId: "CN_Hohhot_B", GoodsId: 1, ComputeId: "c1", InstanceChargeType: "PrePaid", Amount: amount,
			})
		}
	}
	detail := func(id string) func(context.Context, gpubmsv1.GpuServiceClient) (proto.Message, error) {
		return func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
			return c.DescribeGpuDetail(ctx, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: id})
		}
	}
	tests := []struct {
		name  string
		call  func(context.Context, gpubmsv1.GpuServiceClient) (proto.Message, error)
		field string
	}{
		{"resource_id missing", detail(""), "resource_id"},
		{"resource_id with colon", detail("abc:watch"), "resource_id"},
		{"resource_id with slash", detail("abc/def"), "resource_id"},
		{"amount 0", price(0), "amount"},
		{"amount 101", price(101), "amount"},
		{"region_id missing", func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
			return c.DescribeGpuGoods(ctx, &gpubmsv1.DescribeGpuGoodsRequest{})
		}, "region_id"},
		{"task_id with colon", func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
			return c.DescribeGpuTask(ctx, &gpubmsv1.DescribeGpuTaskRequest{TaskId: "t:1"})
		}, "task_id"},
		{"bad raid", create(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.Raid = ptr[int32](3) }), "raid"},
		{"bad charge type", create(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.InstanceChargeType = "Monthly" }), "instance_charge_type"},
		{"bad bond mode", create(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.BondMode = "bond5" }), "bond_mode"},
		{"prepaid month 37", create(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.PrepaidMonth = ptr[int32](37) }), "prepaid_month"},
		{"auto renew 2", create(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.AutoRenew = ptr[int32](2) }), "auto_renew"},
		{"vpc network missing", create(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.VpcNetwork = nil }), "vpc_network"},
		{"image id with slash", create(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.ImageId = "../x" }), "image_id"},
		{"password missing", create(func(r *gpubmsv1.CreateGpuInstanceRequest) { r.Password = "" }), "password"},
		{"mismatched partition sizes", create(func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.CustomPartition, r.CustomPartitionSize = []string{"/", "swap"}, []int32{100}
		}), "custom_partition_size"},
		{"eip ids not one per server", create(func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.Amount, r.VpcNetwork.ReserveEip, r.VpcNetwork.EipIdList = 2, proto.Bool(true), []string{"e1"}
		}), "vpc_network.eip_id_list"},
		{"segments not one per server", create(func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.Amount = 3
			r.VpcNetwork.Segments = []*gpubmsv1.Segment{{SegmentId: "s", Address: "10.0.0.5"}, {SegmentId: "s", Address: "10.0.0.6"}}
		}), "vpc_network.segments"},
		{"an address pinned twice", create(func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.Amount = 2
			r.VpcNetwork.Segments = []*gpubmsv1.Segment{{SegmentId: "s", Address: "10.0.0.5"}, {SegmentId: "s", Address: "10.0.0.5"}}
		}), "segments"},
		{"an IPv6 address", create(func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.Segments = []*gpubmsv1.Segment{{SegmentId: "s", Address: "fd00::5"}}
		}), "vpc_network.segments[0].address"},
		{"partition root not first", func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
			return c.ReinstallGpu(ctx, &gpubmsv1.ReinstallGpuRequest{
				ResourceId: "r1", ImageId: "i1", Password: "Reinstall-pw",
				CustomPartition: []string{"swap", "/"}, CustomPartitionSize: []int32{8, 100},
			})
		}, "custom_partition"},
		{"bad operate", func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
			return c.OperateGpuPower(ctx, &gpubmsv1.OperateGpuPowerRequest{Operate: "restart", ResourceIds: []string{"r1"}})
		}, "operate"},
		{"operate id with slash", func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
			return c.OperateGpuPower(ctx, &gpubmsv1.OperateGpuPowerRequest{Operate: "start", ResourceIds: []string{"r/1"}})
		}, "resource_ids"},
		{"empty resource ids", func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
			return c.DeleteGpuInstances(ctx, &gpubmsv1.DeleteGpuInstancesRequest{})
		}, "resource_ids"},
		{"bad image type", func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
			return c.DescribeGpuImage(ctx, &gpubmsv1.DescribeGpuImageRequest{ImageType: "shared", RegionId: "r1"})
		}, "image_type"},
		{"page size 0", func(ctx context.Context, c gpubmsv1.GpuServiceClient) (proto.Message, error) {
			return c.DescribeGpu(ctx, &gpubmsv1.DescribeGpuRequest{PageSize: ptr[int32](0)})
		}, "page_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			_, err := tt.call(t.Context(), h.client)
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("got code %v (%q), want InvalidArgument", st.Code(), st.Message())
			}
			if !strings.Contains(st.Message(), tt.field) {
				t.Errorf("got message %q, want it to name %q", st.Message(), tt.field)
			}
			// A field rule names the field in its path; a message-level rule
			// (the partition pairing) names it in its rule id.
			var named []string
			for _, d := range st.Details() {
				if v, ok := d.(*validate.Violations); ok {
					for _, vi := range v.GetViolations() {
						named = append(named, protovalidate.FieldPathString(vi.GetField()), vi.GetRuleId())
					}
				}
			}
			if !strings.Contains(strings.Join(named, " "), tt.field) {
				t.Errorf("got violations naming %q, want one naming %q", named, tt.field)
			}
			if n := len(h.prov.requests()); n != 0 {
				t.Errorf("got %d provider requests, want 0", n)
			}
			if strings.Contains(st.Message(), "Create-pw-0001") {
				t.Errorf("message echoes the password: %q", st.Message())
			}
		})
	}
}
