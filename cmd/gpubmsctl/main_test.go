package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ptr[T any](v T) *T { return &v }

const password = "Sup3r-s3cret-pw"

// createFlags are the required flags of create.
var createFlags = []string{
	"create", "--region", "CN_Hohhot_B", "--vpc-id", "vpc-1", "--net-id", "net-1", "--name", "web",
	"--charge", "PrePaid", "--goods", "11", "--compute", "cmp-1", "--image", "img-u22", "--password-stdin",
}

func TestFlagsMapToRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  proto.Message
	}{
		{"regions", []string{"regions"}, "", &gpubmsv1.DescribeGpuRegionsRequest{}},
		{"goods", []string{"goods", "--region", "CN_Hohhot_B"}, "", &gpubmsv1.DescribeGpuGoodsRequest{RegionId: "CN_Hohhot_B"}},
		{
			"price without months leaves prepaid_month unset",
			[]string{"price", "--region", "R1", "--goods", "11", "--compute", "cmp-1", "--charge", "PostPaid"},
			"",
			&gpubmsv1.DescribeGpuGoodsPriceRequest{RegionId: "R1", GoodsId: 11, ComputeId: "cmp-1", InstanceChargeType: "PostPaid", Amount: 1},
		},
		{
			"price with months 0 sends 0",
			[]string{"price", "--region", "R1", "--goods", "11", "--compute", "cmp-1", "--charge", "PrePaid", "--months", "0", "--amount", "10"},
			"",
			&gpubmsv1.DescribeGpuGoodsPriceRequest{RegionId: "R1", GoodsId: 11, ComputeId: "cmp-1", InstanceChargeType: "PrePaid", PrepaidMonth: ptr[int32](0), Amount: 10},
		},
		{
			"images",
			[]string{"images", "--region", "R1", "--compute", "cmp-1", "--os", "ubuntu"},
			"",
			&gpubmsv1.DescribeGpuImageRequest{RegionId: "R1", ImageType: "public", ComputeId: "cmp-1", OsType: "ubuntu"},
		},
		{
			"private images",
			[]string{"images", "--region", "R1", "--type", "private"},
			"",
			&gpubmsv1.DescribeGpuImageRequest{RegionId: "R1", ImageType: "private"},
		},
		{"list with nothing set", []string{"list"}, "", &gpubmsv1.DescribeGpuRequest{}},
		{
			"list with filters and paging",
			[]string{"list", "--name", "web", "--app-id", "app-1", "--page", "2", "--page-size", "50"},
			"",
			&gpubmsv1.DescribeGpuRequest{Name: "web", AppId: "app-1", PageNumber: ptr[int32](2), PageSize: ptr[int32](50)},
		},
		{"get", []string{"get", "gpu-001"}, "", &gpubmsv1.DescribeGpuDetailRequest{ResourceId: "gpu-001"}},
		{
			"create with only required flags leaves optionals unset",
			createFlags,
			password + "\n",
			&gpubmsv1.CreateGpuInstanceRequest{
				RegionId: "CN_Hohhot_B", VpcNetwork: &gpubmsv1.VpcNetwork{VpcId: "vpc-1", NetId: "net-1"},
				Password: password, InstanceName: "web", InstanceChargeType: "PrePaid", GoodsId: 11,
				ComputeId: "cmp-1", ImageId: "img-u22", Amount: 1,
			},
		},
		{
			"create with every flag, zeros sent",
			append(append([]string{}, createFlags...),
				"--raid", "0", "--auto-renew", "0", "--months", "0", "--amount", "2",
				"--reserve-eip", "--eip", "eip-1", "--eip", "eip-2",
				"--segment", "seg-1=10.0.0.5", "--segment", "seg-1=10.0.0.6",
				"--partition", "/:100", "--partition", "swap:16", "--partition", "/data:500",
				"--bond-mode", "bond6", "--port-mode", "trunk", "--host-no", "007", "--subject-id", "trial-1"),
			password + "\r\n",
			&gpubmsv1.CreateGpuInstanceRequest{
				RegionId: "CN_Hohhot_B",
				VpcNetwork: &gpubmsv1.VpcNetwork{
					VpcId: "vpc-1", NetId: "net-1", ReserveEip: ptr(true), EipIdList: []string{"eip-1", "eip-2"},
					Segments: []*gpubmsv1.Segment{{SegmentId: "seg-1", Address: "10.0.0.5"}, {SegmentId: "seg-1", Address: "10.0.0.6"}},
				},
				Password: password, InstanceName: "web", AssignHostNo: "007", InstanceChargeType: "PrePaid",
				AutoRenew: ptr[int32](0), PrepaidMonth: ptr[int32](0), ComputeId: "cmp-1", GoodsId: 11, ImageId: "img-u22",
				BondMode: "bond6", Raid: ptr[int32](0), Amount: 2,
				CustomPartition: []string{"/", "swap", "/data"}, CustomPartitionSize: []int32{100, 16, 500},
				SubjectId: "trial-1", PortMode: "trunk",
			},
		},
		{
			"create with reserve-eip=false sends false",
			append(append([]string{}, createFlags...), "--reserve-eip=false"),
			password,
			&gpubmsv1.CreateGpuInstanceRequest{
				RegionId: "CN_Hohhot_B", VpcNetwork: &gpubmsv1.VpcNetwork{VpcId: "vpc-1", NetId: "net-1", ReserveEip: ptr(false)},
				Password: password, InstanceName: "web", InstanceChargeType: "PrePaid", GoodsId: 11,
				ComputeId: "cmp-1", ImageId: "img-u22", Amount: 1,
			},
		},
		{
			"reinstall with raid 0",
			[]string{"reinstall", "gpu-001", "--image", "img-u22", "--raid", "0", "--password-stdin", "--partition", "/:200"},
			password,
			&gpubmsv1.ReinstallGpuRequest{ResourceId: "gpu-001", ImageId: "img-u22", Password: password, Raid: ptr[int32](0),
				CustomPartition: []string{"/"}, CustomPartitionSize: []int32{200}},
		},
		{
			"reinstall without raid",
			[]string{"reinstall", "gpu-001", "--image", "img-u22", "--password-stdin"},
			password,
			&gpubmsv1.ReinstallGpuRequest{ResourceId: "gpu-001", ImageId: "img-u22", Password: password},
		},
		{"power", []string{"power", "stop", "gpu-001", "gpu-002"}, "", &gpubmsv1.OperateGpuPowerRequest{Operate: "stop", ResourceIds: []string{"gpu-001", "gpu-002"}}},
		{"delete", []string{"delete", "gpu-001", "gpu-002", "--yes"}, "", &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: []string{"gpu-001", "gpu-002"}}},
		{"task", []string{"task", "task-1"}, "", &gpubmsv1.DescribeGpuTaskRequest{TaskId: "task-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			addr := serve(t, rec)

			res := runCLI(t, nil, tt.stdin, append([]string{"--addr", addr}, tt.args...)...)

			if res.code != exitOK {
				t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests: got %d, want 1", len(reqs))
			}
			got := reqs[0]
			if mutating(got) {
				// A new id each run: the one printed, sent, then set aside.
				id := printedRequestID(t, res.stderr)
				if _, err := uuid.Parse(id); err != nil {
					t.Errorf("request id %q: not a UUID: %v", id, err)
				}
				if sent := gpubms.RequestID(got); sent != id {
					t.Errorf("request_id sent: got %q, want the printed %q", sent, id)
				}
				got = withoutRequestID(got)
			} else if strings.Contains(res.stderr, "request id:") {
				t.Errorf("a read printed a request id:\n%s", res.stderr)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			if strings.Contains(res.stdout+res.stderr, password) {
				t.Errorf("output shows the password:\n%s%s", res.stdout, res.stderr)
			}
		})
	}
}

func TestTableOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"regions", []string{"regions"}, "" +
			"REGION ID      NAME\n" +
			"CN_Hohhot_B    Hohhot B\n" +
			"CN_Qingyang_A  中国大陆-庆阳-可用区A\n" +
			"US_Dallas_A    Dallas A\n"},
		{"goods", []string{"goods", "--region", "R1"}, "" +
			"CHARGE   GOODS ID  GOODS   COMPUTE ID  CPU MODEL  CPUS  RAM GB  IN STOCK  DISKS\n" +
			"PrePaid  11        A100x8  cmp-1       Xeon 8358  64    1024    3         2x3840GB NVME\n"},
		{"price", []string{"price", "--region", "R1", "--goods", "11", "--compute", "cmp-1", "--charge", "PrePaid"}, "" +
			"total:      6660.00\n" +
			"unit price: 666.00\n" +
			"currency:   CN\n"},
		{"images", []string{"images", "--region", "R1", "--compute", "cmp-1"}, "" +
			"FAMILY  IMAGE ID  NAME          TYPE\n" +
			"Ubuntu  img-u22   Ubuntu 22.04  public\n"},
		{"list", []string{"list"}, "" +
			"RESOURCE ID  NAME       STATE    REGION         APP ID  CPUS  RAM GB  CHARGE    ADDRESSES\n" +
			"gpu-001      web-001    running  CN_Hohhot_B    app-1   64    1024    PrePaid   10.0.0.5,203.0.113.7\n" +
			"gpu-002      训练机-02  stopped  CN_Qingyang_A  app-2   128   2048    PostPaid  -\n" +
			"page 1 of 1, 2 server(s) in all\n"},
		{"power", []string{"power", "reset", "gpu-001", "gpu-002"}, "" +
			"RESOURCE ID  TASK ID\n" +
			"gpu-001      task-gpu-001\n" +
			"gpu-002      task-gpu-002\n"},
		{"task", []string{"task", "task-1"}, "" +
			"TASK ID  STATUS  RESOURCES\n" +
			"task-1   init    gpu-001,gpu-002\n"},
		{"delete", []string{"delete", "gpu-001", "--yes"}, "deleted gpu-001\n"},
		{"get", []string{"get", "gpu-001"}, "" +
			"resource id:  gpu-001\n" +
			"name:         web-001\n" +
			"state:        running\n" +
			"status:       运行中\n" +
			"region:       CN_Hohhot_B (Hohhot B)\n" +
			"app:          app-1\n" +
			"cpus:         64\n" +
			"ram GB:       1024\n" +
			"image:        Ubuntu 22.04\n" +
			"charge:       PrePaid\n" +
			"billed:       1\n" +
			"auto renewal: 1\n" +
			"running time: 0天3小时1分钟35秒\n" +
			"created:      2026-11-01 10:00:00\n" +
			"expires:      2026-12-01 10:00:00\n" +
			"\n" +
			"VOLUME ID  TYPE  MEDIA  GB    PATH\n" +
			"vol-1      hard  NVME   3840  /dev/nvme0n1\n" +
			"\n" +
			"CARD ID  IP TYPE  ADDRESS   NETMASK        GATEWAY   EIP  BOND   MAC\n" +
			"nic-1    subnet   10.0.0.5  255.255.255.0  10.0.0.1  -    bond6  aa:bb:cc:dd:ee:01,aa:bb:cc:dd:ee:02\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := serve(t, &recorder{})
			res := runCLI(t, nil, "", append([]string{"--addr", addr}, tt.args...)...)
			if res.code != exitOK {
				t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
			}
			if diff := cmp.Diff(tt.want, res.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	t.Parallel()
	addr := serve(t, &recorder{})
	tests := []struct {
		name string
		args []string
		want string // JSON, compared as values
	}{
		{"regions", []string{"regions"}, `{"regions": [
			{"region_id": "CN_Hohhot_B", "region_name": "Hohhot B"},
			{"region_id": "CN_Qingyang_A", "region_name": "中国大陆-庆阳-可用区A"},
			{"region_id": "US_Dallas_A", "region_name": "Dallas A"}]}`},
		{"price", []string{"price", "--region", "R1", "--goods", "11", "--compute", "cmp-1", "--charge", "PrePaid"},
			`{"trade_amount": "6660.00", "unit_price": "666.00", "currency": "CN"}`},
		{"task", []string{"task", "task-1"},
			`{"status": "init", "task_status": "TASK_STATUS_INIT", "resource_ids": ["gpu-001", "gpu-002"]}`},
		{"delete", []string{"delete", "gpu-001", "--yes"}, `{"validation": null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runCLI(t, nil, "", append([]string{"--addr", addr, "-o", "json"}, tt.args...)...)
			if res.code != exitOK {
				t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
			}
			var got, want any
			if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, res.stdout)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}

	// The list names fields as the contract does and includes zero values.
	res := runCLI(t, nil, "", "--addr", addr, "--output", "json", "list")
	var list map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &list); err != nil {
		t.Fatalf("list: stdout is not JSON: %v\n%s", err, res.stdout)
	}
	rec := list["records"].([]any)[0].(map[string]any)
	for _, k := range []string{"resource_id", "instance_charge_type", "is_auto_renewal", "networks"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("list record: got keys %v, want %q among them", keys(rec), k)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestErrors(t *testing.T) {
	t.Parallel()
	notFound, _ := status.New(codes.NotFound, "server gpu-404 does not exist").WithDetails(&errdetails.ErrorInfo{
		Reason: "InstanceNotFound", Domain: "gpubms", Metadata: map[string]string{"action": "DescribeGpuDetail", "request_id": "req-9"},
	})
	tests := []struct {
		name      string
		errs      map[string]error
		args      []string
		stdin     string
		wantCode  int
		wantErr   []string // substrings of stderr
		wantCalls int
	}{
		{
			name:     "validation error shown to the user",
			args:     []string{"price", "--region", "R1", "--goods", "11", "--compute", "cmp-1", "--charge", "PrePaid", "--amount", "0"},
			wantCode: exitFailure,
			wantErr:  []string{"gpubmsctl: InvalidArgument: ", "amount"},
		},
		{
			name:     "validation error on create never shows the password",
			args:     append(append([]string{}, createFlags...), "--raid", "3"),
			stdin:    password,
			wantCode: exitFailure,
			wantErr:  []string{"InvalidArgument", "raid"},
		},
		{
			name:      "provider error with its reason",
			errs:      map[string]error{"DescribeGpuDetail": notFound.Err()},
			args:      []string{"get", "gpu-404"},
			wantCode:  exitFailure,
			wantErr:   []string{"gpubmsctl: NotFound: server gpu-404 does not exist\n", "  reason: InstanceNotFound\n", "  action: DescribeGpuDetail\n", "  request_id: req-9\n"},
			wantCalls: 1,
		},
		{
			name:      "unavailable",
			errs:      map[string]error{"DescribeGpuRegions": status.Error(codes.Unavailable, "provider unreachable")},
			args:      []string{"regions"},
			wantCode:  exitFailure,
			wantErr:   []string{"gpubmsctl: Unavailable: provider unreachable\n"},
			wantCalls: 1,
		},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: exitUsage, wantErr: []string{`unknown command "frobnicate"`, "--help"}},
		{name: "no command", args: []string{}, wantCode: exitUsage, wantErr: []string{"a command is required"}},
		{name: "unknown flag", args: []string{"regions", "--colour"}, wantCode: exitUsage, wantErr: []string{"unknown flag: --colour"}},
		{name: "missing required flag", args: []string{"goods"}, wantCode: exitUsage, wantErr: []string{`"region" not set`}},
		{name: "bad output", args: []string{"-o", "xml", "regions"}, wantCode: exitUsage, wantErr: []string{"--output must be table, json or yaml"}},
		{name: "bad int", args: []string{"list", "--page", "two"}, wantCode: exitUsage, wantErr: []string{"--page"}},
		{name: "get needs an id", args: []string{"get"}, wantCode: exitUsage, wantErr: []string{"get needs a server id"}},
		{name: "delete needs --yes", args: []string{"delete", "gpu-001"}, wantCode: exitUsage, wantErr: []string{"add --yes"}},
		{name: "power needs an operation", args: []string{"power", "off", "gpu-001"}, wantCode: exitUsage, wantErr: []string{"start, stop or reset"}},
		{name: "password needs stdin", args: createFlags[:len(createFlags)-1], wantCode: exitUsage, wantErr: []string{"--password-stdin"}},
		{name: "empty password", args: createFlags, stdin: "\n", wantCode: exitUsage, wantErr: []string{"password on standard input is empty"}},
		{
			name:     "bad partition",
			args:     append(append([]string{}, createFlags...), "--partition", "/:big"),
			stdin:    password,
			wantCode: exitUsage,
			wantErr:  []string{`--partition "/:big"`},
		},
		{
			name:     "bad segment",
			args:     append(append([]string{}, createFlags...), "--segment", "10.0.0.5"),
			stdin:    password,
			wantCode: exitUsage,
			wantErr:  []string{"SEGMENT_ID=ADDRESS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{errs: tt.errs}
			addr := serve(t, rec)

			res := runCLI(t, nil, tt.stdin, append([]string{"--addr", addr}, tt.args...)...)

			if res.code != tt.wantCode {
				t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, tt.wantCode, res.stderr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr: got %q, want it to contain %q", res.stderr, w)
				}
			}
			if got := len(rec.requests()); got != tt.wantCalls {
				t.Errorf("requests reaching the service: got %d, want %d", got, tt.wantCalls)
			}
			if strings.Contains(res.stdout+res.stderr, password) {
				t.Errorf("output shows the password:\n%s%s", res.stdout, res.stderr)
			}
		})
	}
}

func TestWaitAndWatch(t *testing.T) {
	t.Parallel()
	events := map[string][]*gpubmsv1.TaskEvent{
		"task-create": {ev("task-create", "init"), ev("task-create", "init", "gpu-001"), ev("task-create", "succeed", "gpu-001")},
		"task-gpu-001": {ev("task-gpu-001", "init", "gpu-001"),
			{TaskId: "task-gpu-001", Status: gpubmsv1.TaskStatus_TASK_STATUS_INIT, RawStatus: "init", ResourceIds: []string{"gpu-001"}, Heartbeat: true},
			ev("task-gpu-001", "succeed", "gpu-001")},
		"task-gpu-002":   {ev("task-gpu-002", "init", "gpu-002"), ev("task-gpu-002", "failed", "gpu-002")},
		"task-reinstall": {ev("task-reinstall", "succeed", "gpu-001")},
		"task-quiet":     {ev("task-quiet", "init"), ev("task-quiet", "hang")},
	}
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStdout string
		anyStdout  bool
		anyStderr  bool // stderr ends with wantStderr
		wantStderr string
	}{
		{
			name:     "create --wait",
			args:     append(append([]string{}, createFlags...), "--wait"),
			stdin:    password,
			wantCode: exitOK,
			wantStdout: "task-create\n" +
				"TASK ID      STATUS   RESOURCES\n" +
				"task-create  succeed  gpu-001\n",
			wantStderr: "request id: ID\ntask-create init -\ntask-create init gpu-001\ntask-create succeed gpu-001\n",
		},
		{
			name:       "reinstall --wait",
			args:       []string{"reinstall", "gpu-001", "--image", "img-u22", "--password-stdin", "--wait"},
			stdin:      password,
			wantCode:   exitOK,
			wantStdout: "task-reinstall\nTASK ID         STATUS   RESOURCES\ntask-reinstall  succeed  gpu-001\n",
			wantStderr: "request id: ID\ntask-reinstall succeed gpu-001\n",
		},
		{
			name:     "power --wait with a failed task",
			args:     []string{"power", "start", "gpu-001", "gpu-002", "--wait"},
			wantCode: exitTaskFailed,
			wantStdout: "RESOURCE ID  TASK ID\ngpu-001      task-gpu-001\ngpu-002      task-gpu-002\n" +
				"TASK ID       STATUS   RESOURCES\n" +
				"task-gpu-001  succeed  gpu-001\n" +
				"task-gpu-002  failed   gpu-002\n",
			wantStderr: "request id: ID\n" +
				"task-gpu-001 init gpu-001\ntask-gpu-001 succeed gpu-001\n" +
				"task-gpu-002 init gpu-002\ntask-gpu-002 failed gpu-002\n" +
				"gpubmsctl: gpubms: task task-gpu-002 failed (resources gpu-002)\n",
		},
		{
			name:       "watch one task: progress on stderr, the final state on stdout",
			args:       []string{"watch", "task-create"},
			wantCode:   exitOK,
			wantStdout: "TASK ID      STATUS   RESOURCES\ntask-create  succeed  gpu-001\n",
			wantStderr: "task-create init -\ntask-create init gpu-001\ntask-create succeed gpu-001\n",
		},
		{
			name:       "watch --events prints the events on stdout",
			args:       []string{"watch", "task-create", "--events"},
			wantCode:   exitOK,
			wantStdout: "task-create init -\ntask-create init gpu-001\ntask-create succeed gpu-001\n",
		},
		{
			name:     "watch several tasks, one failed",
			args:     []string{"watch", "task-gpu-001", "task-gpu-002"},
			wantCode: exitTaskFailed,
			wantStdout: "TASK ID       STATUS   RESOURCES\n" +
				"task-gpu-001  succeed  gpu-001\n" +
				"task-gpu-002  failed   gpu-002\n",
			wantStderr: "task-gpu-001 init gpu-001\ntask-gpu-001 succeed gpu-001\n" +
				"task-gpu-002 init gpu-002\ntask-gpu-002 failed gpu-002\n" +
				"gpubmsctl: gpubms: task task-gpu-002 failed (resources gpu-002)\n",
		},
		{
			name:     "watch --events, several tasks, one failed",
			args:     []string{"watch", "--events", "task-gpu-001", "task-gpu-002"},
			wantCode: exitTaskFailed,
			wantStdout: "task-gpu-001 init gpu-001\ntask-gpu-001 succeed gpu-001\n" +
				"task-gpu-002 init gpu-002\ntask-gpu-002 failed gpu-002\n",
			wantStderr: "gpubmsctl: gpubms: task task-gpu-002 failed (resources gpu-002)\n",
		},
		{
			name:     "watch ends at --timeout, with how to go on",
			args:     []string{"watch", "task-quiet", "--timeout", "100ms"},
			wantCode: exitFailure,
			// The deadline only triggers the path; nothing measures time,
			// so whether the first event beat it is not checked.
			anyStdout: true,
			anyStderr: true,
			wantStderr: "gpubmsctl: stopped waiting (--timeout 100ms ran out); the task goes on at the provider. To follow it:\n" +
				"  gpubmsctl watch task-quiet --addr ADDR\n" +
				"gpubmsctl: DeadlineExceeded: gpubms: wait for task task-quiet: context deadline exceeded\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := serve(t, &recorder{events: events})
			res := runCLI(t, nil, tt.stdin, append([]string{"--addr", addr}, tt.args...)...)
			if res.code != tt.wantCode {
				t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, tt.wantCode, res.stderr)
			}
			if diff := cmp.Diff(tt.wantStdout, res.stdout); diff != "" && !tt.anyStdout {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			stderr := strings.ReplaceAll(maskRequestID(res.stderr), addr, "ADDR")
			if tt.anyStderr {
				if !strings.HasSuffix(stderr, tt.wantStderr) {
					t.Errorf("stderr: got\n%s\nwant it to end with\n%s", stderr, tt.wantStderr)
				}
			} else if diff := cmp.Diff(tt.wantStderr, stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWatchJSON(t *testing.T) {
	t.Parallel()
	addr := serve(t, &recorder{events: map[string][]*gpubmsv1.TaskEvent{
		"t1": {ev("t1", "init"), {TaskId: "t1", Status: gpubmsv1.TaskStatus_TASK_STATUS_INIT, RawStatus: "init", Heartbeat: true}, ev("t1", "succeed", "gpu-001")},
	}})
	res := runCLI(t, nil, "", "--addr", addr, "-o", "json", "watch", "--events", "t1")
	if res.code != exitOK {
		t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	var got []string
	for _, l := range lines {
		var e struct {
			TaskID    string   `json:"task_id"`
			RawStatus string   `json:"raw_status"`
			Resources []string `json:"resource_ids"`
			Heartbeat bool     `json:"heartbeat"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q is not one JSON object: %v", l, err)
		}
		got = append(got, e.TaskID+" "+e.RawStatus+" "+strings.Join(e.Resources, ",")+map[bool]string{true: " heartbeat"}[e.Heartbeat])
	}
	want := []string{"t1 init ", "t1 init  heartbeat", "t1 succeed gpu-001"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestConnectionFlags(t *testing.T) {
	t.Parallel()
	const token = "tok-3xyz"
	tests := []struct {
		name      string
		env       map[string]string
		args      []string // after the address, if any
		noAddr    bool     // take the address from GPUBMS_ADDR
		wantCode  int
		wantAuth  []string
		wantInErr string
	}{
		{name: "no token", args: []string{"regions"}, wantCode: exitOK},
		{name: "token flag", args: []string{"--token", token, "regions"}, wantCode: exitOK, wantAuth: []string{"Bearer " + token}},
		{name: "token from env", env: map[string]string{"GPUBMS_TOKEN": token}, args: []string{"regions"}, wantCode: exitOK, wantAuth: []string{"Bearer " + token}},
		{name: "flag beats env", env: map[string]string{"GPUBMS_TOKEN": "from-env"}, args: []string{"--token", token, "regions"}, wantCode: exitOK, wantAuth: []string{"Bearer " + token}},
		{name: "address from env", noAddr: true, args: []string{"regions"}, wantCode: exitOK},
		{
			name:      "TLS forced on a plaintext loopback server",
			args:      []string{"--insecure=false", "--token", token, "regions"},
			wantCode:  exitFailure,
			wantInErr: "Unavailable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			addr := serve(t, rec)
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			args := tt.args
			if tt.noAddr {
				env["GPUBMS_ADDR"] = addr
			} else {
				args = append([]string{"--addr", addr}, args...)
			}

			res := runCLI(t, env, "", args...)

			if res.code != tt.wantCode {
				t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, tt.wantCode, res.stderr)
			}
			if diff := cmp.Diff(tt.wantAuth, rec.tokens()); diff != "" {
				t.Errorf("authorization seen by the server (-want +got):\n%s", diff)
			}
			if !strings.Contains(res.stderr, tt.wantInErr) {
				t.Errorf("stderr: got %q, want it to contain %q", res.stderr, tt.wantInErr)
			}
			if strings.Contains(res.stdout+res.stderr, token) {
				t.Errorf("output shows the token:\n%s%s", res.stdout, res.stderr)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target string
		want   bool
	}{
		{"127.0.0.1:9090", true},
		{"127.8.9.10:1", true},
		{"[::1]:9090", true},
		{"localhost:9090", true},
		{"LOCALHOST", true},
		{"dns:///localhost:9090", true},
		{"unix:///run/gpubms.sock", true},
		{"10.0.0.1:9090", false},
		{"gpubms.example.com:443", false},
		{"dns:///gpubms.example.com:443", false},
		{"localhost.example.com:443", false},
		{"[2001:db8::1]:443", false},
	}
	for _, tt := range tests {
		if got := isLoopback(tt.target); got != tt.want {
			t.Errorf("isLoopback(%q): got %v, want %v", tt.target, got, tt.want)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	res := runCLI(t, nil, "", "--help")
	if res.code != exitOK {
		t.Fatalf("exit: got %d, want 0", res.code)
	}
	for _, c := range []string{"regions", "goods", "price", "images", "networks", "list", "get", "create", "reinstall", "power", "delete", "task", "watch"} {
		if !strings.Contains(res.stdout, "\n  "+c+" ") {
			t.Errorf("help: want command %q listed, got:\n%s", c, res.stdout)
		}
	}
}
