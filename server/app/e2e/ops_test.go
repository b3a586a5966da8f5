package e2e_test

import (
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"

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
