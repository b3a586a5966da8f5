package emulator

import (
	"context"
	"encoding/json"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults Faults
		action string
		check  func(t *testing.T, r result)
	}{
		{"throttle", Faults{ThrottleRate: 1}, "CreateGpuInstance", func(t *testing.T, r result) {
			if r.status != http.StatusTooManyRequests || r.Code != codeThrottling || r.header.Get("Retry-After") == "" || r.RID == "" {
				t.Errorf("got HTTP %d %s Retry-After %q RequestId %q, want 429 Throttling with both",
					r.status, r.Code, r.header.Get("Retry-After"), r.RID)
			}
		}},
		{"5xx", Faults{ServerErrorRate: 1}, "CreateGpuInstance", func(t *testing.T, r result) {
			if r.status != http.StatusServiceUnavailable || json.Valid([]byte(r.raw)) {
				t.Errorf("got HTTP %d %q, want 503 with a body that is not JSON", r.status, r.raw)
			}
		}},
		{"error rate of the action", Faults{ErrorRate: map[string]float64{"CreateGpuInstance": 1}}, "CreateGpuInstance", func(t *testing.T, r result) {
			checkError(t, "create", r, codeInternalError)
		}},
		{"error rate of all actions", Faults{ErrorRate: map[string]float64{"*": 1}}, "CreateGpuInstance", func(t *testing.T, r result) {
			checkError(t, "create", r, codeInternalError)
		}},
		{"malformed", Faults{MalformedRate: 1}, "CreateGpuInstance", func(t *testing.T, r result) {
			if r.status != http.StatusOK || json.Valid([]byte(r.raw)) {
				t.Errorf("got HTTP %d %q, want 200 with a body that is not JSON", r.status, r.raw)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, WithFaults(tt.faults))
			tt.check(t, h.do(call{action: tt.action, params: createBody(1)}))
			// The action did not run.
			h.e.mu.Lock()
			defer h.e.mu.Unlock()
			if len(h.e.servers) != 0 || h.e.stock["8fbdb61e-b941-46db-89f6-f8953b278ec9"] != 10 {
				t.Errorf("an injected fault changed state: %d servers", len(h.e.servers))
			}
		})
	}
}

func TestErrorRateIsPerAction(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithFaults(Faults{ErrorRate: map[string]float64{"CreateGpuInstance": 1, "*": 0}}))
	h.fails("CreateGpuInstance", createBody(1), codeInternalError)
	h.ok("DescribeGpu", nil, nil)
	h.ok("DescribeGpuRegions", nil, nil)
}

func TestFaultsAreDeterministicWithASeed(t *testing.T) {
	t.Parallel()
	run := func() []string {
		h := newHarness(t, WithRand(mrand.New(mrand.NewPCG(1, 2))),
			WithFaults(Faults{ThrottleRate: 0.3, ErrorRate: map[string]float64{"*": 0.3}}))
		var codes []string
		for range 40 {
			codes = append(codes, h.do(call{action: "DescribeGpuRegions"}).Code)
		}
		return codes
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	for _, want := range []string{codeSuccess, codeThrottling, codeInternalError} {
		if !slices.Contains(a, want) {
			t.Errorf("40 requests at 30%% rates never gave %s: %v", want, a)
		}
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithFaults(Faults{Latency: 250 * time.Millisecond}))
	var slept []time.Duration
	h.e.sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil
	}
	h.ok("DescribeGpuRegions", nil, nil)
	if !slices.Equal(slept, []time.Duration{250 * time.Millisecond}) {
		t.Errorf("slept %v, want [250ms]", slept)
	}

	// A client that leaves during the latency gets nothing, and nothing runs.
	h.e.sleep = func(context.Context, time.Duration) error { return context.Canceled }
	if r := h.do(call{action: "CreateGpuInstance", params: createBody(1)}); r.raw != "" {
		t.Errorf("reply to a client gone: got %q, want none", r.raw)
	}
	if n := len(h.e.servers); n != 0 {
		t.Errorf("a request abandoned during latency made %d servers", n)
	}
}

func TestSleepHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); err == nil {
		t.Errorf("sleepCtx with a cancelled context: got nil, want an error")
	}
}

func TestFailedTasksRollBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, WithFaults(Faults{TaskFailureRate: 1}))
	task, ids := h.create(createBody(2))
	h.clock.Advance(DefaultTaskDelay)
	if got := h.taskStatus(task); got != taskFailed {
		t.Errorf("create task: got %s, want failed", got)
	}
	h.fails("DescribeGpuDetail", url.Values{"ResourceId": {ids[0]}}, codeInstanceNotFound)
	if got := h.stock("CN_Hohhot_B", "8fbdb61e-b941-46db-89f6-f8953b278ec9"); got != 10 {
		t.Errorf("stock after a failed create: got %d, want 10", got)
	}

	h = newHarness(t)
	ids = h.running(createBody(1))
	h.e.opts.faults.TaskFailureRate = 1 // no request in flight
	var power struct{ TaskIDs []string }
	h.ok("OperateGpuPower", map[string]any{"Operate": "stop", "ResourceIds": ids}, &power)
	var re struct{ TaskIDs []string }
	h.clock.Advance(DefaultTaskDelay)
	if got, state := h.taskStatus(power.TaskIDs[0]), h.state(ids[0]); got != taskFailed || state != stateRunning {
		t.Errorf("failed stop: got task %s, server %s, want failed and running", got, state)
	}
	h.ok("ReinstallGpu", map[string]any{"ResourceId": ids[0], "ImageId": "d6012cd8-b672-11e9-9265-525400b97470", "Password": "Tester@123"}, &re)
	h.clock.Advance(DefaultTaskDelay)
	if d := h.detail(ids[0]); d.State != stateRunning || d.ImageName != "ubuntu14.04_64" {
		t.Errorf("failed reinstall: got %s on %s, want running on the old image", d.State, d.ImageName)
	}
	h.ok("DeleteGpuInstances", map[string]any{"ResourceIds": ids}, nil)
	h.clock.Advance(DefaultTaskDelay)
	if got := h.state(ids[0]); got != stateRunning {
		t.Errorf("failed delete: got %s, want running", got)
	}
}

func TestConfigFaultFlagsReachReplies(t *testing.T) {
	t.Parallel()
	var c Config
	fs := newFlagSet()
	c.registerFlags(fs, func(string) string { return "" })
	if err := fs.Parse([]string{"--fault-malformed-rate=1"}); err != nil {
		t.Fatal(err)
	}
	opts, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, opts...)
	if r := h.do(call{action: "DescribeGpuRegions"}); !strings.HasPrefix(r.raw, `{"Code":"Success"`) || json.Valid([]byte(r.raw)) {
		t.Errorf("got %q, want a truncated success", r.raw)
	}
}
