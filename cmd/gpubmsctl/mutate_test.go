package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// mutating reports whether req is a mutating request (it has request_id).
func mutating(req proto.Message) bool {
	return req.ProtoReflect().Descriptor().Fields().ByName("request_id") != nil
}

var requestIDLine = regexp.MustCompile(`(?m)^request id: (\S+)$`)

// printedRequestID is the id of the one "request id: ID" line of stderr.
func printedRequestID(t *testing.T, stderr string) string {
	t.Helper()
	m := requestIDLine.FindAllStringSubmatch(stderr, -1)
	if len(m) != 1 {
		t.Fatalf("stderr: got %d \"request id:\" lines, want 1:\n%s", len(m), stderr)
	}
	return m[0][1]
}

// maskRequestID replaces the ids of "request id:" lines with ID.
func maskRequestID(stderr string) string {
	return requestIDLine.ReplaceAllString(stderr, "request id: ID")
}

// withoutRequestID is a copy of req with its request_id cleared.
func withoutRequestID(req proto.Message) proto.Message {
	c := proto.Clone(req)
	r := c.ProtoReflect()
	r.Clear(r.Descriptor().Fields().ByName("request_id"))
	return c
}

// mutations are a command line of each mutating command, with the
// method it calls.
var mutations = []struct {
	name, method string
	args         []string
	stdin        string
}{
	{"create", "CreateGpuInstance", createFlags, password},
	{"reinstall", "ReinstallGpu", []string{"reinstall", "gpu-001", "--image", "img-u22", "--password-stdin"}, password},
	{"power", "OperateGpuPower", []string{"power", "stop", "gpu-001", "gpu-002"}, ""},
	{"delete", "DeleteGpuInstances", []string{"delete", "gpu-001", "--yes"}, ""},
}

// TestRequestIDSurvivesARetry: the id printed before the call is the one
// every attempt carries, the client retrying Unavailable and Unknown.
func TestRequestIDSurvivesARetry(t *testing.T) {
	t.Parallel()
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{flaky: map[string][]error{m.method: {
				status.Error(codes.Unavailable, "server restarting"),
				status.Error(codes.Unknown, "reply lost"),
			}}}
			addr := serve(t, rec)

			res := runCLI(t, nil, m.stdin, append([]string{"--addr", addr}, m.args...)...)

			if res.code != exitOK {
				t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
			}
			id := printedRequestID(t, res.stderr)
			if !strings.HasPrefix(res.stderr, "request id: "+id+"\n") {
				t.Errorf("stderr: got %q, want the request id first", res.stderr)
			}
			reqs := rec.requests()
			if len(reqs) != 3 {
				t.Fatalf("requests: got %d, want 3 (two failures, then success)", len(reqs))
			}
			for i, r := range reqs {
				if got := gpubms.RequestID(r); got != id {
					t.Errorf("attempt %d: request_id %q, want the printed %q", i+1, got, id)
				}
				if !proto.Equal(withoutRequestID(r), withoutRequestID(reqs[0])) {
					t.Errorf("attempt %d: a different request from the first", i+1)
				}
			}
		})
	}
}

func TestRequestIDFlag(t *testing.T) {
	t.Parallel()
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			addr := serve(t, rec)
			res := runCLI(t, nil, m.stdin, append([]string{"--addr", addr}, append(m.args, "--request-id", "Order-42_b")...)...)
			if res.code != exitOK {
				t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
			}
			if id := printedRequestID(t, res.stderr); id != "Order-42_b" {
				t.Errorf("printed request id: got %q, want Order-42_b", id)
			}
			reqs := rec.requests()
			if len(reqs) != 1 || gpubms.RequestID(reqs[0]) != "Order-42_b" {
				t.Errorf("requests: got %v, want one with request_id Order-42_b", reqs)
			}
		})
	}
}

func TestRequestIDFlagInvalid(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "has space", "a/b", "ünïcode", strings.Repeat("x", 65)} {
		for _, m := range mutations {
			t.Run(m.name+" "+bad, func(t *testing.T) {
				t.Parallel()
				rec := &recorder{}
				addr := serve(t, rec)
				res := runCLI(t, nil, m.stdin, append([]string{"--addr", addr}, append(m.args, "--request-id", bad)...)...)
				if res.code != exitUsage {
					t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, exitUsage, res.stderr)
				}
				if !strings.Contains(res.stderr, "--request-id") || !strings.Contains(res.stderr, "1 to 64") {
					t.Errorf("stderr: got %q, want the flag and its rule named", res.stderr)
				}
				if n := len(rec.requests()); n != 0 {
					t.Errorf("requests: got %d, want none", n)
				}
			})
		}
	}
	// 64 is the most.
	rec := &recorder{}
	addr := serve(t, rec)
	id := strings.Repeat("x", 64)
	if res := runCLI(t, nil, "", "--addr", addr, "power", "start", "gpu-001", "--request-id", id); res.code != exitOK {
		t.Errorf("64-character request id: exit %d; stderr:\n%s", res.code, res.stderr)
	}
}

func TestDryRunTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantStdout string
		wantStderr string
	}{
		{
			name:  "create prints the quote, the stock and the warnings",
			args:  append(append([]string{}, createFlags...), "--dry-run"),
			stdin: password,
			wantStdout: "" +
				"total:      6660.00\n" +
				"unit price: 666.00\n" +
				"currency:   CN\n" +
				"in stock:   3\n" +
				"warning:    " + warnStock + "\n" +
				"warning:    " + warnRenew + "\n",
			wantStderr: "gpubmsctl: dry run: nothing was changed\n",
		},
		{
			name: "power prints the servers' states; --wait is ignored",
			args: []string{"power", "stop", "gpu-001", "gpu-002", "--dry-run", "--wait"},
			wantStdout: "" +
				"RESOURCE ID  NAME         STATE    CHARGE\n" +
				"gpu-001      web-gpu-001  running  PostPaid\n" +
				"gpu-002      web-gpu-002  stopped  PostPaid\n",
			wantStderr: "gpubmsctl: --wait ignored: a dry run starts no task\ngpubmsctl: dry run: nothing was changed\n",
		},
		{
			name: "delete needs no --yes and prints the warnings",
			args: []string{"delete", "gpu-001", "--dry-run"},
			wantStdout: "" +
				"RESOURCE ID  NAME         STATE    CHARGE\n" +
				"gpu-001      web-gpu-001  running  PostPaid\n" +
				"warning: " + warnDelete + "\n",
			wantStderr: "gpubmsctl: dry run: nothing was changed\n",
		},
		{
			name:  "reinstall",
			args:  []string{"reinstall", "gpu-001", "--image", "img-u22", "--password-stdin", "--dry-run"},
			stdin: password,
			wantStdout: "" +
				"RESOURCE ID  NAME         STATE    CHARGE\n" +
				"gpu-001      web-gpu-001  running  PostPaid\n",
			wantStderr: "gpubmsctl: dry run: nothing was changed\n",
		},
		{
			name: "a dry run sends the --request-id given",
			args: []string{"delete", "gpu-001", "--dry-run", "--yes", "--request-id", "rid-1"},
			wantStdout: "" +
				"RESOURCE ID  NAME         STATE    CHARGE\n" +
				"gpu-001      web-gpu-001  running  PostPaid\n" +
				"warning: " + warnDelete + "\n",
			wantStderr: "request id: rid-1\ngpubmsctl: dry run: nothing was changed\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{events: map[string][]*gpubmsv1.TaskEvent{}}
			addr := serve(t, rec)
			res := runCLI(t, nil, tt.stdin, append([]string{"--addr", addr}, tt.args...)...)
			if res.code != exitOK {
				t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
			}
			if diff := cmp.Diff(tt.wantStdout, res.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStderr, res.stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests: got %d, want 1 (no wait, no retry)", len(reqs))
			}
			vo := reqs[0].ProtoReflect()
			if !vo.Get(vo.Descriptor().Fields().ByName("validate_only")).Bool() {
				t.Errorf("request: got %v, want validate_only", reqs[0])
			}
			if strings.Contains(res.stdout+res.stderr, password) {
				t.Errorf("output shows the password:\n%s%s", res.stdout, res.stderr)
			}
		})
	}
}

