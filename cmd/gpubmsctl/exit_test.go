package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// syncBuffer is a bytes.Buffer safe to read while the CLI writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until cond holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExitCodes: 0 success, 1 failure, 2 usage, 3 a failed task.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		errs    map[string]error
		args    []string
		want    int
		wantErr string
	}{
		{"success", nil, []string{"regions"}, exitOK, ""},
		{"a call that fails", map[string]error{"DescribeGpuRegions": status.Error(codes.PermissionDenied, "no")}, []string{"regions"}, exitFailure, "PermissionDenied: no"},
		{"unknown command", nil, []string{"regoins"}, exitUsage, "unknown command \"regoins\" for \"gpubmsctl\"\n\nDid you mean this?\n\tregions\n"},
		{"unknown subcommand of config", nil, []string{"config", "use-contxt", "x"}, exitUsage, "Did you mean this?\n\tuse-context\n"},
		{"unknown flag", nil, []string{"goods", "--regoin", "R"}, exitUsage, "unknown flag: --regoin\n\nDid you mean this?\n\t--region\n"},
		{"bad output", nil, []string{"-o", "xml", "regions"}, exitUsage, "--output must be table, json or yaml"},
		{"missing argument", nil, []string{"task"}, exitUsage, "task needs a task id"},
		{"a failed task", nil, []string{"watch", "task-gpu-002"}, exitTaskFailed, "task task-gpu-002 failed"},
		{"a failed task with the provider's reason", nil, []string{"watch", "task-odd"}, exitTaskFailed,
			"gpubmsctl: gpubms: task task-odd failed (resources gpu-003)\n  reason: failed: no stock left\n"},
		{"--token with --token-file", nil, []string{"--token", "x", "--token-file", "f", "regions"}, exitUsage, "--token and --token-file conflict"},
		{"missing token file", nil, []string{"--token-file", "/nonexistent/token", "regions"}, exitFailure, "/nonexistent/token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := serve(t, &recorder{errs: tt.errs, events: goldenEvents})
			res := runCLI(t, nil, "", append([]string{"--addr", addr}, tt.args...)...)
			if res.code != tt.want {
				t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, tt.want, res.stderr)
			}
			if !strings.Contains(res.stderr, tt.wantErr) {
				t.Errorf("stderr: got\n%s\nwant it to contain %q", res.stderr, tt.wantErr)
			}
		})
	}
}

// runInterrupted runs the command line and cancels its context, as Ctrl-C
// does, once stderr contains after.
func runInterrupted(t *testing.T, addr string, cause error, after string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"--addr", addr}, args...), func(string) string { return "" }, strings.NewReader(stdin), &stdout, &stderr)
	}()
	waitFor(t, 10*time.Second, "the output shows "+after, func() bool { return strings.Contains(stdout.String()+stderr.String(), after) })
	cancel(cause)
	select {
	case code := <-done:
		return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not end within 10s of the interrupt")
	}
	return result{}
}

// TestInterruptWhileWaiting: Ctrl-C stops the waiting only: exit 130, the
// task goes on, and the exact gpubmsctl watch command to follow it; a
// SIGTERM exits 143; -o json still prints its one document.
func TestInterruptWhileWaiting(t *testing.T) {
	t.Parallel()
	events := map[string][]*gpubmsv1.TaskEvent{
		"task-create":  {ev("task-create", "init", "gpu-001"), ev("task-create", "hang")},
		"task-gpu-001": {ev("task-gpu-001", "succeed", "gpu-001")},
		"task-gpu-002": {ev("task-gpu-002", "init", "gpu-002"), ev("task-gpu-002", "hang")},
	}
	addr := serve(t, &recorder{events: events})
	hint := regexp.MustCompile(`(?m)^gpubmsctl: stopped waiting \(interrupted\); the task goes on at the provider\. To follow it:\n  gpubmsctl watch (\S+) --addr (\S+)$`)

	t.Run("create --wait", func(t *testing.T) {
		t.Parallel()
		res := runInterrupted(t, addr, nil, "task-create init gpu-001", password, append(append([]string{}, createFlags...), "--wait")...)
		if res.code != exitInterrupted {
			t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, exitInterrupted, res.stderr)
		}
		m := hint.FindStringSubmatch(res.stderr)
		if m == nil || m[1] != "task-create" || m[2] != addr {
			t.Errorf("stderr: got\n%s\nwant the hint to watch task-create at %s", res.stderr, addr)
		}
		if res.stdout != "task-create\n" {
			t.Errorf("stdout: got %q, want the task id alone (no final states: the task did not end)", res.stdout)
		}
	})
	t.Run("power --wait -o json, one task still running", func(t *testing.T) {
		t.Parallel()
		res := runInterrupted(t, addr, nil, "task-gpu-002 init gpu-002", "", "-o", "json", "power", "start", "gpu-001", "gpu-002", "--wait")
		if res.code != exitInterrupted {
			t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, exitInterrupted, res.stderr)
		}
		if m := hint.FindStringSubmatch(res.stderr); m == nil || m[1] != "task-gpu-002" {
			t.Errorf("stderr: got\n%s\nwant the hint to watch task-gpu-002 alone", res.stderr)
		}
		checkOneDocument(t, "json", res.stdout)
		if !strings.Contains(res.stdout, `"task_id": "task-gpu-002"`) || !strings.Contains(res.stdout, `"TASK_STATUS_INIT"`) {
			t.Errorf("stdout: got\n%s\nwant the tasks' last states", res.stdout)
		}
	})
	t.Run("watch, SIGTERM", func(t *testing.T) {
		t.Parallel()
		res := runInterrupted(t, addr, &signalError{sig: syscall.SIGTERM}, "task-create init", "", "watch", "task-create")
		if res.code != exitTerminated {
			t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, exitTerminated, res.stderr)
		}
		if !strings.Contains(res.stderr, "gpubmsctl watch task-create --addr "+addr+"\n") {
			t.Errorf("stderr: got\n%s\nwant the watch hint", res.stderr)
		}
	})
	t.Run("watch --events", func(t *testing.T) {
		t.Parallel()
		res := runInterrupted(t, addr, nil, "task-create init gpu-001", "", "watch", "task-create", "--events")
		if res.code != exitInterrupted {
			t.Errorf("exit: got %d, want %d; stderr:\n%s", res.code, exitInterrupted, res.stderr)
		}
		if m := hint.FindStringSubmatch(res.stderr); m == nil || m[1] != "task-create" {
			t.Errorf("stderr: got\n%s\nwant the hint to watch task-create", res.stderr)
		}
	})
}
