package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// The canned networks of the regions, by FindNetworks' region_id:
// CN_Hohhot_B has one VPC with one subnet (vpc-1 and net-1, the ids of
// createFlags), CN_Hongkong_B one VPC with two subnets, US_Dallas_A two
// VPCs with one subnet each; every other region has none.
var cannedNetworks = map[string]*gpubmsv1.FindNetworksResponse{
	"CN_Hohhot_B": {
		Vpcs: []*gpubmsv1.NetworkChoice{{
			Vpc: &gpubmsv1.Vpc{VpcId: "vpc-1", VpcName: "prod", VpcSegment: "10.15.0.0/16", Status: "ok", RegionCode: "CN_Hohhot"},
			Subnets: []*gpubmsv1.Subnet{{SubnetId: "net-1", SubnetName: "prod-b", SubnetSegment: "10.15.1.0/24", UsedIpNum: 12,
				VpcId: "vpc-1", VpcName: "prod", AvailableZoneCode: "CN_Hohhot_B", Status: "ok"}},
		}},
		FreeEips: []*gpubmsv1.Eip{
			{Id: "eip-1", Ip: "203.0.113.10", RegionCode: "CN_Hohhot", Status: "ok", Bandwidth: &gpubmsv1.EipBandwidth{Id: "bw-1", Qos: 100}},
			{Id: "eip-2", Ip: "203.0.113.11", RegionCode: "CN_Hohhot", Status: "ok", Bandwidth: &gpubmsv1.EipBandwidth{Id: "bw-2", Qos: 5}},
		},
	},
	"CN_Hongkong_B": {
		Vpcs: []*gpubmsv1.NetworkChoice{{
			Vpc: &gpubmsv1.Vpc{VpcId: "vpc-2", VpcName: "dev"},
			Subnets: []*gpubmsv1.Subnet{
				{SubnetId: "net-21", SubnetName: "dev-a", SubnetSegment: "10.20.1.0/24", UsedIpNum: 3, VpcId: "vpc-2"},
				{SubnetId: "net-22", SubnetName: "dev-b", SubnetSegment: "10.20.2.0/24", VpcId: "vpc-2"},
			},
		}},
	},
	"US_Dallas_A": {
		Vpcs: []*gpubmsv1.NetworkChoice{
			{Vpc: &gpubmsv1.Vpc{VpcId: "vpc-3", VpcName: "blue"},
				Subnets: []*gpubmsv1.Subnet{{SubnetId: "net-31", SubnetName: "blue-a", SubnetSegment: "10.30.1.0/24", VpcId: "vpc-3"}}},
			{Vpc: &gpubmsv1.Vpc{VpcId: "vpc-4", VpcName: "green"},
				Subnets: []*gpubmsv1.Subnet{{SubnetId: "net-41", SubnetName: "green-a", SubnetSegment: "10.40.1.0/24", VpcId: "vpc-4"}}},
		},
		FreeEips: []*gpubmsv1.Eip{{Id: "eip-9", Ip: "198.51.100.9"}},
	},
}

func (r *recorder) FindNetworks(_ context.Context, req *gpubmsv1.FindNetworksRequest) (*gpubmsv1.FindNetworksResponse, error) {
	if err := r.record("FindNetworks", req); err != nil {
		return nil, err
	}
	resp := &gpubmsv1.FindNetworksResponse{}
	if c, ok := cannedNetworks[req.GetRegionId()]; ok {
		resp = proto.Clone(c).(*gpubmsv1.FindNetworksResponse)
	}
	resp.RegionId = req.GetRegionId()
	if i := strings.LastIndex(req.GetRegionId(), "_"); i > 0 {
		resp.RegionCode = req.GetRegionId()[:i]
	}
	return resp, nil
}

// methods names the requests the service saw, in order.
func methods(rec *recorder) []string {
	var out []string
	for _, req := range rec.requests() {
		out = append(out, strings.TrimSuffix(string(proto.MessageName(req).Name()), "Request"))
	}
	return out
}

