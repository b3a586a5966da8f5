package e2e_test

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/codes"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/upstream"
)

func withMetrics(on bool) option {
	return func(c *setup) { c.Metrics = on }
}

// TestMetrics makes a few calls, over gRPC and HTTP, against a server whose
// emulator fails every DescribeGpuGoods, then reads GET /metrics: gRPC
// calls by method and code, provider requests by action and outcome (each
// retry counted), the watch gauges, and no request field in any series.
func TestMetrics(t *testing.T) {
	t.Parallel()
	h := start(t, withMetrics(true),
		withFaults(emulator.Faults{ErrorRate: map[string]float64{upstream.ActionDescribeGpuGoods: 1}}))
	const (
		service     = "gpubms.v1.GpuService"
		unknownTask = "metrics-no-such-task"
		badRegion   = "metrics-region"
	)

	// Every GpuService method has its series before its first call.
	before := h.scrape(t)
	for _, m := range gpubmsv1.GpuService_ServiceDesc.Methods {
		wantSample(t, before, "grpc_server_handled_total", 0,
			"grpc_type", "unary", "grpc_service", service, "grpc_method", m.MethodName, "grpc_code", "OK")
	}
	wantSample(t, before, "grpc_server_handled_total", 0,
		"grpc_type", "server_stream", "grpc_service", service, "grpc_method", "WatchTask", "grpc_code", "OK")

	// Regions twice (gRPC and JSON: the gateway is a gRPC client too).
	if _, err := h.c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Fatalf("DescribeGpuRegions: %v", err)
	}
	if st, b := h.httpDo(t, http.MethodGet, "/v1/regions", nil, nil); st != http.StatusOK {
		t.Fatalf("GET /v1/regions: got HTTP %d (%s), want 200", st, b)
	}
	// Goods: InternalError on every attempt, so the read is tried
	// DefaultMaxAttempts times and fails Unavailable.
	_, err := h.c.DescribeGpuGoods(ctx(t), &gpubmsv1.DescribeGpuGoodsRequest{RegionId: badRegion})
	wantCode(t, err, codes.Unavailable, upstream.CodeInternalError)
	// Refused by validation: counted, with no provider request.
	_, err = h.c.DescribeGpuTask(ctx(t), &gpubmsv1.DescribeGpuTaskRequest{TaskId: "no/slashes"})
	wantCode(t, err, codes.InvalidArgument, "")
	// A stream that ends NotFound.
	s, err := h.c.WatchTask(ctx(t), &gpubmsv1.WatchTaskRequest{TaskId: unknownTask})
	if err == nil {
		err = drain(s.Recv)
	}
	wantCode(t, err, codes.NotFound, "")

	after := h.scrape(t)
	for _, tc := range []struct {
		name   string
		metric string
		want   float64
		labels []string
	}{
		{"regions handled OK", "grpc_server_handled_total", 2,
			[]string{"grpc_type", "unary", "grpc_service", service, "grpc_method", "DescribeGpuRegions", "grpc_code", "OK"}},
		{"regions handling time observed", "grpc_server_handling_seconds", 2,
			[]string{"grpc_type", "unary", "grpc_service", service, "grpc_method", "DescribeGpuRegions"}},
		{"goods handled Unavailable", "grpc_server_handled_total", 1,
			[]string{"grpc_type", "unary", "grpc_service", service, "grpc_method", "DescribeGpuGoods", "grpc_code", "Unavailable"}},
		{"bad task id handled InvalidArgument", "grpc_server_handled_total", 1,
			[]string{"grpc_type", "unary", "grpc_service", service, "grpc_method", "DescribeGpuTask", "grpc_code", "InvalidArgument"}},
		{"watch handled NotFound", "grpc_server_handled_total", 1,
			[]string{"grpc_type", "server_stream", "grpc_service", service, "grpc_method", "WatchTask", "grpc_code", "NotFound"}},
		{"regions provider requests", "gpubms_provider_requests_total", 2,
			[]string{"action", upstream.ActionDescribeGpuRegions, "outcome", "success"}},
		{"goods provider requests, one per attempt", "gpubms_provider_requests_total", upstream.DefaultMaxAttempts,
			[]string{"action", upstream.ActionDescribeGpuGoods, "outcome", "provider_error"}},
		{"goods provider request durations", "gpubms_provider_request_duration_seconds", upstream.DefaultMaxAttempts,
			[]string{"action", upstream.ActionDescribeGpuGoods}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantSample(t, after, tc.metric, tc.want, tc.labels...)
		})
	}

	t.Run("no other goods outcome", func(t *testing.T) {
		for _, m := range after["gpubms_provider_requests_total"].GetMetric() {
			l := labelMap(m)
			if l["action"] == upstream.ActionDescribeGpuGoods && l["outcome"] != "provider_error" {
				t.Errorf("got DescribeGpuGoods outcome %q (%v), want only provider_error", l["outcome"], m.GetCounter().GetValue())
			}
		}
	})

	t.Run("runtime and process collectors", func(t *testing.T) {
		for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
			if after[name] == nil {
				t.Errorf("got no %s, want the Go and process collectors' metrics", name)
			}
		}
	})

	t.Run("watch gauges", func(t *testing.T) {
		for _, name := range []string{"gpubms_watch_tasks", "gpubms_watch_watchers"} {
			if f := after[name]; f.GetType() != dto.MetricType_GAUGE || len(f.GetMetric()) != 1 {
				t.Errorf("got %s %v, want one gauge", name, f)
			}
		}
		// The watch of the unknown task has ended: its subscription and
		// poller go away (the poller perhaps a moment later).
		eventually(t, "watch gauges back to 0", func() (bool, error) {
			fams := h.scrape(t)
			tasks, watchers := gaugeValue(fams, "gpubms_watch_tasks"), gaugeValue(fams, "gpubms_watch_watchers")
			return tasks == 0 && watchers == 0, fmt.Errorf("got tasks %v, watchers %v, want 0, 0", tasks, watchers)
		})
	})

	t.Run("no request field in any series", func(t *testing.T) {
		_, body := h.httpDo(t, http.MethodGet, "/metrics", nil, nil)
		for _, field := range []string{unknownTask, badRegion, "no/slashes"} {
			if bytes.Contains(body, []byte(field)) {
				t.Errorf("/metrics contains the request field %q", field)
			}
		}
	})
}

