package e2e_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/upstream"
)

// TestTracing: one trace from the HTTP request, through the gateway's gRPC
// call, to the provider request, continuing the caller's traceparent; a
// gRPC call continues its caller's trace too; provider spans carry the
// action, attempt and outcome and no parameter.
func TestTracing(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	h := start(t, func(c *setup) { c.TracerProvider = tp })
	exp.Reset() // readiness' probe at start

	const (
		httpTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		grpcTrace = "0af7651916cd43dd8448eb211c80319c"
	)
	code, body := h.httpDo(t, http.MethodGet, "/v1/regions/CN_Hohhot_B/goods", nil,
		http.Header{"Traceparent": {"00-" + httpTrace + "-00f067aa0ba902b7-01"}})
	if code != http.StatusOK {
		t.Fatalf("GET goods: %d %s", code, body)
	}
	spans := exp.GetSpans()
	byName := func(name string, kind trace.SpanKind) tracetest.SpanStub {
		t.Helper()
		for _, s := range spans {
			if s.Name == name && s.SpanKind == kind && s.SpanContext.TraceID().String() == httpTrace {
				return s
			}
		}
		var names []string
		for _, s := range spans {
			names = append(names, s.Name+"/"+s.SpanKind.String()+"/"+s.SpanContext.TraceID().String())
		}
		t.Fatalf("no %s span %q in trace %s; spans: %v", kind, name, httpTrace, names)
		return tracetest.SpanStub{}
	}
	httpSpan := byName("HTTP GET", trace.SpanKindServer)
	client := byName("gpubms.v1.GpuService/DescribeGpuGoods", trace.SpanKindClient)
	server := byName("gpubms.v1.GpuService/DescribeGpuGoods", trace.SpanKindServer)
	prov := byName("provider DescribeGpuGoods", trace.SpanKindClient)
	for _, link := range []struct {
		child, parent tracetest.SpanStub
	}{{client, httpSpan}, {server, client}, {prov, server}} {
		if link.child.Parent.SpanID() != link.parent.SpanContext.SpanID() {
			t.Errorf("span %q (%s): parent %s, want %q (%s)", link.child.Name, link.child.SpanKind,
				link.child.Parent.SpanID(), link.parent.Name, link.parent.SpanContext.SpanID())
		}
	}
	attrs := map[attribute.Key]attribute.Value{}
	for _, a := range prov.Attributes {
		attrs[a.Key] = a.Value
	}
	if attrs[upstream.AttrAction].AsString() != "DescribeGpuGoods" || attrs[upstream.AttrAttempt].AsInt64() != 1 ||
		attrs[upstream.AttrOutcome].AsString() != "success" {
		t.Errorf("provider span attributes %v, want the action, attempt 1 and success", prov.Attributes)
	}
	allowed := []attribute.Key{upstream.AttrAction, upstream.AttrAttempt, upstream.AttrOutcome, upstream.AttrCode, upstream.AttrHTTPStatus}
	for _, a := range prov.Attributes {
		if !slices.Contains(allowed, a.Key) || strings.Contains(a.Value.Emit(), "CN_Hohhot_B") {
			t.Errorf("provider span attribute %s=%s: not one of %v, or a parameter", a.Key, a.Value.Emit(), allowed)
		}
	}

	// gRPC: the caller's trace continues; a provider failure marks its span.
	exp.Reset()
	carrier := propagation.MapCarrier{"traceparent": "00-" + grpcTrace + "-b7ad6b7169203331-01"}
	c := metadata.NewOutgoingContext(ctx(t), metadata.New(carrier))
	_, err := h.c.DescribeGpuDetail(c, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: "gpu-no-such-server"})
	if err == nil {
		t.Fatal("DescribeGpuDetail of an unknown server succeeded")
	}
	var found bool
	for _, s := range exp.GetSpans() {
		if s.Name != "provider DescribeGpuDetail" {
			continue
		}
		found = true
		if s.SpanContext.TraceID().String() != grpcTrace {
			t.Errorf("provider span in trace %s, want the caller's %s", s.SpanContext.TraceID(), grpcTrace)
		}
		if s.Status.Code.String() != "Error" || s.Status.Description != upstream.CodeInstanceNotFound {
			t.Errorf("provider span status %v, want Error %s", s.Status, upstream.CodeInstanceNotFound)
		}
	}
	if !found {
		t.Error("no provider span for the gRPC call")
	}
}

// TestTracingExportsOTLP: with OTEL_EXPORTER_OTLP_ENDPOINT set, spans are
// exported there over OTLP/HTTP, and the server says tracing is on.
func TestTracingExportsOTLP(t *testing.T) {
	var mu sync.Mutex
	var posts []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer rcv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
	h := start(t)
	info, err := gpubmsv1.NewFleetServiceClient(h.c.conn).GetServerInfo(ctx(t), &gpubmsv1.GetServerInfoRequest{})
	if err != nil || !slices.Contains(info.GetFeatures(), "tracing") {
		t.Fatalf("GetServerInfo: %v, %v; want the tracing feature", info, err)
	}
	if _, err := h.c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := slices.ContainsFunc(posts, func(p string) bool {
			return strings.HasPrefix(p, "POST /v1/traces application/x-protobuf") && strings.Contains(p, "provider DescribeGpuRegions")
		})
		n := len(posts)
		mu.Unlock()
		if got {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no OTLP export with the provider span within 10s; received %d posts", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