// TestDryRunRequests: a dry run sends the same request as the real
// command, with validate_only and no request_id of its own.
func TestDryRunRequests(t *testing.T) {
	t.Parallel()
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			live, dry := &recorder{}, &recorder{}
			liveAddr, dryAddr := serve(t, live), serve(t, dry)
			if res := runCLI(t, nil, m.stdin, append([]string{"--addr", liveAddr}, m.args...)...); res.code != exitOK {
				t.Fatalf("real command: exit %d; stderr:\n%s", res.code, res.stderr)
			}
			res := runCLI(t, nil, m.stdin, append([]string{"--addr", dryAddr}, append(m.args, "--dry-run")...)...)
			if res.code != exitOK {
				t.Fatalf("dry run: exit %d; stderr:\n%s", res.code, res.stderr)
			}
			if strings.Contains(res.stderr, "request id:") {
				t.Errorf("dry run printed a request id:\n%s", res.stderr)
			}
			want := withoutRequestID(live.requests()[0])
			want.ProtoReflect().Set(want.ProtoReflect().Descriptor().Fields().ByName("validate_only"), protoreflect.ValueOfBool(true))
			if diff := cmp.Diff(want, dry.requests()[0], protocmp.Transform()); diff != "" {
				t.Errorf("dry run request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDryRunJSON(t *testing.T) {
	t.Parallel()
	addr := serve(t, &recorder{})
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"create", append(append([]string{}, createFlags...), "--dry-run"), password, `{"task_id": "", "validation": {
			"quote": {"trade_amount": "6660.00", "unit_price": "666.00", "currency": "CN"},
			"servers": [], "stock": 3, "warnings": ["` + warnStock + `", "` + warnRenew + `"]}}`},
		{"power", []string{"power", "start", "gpu-001", "--dry-run"}, "", `{"task_ids": [], "resource_ids": [], "validation": {
			"quote": null, "servers": [{"resource_id": "gpu-001", "name": "web-gpu-001", "state": "running", "instance_charge_type": "PostPaid"}],
			"warnings": []}}`},
		{"delete", []string{"delete", "gpu-001", "--dry-run"}, "", `{"validation": {
			"quote": null, "servers": [{"resource_id": "gpu-001", "name": "web-gpu-001", "state": "running", "instance_charge_type": "PostPaid"}],
			"warnings": ["` + warnDelete + `"]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runCLI(t, nil, tt.stdin, append([]string{"--addr", addr, "-o", "json"}, tt.args...)...)
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
}

func TestMutationFailureHints(t *testing.T) {
	t.Parallel()
	unknown, err := status.New(codes.FailedPrecondition, `CreateGpuInstance: the call with request_id "x" may have reached the provider, but its reply was lost; it is not sent again`).
		WithDetails(
			&errdetails.ErrorInfo{Reason: gpubms.ReasonRequestOutcomeUnknown, Domain: "gpubms.v1", Metadata: map[string]string{"rpc": "CreateGpuInstance"}},
			&errdetails.ResourceInfo{ResourceType: "gpubms.v1.Gpu", ResourceName: "gpu-101"},
			&errdetails.ResourceInfo{ResourceType: "gpubms.v1.Gpu", ResourceName: "gpu-102"},
		)
	if err != nil {
		t.Fatal(err)
	}
	unknownNone, err := status.New(codes.FailedPrecondition, "OperateGpuPower: lost").
		WithDetails(&errdetails.ErrorInfo{Reason: gpubms.ReasonRequestOutcomeUnknown, Domain: "gpubms.v1"})
	if err != nil {
		t.Fatal(err)
	}
	reused, err := status.New(codes.AlreadyExists, "request_id used before").
		WithDetails(&errdetails.ErrorInfo{Reason: gpubms.ReasonRequestIDReused, Domain: "gpubms.v1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		method    string
		err       error
		args      []string
		stdin     string
		wantCalls int
		wantErr   []string // substrings of stderr, ID standing for the request id
		notErr    string
	}{
		{
			name: "create whose outcome is unknown lists the servers", method: "CreateGpuInstance", err: unknown.Err(),
			args: createFlags, stdin: password, wantCalls: 1,
			wantErr: []string{
				"gpubmsctl: FailedPrecondition: CreateGpuInstance: the call",
				"  reason: REQUEST_OUTCOME_UNKNOWN\n",
				"these servers may have been made by the first call: adopt them with gpubmsctl get ID",
				"\n  gpu-101\n  gpu-102\n",
			},
			notErr: "--request-id",
		},
		{
			name: "power whose outcome is unknown says to look", method: "OperateGpuPower", err: unknownNone.Err(),
			args: []string{"power", "reset", "gpu-001"}, wantCalls: 1,
			wantErr: []string{"may have been carried out, and it is never sent again: look (gpubmsctl list, get, task)"},
		},
		{
			name: "a reused id", method: "DeleteGpuInstances", err: reused.Err(),
			args: []string{"delete", "gpu-001", "--yes", "--request-id", "rid-7"}, wantCalls: 1,
			wantErr: []string{"request id rid-7 was used before for a different request"},
		},
		{
			name: "unavailable every time: 4 attempts, then how to repeat", method: "DeleteGpuInstances",
			err:  status.Error(codes.Unavailable, "server restarting"),
			args: []string{"delete", "gpu-001", "--yes"}, wantCalls: 4,
			wantErr: []string{
				"gpubmsctl: Unavailable: gpubms: DeleteGpuInstances with request_id ID: gave up after 4 attempts: server restarting\n",
				"to repeat it safely, run the same command with --request-id ID\n",
			},
		},
		{
			name: "a refusal is not retried and needs no hint", method: "OperateGpuPower",
			err:  status.Error(codes.FailedPrecondition, "server gpu-001 is stopping"),
			args: []string{"power", "start", "gpu-001"}, wantCalls: 1,
			wantErr: []string{"gpubmsctl: FailedPrecondition: server gpu-001 is stopping\n"},
			notErr:  "--request-id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{errs: map[string]error{tt.method: tt.err}}
			addr := serve(t, rec)
			res := runCLI(t, nil, tt.stdin, append([]string{"--addr", addr}, tt.args...)...)
			if res.code != exitFailure {
				t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, exitFailure, res.stderr)
			}
			id := printedRequestID(t, res.stderr)
			for _, w := range tt.wantErr {
				if w = strings.ReplaceAll(w, "request_id ID", "request_id "+id); strings.HasSuffix(w, "--request-id ID\n") {
					w = strings.TrimSuffix(w, "ID\n") + id + "\n"
				}
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr: got\n%s\nwant it to contain %q", res.stderr, w)
				}
			}
			if tt.notErr != "" && strings.Contains(res.stderr, tt.notErr) {
				t.Errorf("stderr: got\n%s\nwant no %q", res.stderr, tt.notErr)
			}
			if n := len(rec.requests()); n != tt.wantCalls {
				t.Errorf("requests: got %d, want %d", n, tt.wantCalls)
			}
		})
	}
}
