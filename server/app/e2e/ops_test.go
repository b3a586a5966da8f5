package e2e_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// TestServerInfo: GetServerInfo answers the build and the mode, over gRPC
// and HTTP, and names what is switched on.
func TestServerInfo(t *testing.T) {
	t.Parallel()
	h := start(t, withCache())
	info, err := gpubmsv1.NewFleetServiceClient(h.c.conn).GetServerInfo(ctx(t), &gpubmsv1.GetServerInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !info.GetEmulator() || info.GetVersion() == "" || info.GetGoVersion() != runtime.Version() || info.GetStartTime() == nil {
		t.Errorf("GetServerInfo: %v, want the emulator, a version, %s and the start time", info, runtime.Version())
	}
	if f := info.GetFeatures(); !slices.Contains(f, "cache") || !slices.Contains(f, "metrics") || slices.Contains(f, "tls") || !slices.IsSorted(f) {
		t.Errorf("features %v, want cache and metrics, not tls, sorted", f)
	}
	var viaHTTP gpubmsv1.GetServerInfoResponse
	h.httpOK(t, http.MethodGet, "/v1/info", nil, &viaHTTP)
	if viaHTTP.GetVersion() != info.GetVersion() || !viaHTTP.GetEmulator() {
		t.Errorf("GET /v1/info: %v, want %v", &viaHTTP, info)
	}
}

// TestEmulatorAddr: the embedded emulator listens where EmulatorAddr says.
func TestEmulatorAddr(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h := start(t, func(c *setup) { c.EmulatorAddr = addr })
	if _, err := h.c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/gpubms/v1/?Action=DescribeGpuRegions")
	if err != nil {
		t.Fatalf("the emulator is not at %s: %v", addr, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"Code"`) {
		t.Errorf("GET %s: %d %s, want the emulator's envelope (an unsigned request refused)", addr, resp.StatusCode, body)
	}
}

// TestReadiness: /healthz answers while the process serves; /readyz and
// the gRPC health follow the provider: an idle server probes it and stays
// ready, a failing provider makes it not ready (503 with the reason), and
// it recovers with no call of a caller.
func TestReadiness(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider(), func(c *setup) { c.ReadyInterval = 20 * time.Millisecond })
	hc := healthpb.NewHealthClient(h.c.conn)
	probe := func(path string) (int, string) {
		resp, err := h.http.Get("http://" + h.httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// waitFor polls until /readyz answers code and the gRPC health st, at
	// most 10 s.
	waitFor := func(code int, st healthpb.HealthCheckResponse_ServingStatus) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, body := probe("/readyz")
			r, err := hc.Check(ctx(t), &healthpb.HealthCheckRequest{Service: "gpubms.v1.GpuService"})
			if got == code && err == nil && r.GetStatus() == st {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz %d %q, health %v %v; want %d and %v", got, body, r.GetStatus(), err, code, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if body := waitFor(http.StatusOK, healthpb.HealthCheckResponse_SERVING); body != "ready\n" {
		t.Errorf("/readyz body %q, want ready", body)
	}
	// Idle, the server probes the provider (a listing, never cached).
	before := h.provider.calls("DescribeGpu")
	deadline := time.Now().Add(10 * time.Second)
	for h.provider.calls("DescribeGpu") < before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.provider.calls("DescribeGpu") - before; n < 2 {
		t.Errorf("an idle server sent %d probes, want a probe per interval", n)
	}

	h.provider.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	body := waitFor(http.StatusServiceUnavailable, healthpb.HealthCheckResponse_NOT_SERVING)
	if !strings.Contains(body, "provider") || !strings.Contains(body, "503") {
		t.Errorf("/readyz body %q, want the provider's failure", body)
	}
	if code, b := probe("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while not ready: %d %q, want 200", code, b)
	}
	h.provider.setIntercept(nil)
	waitFor(http.StatusOK, healthpb.HealthCheckResponse_SERVING)
	if !strings.Contains(h.logs.String(), `"msg":"not ready"`) {
		t.Error("the change to not ready was not logged")
	}
}

// TestRequestIDs: a call's request id is the caller's when sane, a new one
// otherwise; it comes back in the response (gRPC header metadata, the HTTP
// header), on the call's log line beside the provider's RequestId, and in
// its errors beside the provider's.
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	h := start(t)
	lineOf := func(id string) logLine {
		t.Helper()
		for _, l := range h.lines(t) {
			if l.str("msg") == "finished call" && l.str("request_id") == id {
				return l
			}
		}
		t.Fatalf("no finished call logged with request_id %q", id)
		return nil
	}

	t.Run("grpc", func(t *testing.T) {
		var hdr metadata.MD
		c := metadata.AppendToOutgoingContext(ctx(t), "x-request-id", "ci-job-42.1")
		if _, err := h.c.DescribeGpuRegions(c, &gpubmsv1.DescribeGpuRegionsRequest{}, grpc.Header(&hdr)); err != nil {
			t.Fatal(err)
		}
		if got := hdr.Get("x-request-id"); len(got) != 1 || got[0] != "ci-job-42.1" {
			t.Errorf("x-request-id header %v, want the caller's", got)
		}
		if l := lineOf("ci-job-42.1"); l.str("grpc.method") != "DescribeGpuRegions" {
			t.Errorf("log line %v, want DescribeGpuRegions", l)
		}

		// Not a sane token: replaced.
		hdr = nil
		c = metadata.AppendToOutgoingContext(ctx(t), "x-request-id", "two words")
		_, err := h.c.DescribeGpuDetail(c, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: "gpu-no-such-server"}, grpc.Header(&hdr))
		id := hdr.Get("x-request-id")
		if len(id) != 1 || id[0] == "two words" || id[0] == "" {
			t.Fatalf("x-request-id header %v, want a new id", id)
		}
		var ours, theirs string
		for _, d := range status.Convert(err).Details() {
			switch d := d.(type) {
			case *errdetails.RequestInfo:
				ours = d.GetRequestId()
			case *errdetails.ErrorInfo:
				theirs = d.GetMetadata()["request_id"]
			}
		}
		if ours != id[0] || theirs == "" || theirs == ours {
			t.Errorf("error details: our request id %q, the provider's %q; want %q and the provider's own", ours, theirs, id[0])
		}
		if l := lineOf(id[0]); l.str("provider.request_id") != theirs {
			t.Errorf("log line %v, want provider.request_id %s", l, theirs)
		}
	})

	t.Run("http", func(t *testing.T) {
		var local string
		var mu sync.Mutex
		tr := &http.Transport{DialContext: func(c context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(c, network, addr)
			if err == nil {
				mu.Lock()
				local = conn.LocalAddr().String()
				mu.Unlock()
			}
			return conn, err
		}}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		get := func(path, id string) *http.Response {
			req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, "http://"+h.httpAddr+path, nil)
			if id != "" {
				req.Header.Set("X-Request-Id", id)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp
		}
		resp := get("/v1/regions", "web-7f3a")
		if got := resp.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != "web-7f3a" {
			t.Errorf("X-Request-Id %v, want the caller's, once", got)
		}
		l := lineOf("web-7f3a")
		mu.Lock()
		want := local
		mu.Unlock()
		if l.str("peer.address") != want {
			t.Errorf("the gateway call was logged from %q, want the HTTP client %s", l.str("peer.address"), want)
		}
		resp = get("/v1/gpus/gpu-no-such-server", "")
		if id := resp.Header.Get("X-Request-Id"); resp.StatusCode != http.StatusNotFound || id == "" {
			t.Errorf("GET an unknown server: %d with X-Request-Id %q, want 404 with a new id", resp.StatusCode, id)
		} else {
			lineOf(id)
		}
		if id := get("/v1/no-such-route", "").Header.Get("X-Request-Id"); id == "" {
			t.Error("a request the gateway refuses itself has no X-Request-Id")
		}
	})
}