// autoCreateFlags are createFlags without --vpc-id and --net-id, for
// region (empty: CN_Hohhot_B), followed by extra.
func autoCreateFlags(region string, extra ...string) []string {
	var out []string
	for i := 0; i < len(createFlags); i++ {
		switch createFlags[i] {
		case "--vpc-id", "--net-id":
			i++
			continue
		case "--region":
			if region != "" {
				out = append(out, "--region", region)
				i++
				continue
			}
		}
		out = append(out, createFlags[i])
	}
	return append(out, extra...)
}

// The table of CN_Hohhot_B, as networks prints it.
const hohhotTable = "" +
	"VPC ID  VPC NAME  SUBNET ID  SUBNET NAME  CIDR          USED IPS\n" +
	"vpc-1   prod      net-1      prod-b       10.15.1.0/24  12\n" +
	"\n" +
	"FREE EIP ID  IP            MBPS\n" +
	"eip-1        203.0.113.10  100\n" +
	"eip-2        203.0.113.11  5\n" +
	"CN_Hohhot_B (network region CN_Hohhot): 1 subnet(s) in 1 VPC(s), 2 free EIP(s)\n"

func TestNetworksTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		region, want string
	}{
		{"CN_Hohhot_B", hohhotTable},
		{"US_Dallas_A", "" +
			"VPC ID  VPC NAME  SUBNET ID  SUBNET NAME  CIDR          USED IPS\n" +
			"vpc-3   blue      net-31     blue-a       10.30.1.0/24  0\n" +
			"vpc-4   green     net-41     green-a      10.40.1.0/24  0\n" +
			"\n" +
			"FREE EIP ID  IP            MBPS\n" +
			"eip-9        198.51.100.9  -\n" +
			"US_Dallas_A (network region US_Dallas): 2 subnet(s) in 2 VPC(s), 1 free EIP(s)\n"},
		{"JP_Tokyo_A", "" +
			"VPC ID  VPC NAME  SUBNET ID  SUBNET NAME  CIDR  USED IPS\n" +
			"\n" +
			"FREE EIP ID  IP  MBPS\n" +
			"JP_Tokyo_A (network region JP_Tokyo): 0 subnet(s) in 0 VPC(s), 0 free EIP(s)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			addr := serve(t, rec)
			res := runCLI(t, nil, "", "--addr", addr, "networks", "--region", tt.region)
			if res.code != exitOK {
				t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
			}
			if diff := cmp.Diff(tt.want, res.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if res.stderr != "" {
				t.Errorf("stderr: got %q, want nothing", res.stderr)
			}
			reqs := rec.requests()
			want := []proto.Message{&gpubmsv1.FindNetworksRequest{RegionId: tt.region}}
			if diff := cmp.Diff(want, reqs, protocmp.Transform()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNetworksJSON(t *testing.T) {
	t.Parallel()
	addr := serve(t, &recorder{})
	res := runCLI(t, nil, "", "--addr", addr, "-o", "json", "networks", "--region", "CN_Hongkong_B")
	if res.code != exitOK {
		t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
	}
	var got, want any
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, res.stdout)
	}
	subnet := func(id, name, cidr string, used int) map[string]any {
		return map[string]any{"subnet_id": id, "subnet_name": name, "subnet_segment": cidr, "used_ip_num": float64(used),
			"vpc_id": "vpc-2", "vpc_name": "", "available_zone_code": "", "status": ""}
	}
	want = map[string]any{
		"region_id": "CN_Hongkong_B", "region_code": "CN_Hongkong",
		"vpcs": []any{map[string]any{
			"vpc": map[string]any{"vpc_id": "vpc-2", "vpc_name": "dev", "vpc_segment": "", "status": "", "region_code": "", "create_time": ""},
			"subnets": []any{
				subnet("net-21", "dev-a", "10.20.1.0/24", 3),
				subnet("net-22", "dev-b", "10.20.2.0/24", 0),
			},
		}},
		"free_eips": []any{},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

// TestCreatePicksTheOnlyNetwork: without --vpc-id or --net-id, create uses
// the zone's only network, says so, and sends its ids.
func TestCreatePicksTheOnlyNetwork(t *testing.T) {
	t.Parallel()
	const note = "gpubmsctl: using VPC prod (vpc-1), subnet prod-b (net-1) 10.15.1.0/24: the only network in CN_Hohhot_B\n"
	want := &gpubmsv1.CreateGpuInstanceRequest{
		RegionId: "CN_Hohhot_B", VpcNetwork: &gpubmsv1.VpcNetwork{VpcId: "vpc-1", NetId: "net-1"},
		Password: password, InstanceName: "web", InstanceChargeType: "PrePaid", GoodsId: 11,
		ComputeId: "cmp-1", ImageId: "img-u22", Amount: 1,
	}
	dryRun := proto.Clone(want).(*gpubmsv1.CreateGpuInstanceRequest)
	dryRun.ValidateOnly = true
	dallas := proto.Clone(want).(*gpubmsv1.CreateGpuInstanceRequest)
	dallas.RegionId, dallas.VpcNetwork = "US_Dallas_A", &gpubmsv1.VpcNetwork{VpcId: "vpc-4", NetId: "net-41"}
	const dallasNote = "gpubmsctl: using VPC green (vpc-4), subnet green-a (net-41) 10.40.1.0/24: the only network in US_Dallas_A that matches\n"
	tests := []struct {
		name       string
		args       []string
		want       *gpubmsv1.CreateGpuInstanceRequest
		wantStdout string
		wantStderr string
	}{
		{"neither flag", autoCreateFlags(""), want, "task-create\n", note + "request id: ID\n"},
		{"--vpc-id alone", autoCreateFlags("", "--vpc-id", "vpc-1"), want, "task-create\n", note + "request id: ID\n"},
		{"--net-id alone", autoCreateFlags("", "--net-id", "net-1"), want, "task-create\n", note + "request id: ID\n"},
		{"--net-id of one of two VPCs", autoCreateFlags("US_Dallas_A", "--net-id", "net-41"), dallas, "task-create\n", dallasNote + "request id: ID\n"},
		{"--vpc-id of one of two VPCs", autoCreateFlags("US_Dallas_A", "--vpc-id", "vpc-4"), dallas, "task-create\n", dallasNote + "request id: ID\n"},
		{
			"dry run", autoCreateFlags("", "--dry-run"), dryRun,
			"total:      6660.00\nunit price: 666.00\ncurrency:   CN\nin stock:   3\nwarning:    " + warnStock + "\nwarning:    " + warnRenew + "\n",
			note + "gpubmsctl: dry run: nothing was changed\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			addr := serve(t, rec)

			res := runCLI(t, nil, password+"\n", append([]string{"--addr", addr}, tt.args...)...)

			if res.code != exitOK {
				t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
			}
			if diff := cmp.Diff(tt.wantStdout, res.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStderr, maskRequestID(res.stderr)); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			reqs := rec.requests()
			if diff := cmp.Diff([]string{"FindNetworks", "CreateGpuInstance"}, methods(rec)); diff != "" {
				t.Fatalf("calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(&gpubmsv1.FindNetworksRequest{RegionId: tt.want.GetRegionId()}, reqs[0], protocmp.Transform()); diff != "" {
				t.Errorf("FindNetworks request (-want +got):\n%s", diff)
			}
			got := withoutRequestID(reqs[1])
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("CreateGpuInstance request (-want +got):\n%s", diff)
			}
			if strings.Contains(res.stdout+res.stderr, password) {
				t.Errorf("output shows the password:\n%s%s", res.stdout, res.stderr)
			}
		})
	}
}

// TestCreateListsNetworkChoices: when there is no network, several, or the
// only one disagrees with the id given, create lists the choices with the
// flags to add and exits 2, creating nothing.
func TestCreateListsNetworkChoices(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantStderr string   // exact, when set
		wantIn     []string // substrings of stderr
		notIn      []string
	}{
		{
			name: "two subnets in one VPC",
			args: autoCreateFlags("CN_Hongkong_B"),
			wantStderr: "" +
				"gpubmsctl: create needs --vpc-id and --net-id: CN_Hongkong_B has 2 networks to choose from:\n" +
				"VPC ID  VPC NAME  SUBNET ID  SUBNET NAME  CIDR          USED IPS\n" +
				"vpc-2   dev       net-21     dev-a        10.20.1.0/24  3\n" +
				"vpc-2   dev       net-22     dev-b        10.20.2.0/24  0\n" +
				"\n" +
				"FREE EIP ID  IP  MBPS\n" +
				"CN_Hongkong_B (network region CN_Hongkong): 2 subnet(s) in 1 VPC(s), 0 free EIP(s)\n" +
				"add one of:\n" +
				"  --vpc-id vpc-2 --net-id net-21\n" +
				"  --vpc-id vpc-2 --net-id net-22\n" +
				"Run 'gpubmsctl --help' for usage.\n",
		},
		{
			name:   "two subnets, --vpc-id given alone",
			args:   autoCreateFlags("CN_Hongkong_B", "--vpc-id", "vpc-2"),
			wantIn: []string{"gpubmsctl: create needs --net-id: CN_Hongkong_B has 2 networks to choose from:\n", "  --vpc-id vpc-2 --net-id net-21\n  --vpc-id vpc-2 --net-id net-22\n"},
		},
		{
			name: "two VPCs of one subnet each",
			args: autoCreateFlags("US_Dallas_A"),
			wantIn: []string{
				"gpubmsctl: create needs --vpc-id and --net-id: US_Dallas_A has 2 networks to choose from:\n",
				"vpc-3   blue      net-31", "vpc-4   green     net-41", "eip-9        198.51.100.9  -\n",
				"add one of:\n  --vpc-id vpc-3 --net-id net-31\n  --vpc-id vpc-4 --net-id net-41\n",
			},
		},
		{
			name:   "two VPCs, the --vpc-id given is neither",
			args:   autoCreateFlags("US_Dallas_A", "--vpc-id", "vpc-9"),
			wantIn: []string{"--vpc-id vpc-9 matches none of them.\nadd one of:\n  --vpc-id vpc-3 --net-id net-31\n  --vpc-id vpc-4 --net-id net-41\n"},
		},
		{
			name: "the only network is not the --vpc-id given",
			args: autoCreateFlags("", "--vpc-id", "vpc-9"),
			wantStderr: "gpubmsctl: create needs --net-id: --vpc-id vpc-9 matches no network of CN_Hohhot_B, whose only one is:\n" +
				hohhotTable +
				"add:\n" +
				"  --vpc-id vpc-1 --net-id net-1\n" +
				"Run 'gpubmsctl --help' for usage.\n",
		},
		{
			name:   "the only network is not the --net-id given",
			args:   autoCreateFlags("", "--net-id", "net-9"),
			wantIn: []string{"gpubmsctl: create needs --vpc-id: --net-id net-9 matches no network of CN_Hohhot_B", "add:\n  --vpc-id vpc-1 --net-id net-1\n"},
		},
		{
			name: "no network",
			args: autoCreateFlags("JP_Tokyo_A"),
			wantStderr: "gpubmsctl: create needs --vpc-id and --net-id: JP_Tokyo_A has no VPC with a subnet in the zone (network region JP_Tokyo) " +
				"to choose from: make one at the provider first, or check --region\n" +
				"Run 'gpubmsctl --help' for usage.\n",
		},
		{
			name:   "dry run too",
			args:   autoCreateFlags("CN_Hongkong_B", "--dry-run"),
			wantIn: []string{"CN_Hongkong_B has 2 networks to choose from", "add one of:\n"},
			notIn:  []string{"dry run: nothing was changed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			addr := serve(t, rec)

			res := runCLI(t, nil, password, append([]string{"--addr", addr}, tt.args...)...)

			if res.code != exitUsage {
				t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, exitUsage, res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("stdout: got %q, want nothing", res.stdout)
			}
			if tt.wantStderr != "" {
				if diff := cmp.Diff(tt.wantStderr, res.stderr); diff != "" {
					t.Errorf("stderr (-want +got):\n%s", diff)
				}
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr: got\n%s\nwant it to contain %q", res.stderr, w)
				}
			}
			for _, w := range append(tt.notIn, "request id:", password) {
				if strings.Contains(res.stderr, w) {
					t.Errorf("stderr: got\n%s\nwant no %q", res.stderr, w)
				}
			}
			if diff := cmp.Diff([]string{"FindNetworks"}, methods(rec)); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCreateWithBothFlagsAsksNoNetworks: --vpc-id and --net-id together
// are sent as given, without a FindNetworks call, even ones FindNetworks
// would not list.
func TestCreateWithBothFlagsAsksNoNetworks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"create", createFlags},
		{"dry run", append(slices.Clone(createFlags), "--dry-run")},
		{"a region with several networks", autoCreateFlags("CN_Hongkong_B", "--vpc-id", "vpc-2", "--net-id", "net-22")},
		{"a region with none", autoCreateFlags("JP_Tokyo_A", "--vpc-id", "vpc-x", "--net-id", "net-x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{errs: map[string]error{"FindNetworks": status.Error(codes.Internal, "FindNetworks must not be called")}}
			addr := serve(t, rec)
			res := runCLI(t, nil, password, append([]string{"--addr", addr}, tt.args...)...)
			if res.code != exitOK {
				t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
			}
			if diff := cmp.Diff([]string{"CreateGpuInstance"}, methods(rec)); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if strings.Contains(res.stderr, "using VPC") {
				t.Errorf("stderr: got\n%s\nwant no note about the network", res.stderr)
			}
		})
	}
}

// TestCreateWhenFindNetworksFails: the error is reported as any call's is,
// and nothing is created.
func TestCreateWhenFindNetworksFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		args    []string
		wantErr string
	}{
		{
			name:    "unavailable",
			err:     status.Error(codes.Unavailable, "provider unreachable"),
			args:    autoCreateFlags(""),
			wantErr: "gpubmsctl: Unavailable: FindNetworks CN_Hohhot_B, to choose --vpc-id and --net-id: provider unreachable\n",
		},
		{
			name:    "permission denied, --vpc-id given alone",
			err:     status.Error(codes.PermissionDenied, "reader role required"),
			args:    autoCreateFlags("", "--vpc-id", "vpc-1", "--dry-run"),
			wantErr: "gpubmsctl: PermissionDenied: FindNetworks CN_Hohhot_B, to choose --vpc-id and --net-id: reader role required\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{errs: map[string]error{"FindNetworks": tt.err}}
			addr := serve(t, rec)
			res := runCLI(t, nil, password, append([]string{"--addr", addr}, tt.args...)...)
			if res.code != exitFailure {
				t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, exitFailure, res.stderr)
			}
			if diff := cmp.Diff(tt.wantErr, res.stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if res.stdout != "" {
				t.Errorf("stdout: got %q, want nothing", res.stdout)
			}
			if diff := cmp.Diff([]string{"FindNetworks"}, methods(rec)); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}

	// A region the contract refuses fails in FindNetworks' validation,
	// before anything is created.
	rec := &recorder{}
	addr := serve(t, rec)
	res := runCLI(t, nil, password, append([]string{"--addr", addr}, autoCreateFlags("CN Hohhot B")...)...)
	if res.code != exitFailure || !strings.Contains(res.stderr, "gpubmsctl: InvalidArgument: FindNetworks CN Hohhot B, to choose --vpc-id and --net-id: ") ||
		!strings.Contains(res.stderr, "region_id") {
		t.Errorf("bad region: exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if diff := cmp.Diff([]string(nil), methods(rec)); diff != "" {
		t.Errorf("bad region: calls reaching the service (-want +got):\n%s", diff)
	}
}

func TestNetworksHelp(t *testing.T) {
	t.Parallel()
	res := runCLI(t, nil, "", "networks", "--help")
	if res.code != exitOK {
		t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
	}
	for _, w := range []string{"FindNetworks", "--vpc-id and --net-id of create", "gpubmsctl networks --region CN_Hohhot_B", "--region"} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("networks --help: want %q in:\n%s", w, res.stdout)
		}
	}
	res = runCLI(t, nil, "", "create", "--help")
	for _, w := range []string{"[--vpc-id V --net-id N]", "exactly one VPC with", "status 2"} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("create --help: want %q in:\n%s", w, res.stdout)
		}
	}
}
