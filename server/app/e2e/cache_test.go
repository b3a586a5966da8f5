package e2e_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

func withCache() option {
	return func(c *setup) {
		c.Cache = true
		c.CacheTTLRegions, c.CacheTTLImages, c.CacheTTLGoods, c.CacheTTLPrices = 10*time.Minute, 5*time.Minute, 15*time.Second, 5*time.Minute
	}
}

// TestCatalogueCache: catalogue reads are answered from the cache, saying
// their age; a caller may refuse cached data; server state is never cached;
// identical concurrent reads share one provider request.
func TestCatalogueCache(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider(), withCache())
	regions := func() int { return h.provider.calls("DescribeGpuRegions") }

	if _, err := h.c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Fatal(err)
	}
	var md metadata.MD
	if _, err := h.c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}, grpc.Header(&md)); err != nil {
		t.Fatal(err)
	}
	if regions() != 1 || len(md.Get("x-gpubms-cache-age")) != 1 {
		t.Errorf("two reads: %d provider requests and cache age %v, want 1 and an age", regions(), md.Get("x-gpubms-cache-age"))
	}
	md = nil
	fresh := metadata.AppendToOutgoingContext(ctx(t), "cache-control", "no-cache")
	if _, err := h.c.DescribeGpuRegions(fresh, &gpubmsv1.DescribeGpuRegionsRequest{}, grpc.Header(&md)); err != nil {
		t.Fatal(err)
	}
	if regions() != 2 || len(md.Get("x-gpubms-cache-age")) != 0 {
		t.Errorf("no-cache: %d provider requests and cache age %v, want 2 and none", regions(), md.Get("x-gpubms-cache-age"))
	}

	// Over HTTP: the plain header, and Cache-Control.
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, "http://"+h.httpAddr+"/v1/regions", nil)
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Gpubms-Cache-Age") == "" || regions() != 2 {
		t.Errorf("HTTP read: header %q with %d provider requests, want an age and still 2", resp.Header.Get("X-Gpubms-Cache-Age"), regions())
	}
	req.Header.Set("Cache-Control", "no-cache")
	resp, err = h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Gpubms-Cache-Age") != "" || regions() != 3 {
		t.Errorf("HTTP no-cache: header %q with %d provider requests, want none and 3", resp.Header.Get("X-Gpubms-Cache-Age"), regions())
	}

	// Server state is never cached.
	for range 2 {
		if _, err := h.c.DescribeGpu(ctx(t), &gpubmsv1.DescribeGpuRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.provider.calls("DescribeGpu"); n != 2 {
		t.Errorf("two DescribeGpu: %d provider requests, want 2", n)
	}

	// Identical concurrent reads share one request.
	h.provider.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.URL.Query().Get("Action") == "DescribeGpu" {
			time.Sleep(300 * time.Millisecond)
		}
		next.ServeHTTP(w, r)
	})
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.c.DescribeGpu(ctx(t), &gpubmsv1.DescribeGpuRequest{Name: "coalesced"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	h.provider.setIntercept(nil)
	if n := h.provider.calls("DescribeGpu") - 2; n < 1 || n > 3 {
		t.Errorf("50 identical concurrent DescribeGpu: %d provider requests, want about 1", n)
	}

	_, metrics := h.httpDo(t, http.MethodGet, "/metrics", nil, nil)
	for _, want := range []string{`gpubms_cache_events_total{action="DescribeGpuRegions",event="hit"}`, `event="coalesced"`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