// TestMetricsRoute: /metrics is served unless turned off, and needs no
// caller token (like /openapi.json).
func TestMetricsRoute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []option
		want int
	}{
		{"off", []option{withMetrics(false)}, http.StatusNotFound},
		{"on, token required for calls", []option{withMetrics(true), withAuthToken(authToken)}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, tc.opts...)
			st, b := h.httpDo(t, http.MethodGet, "/metrics", nil, nil)
			if st != tc.want {
				t.Fatalf("GET /metrics: got HTTP %d (%.200s), want %d", st, b, tc.want)
			}
			if st == http.StatusOK && !bytes.Contains(b, []byte("grpc_server_handled_total")) {
				t.Errorf("GET /metrics: got no grpc_server_handled_total in %.200s", b)
			}
		})
	}
}

// scrape reads GET /metrics and parses it.
func (h *harness) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	st, b := h.httpDo(t, http.MethodGet, "/metrics", nil, nil)
	if st != http.StatusOK {
		t.Fatalf("GET /metrics: got HTTP %d (%.200s), want 200", st, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("GET /metrics: not the text exposition format: %v", err)
	}
	return fams
}

// wantSample checks the value of the series of name with exactly the given
// label pairs: a counter's or gauge's value, a histogram's sample count.
func wantSample(t *testing.T, fams map[string]*dto.MetricFamily, name string, want float64, pairs ...string) {
	t.Helper()
	wantLabels := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		wantLabels[pairs[i]] = pairs[i+1]
	}
	f := fams[name]
	if f == nil {
		t.Fatalf("got no metric %s", name)
	}
	for _, m := range f.GetMetric() {
		got := labelMap(m)
		if !sameLabels(got, wantLabels) {
			continue
		}
		var v float64
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			v = m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			v = m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			v = float64(m.GetHistogram().GetSampleCount())
		default:
			t.Fatalf("%s is a %v, want a counter, gauge or histogram", name, f.GetType())
		}
		if v != want {
			t.Errorf("got %s%s %v, want %v", name, formatLabels(wantLabels), v, want)
		}
		return
	}
	t.Errorf("got no series %s%s", name, formatLabels(wantLabels))
}

func labelMap(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func formatLabels(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// gaugeValue is the value of the unlabelled gauge name, or -1 when absent.
func gaugeValue(fams map[string]*dto.MetricFamily, name string) float64 {
	ms := fams[name].GetMetric()
	if len(ms) != 1 {
		return -1
	}
	return ms[0].GetGauge().GetValue()
}
