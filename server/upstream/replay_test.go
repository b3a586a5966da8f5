package upstream

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestGetNotReplayedByTransport: when a kept-alive connection dies under a
// GET, net/http would resend the very same signed URL (same nonce), which the
// provider rejects as a replay. Every request the provider sees must carry a
// fresh nonce: the retry is the client's own, signed afresh.
func TestGetNotReplayedByTransport(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		nonces []string
		served int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		nonces = append(nonces, r.URL.Query().Get("SignatureNonce"))
		served++
		n := served
		mu.Unlock()
		if n == 2 {
			// Drop the connection without a reply, as a provider-side idle
			// timeout racing the request would.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Code":"Success","Data":[]}`))
	}))
	t.Cleanup(srv.Close)

	// One kept-alive connection, so the second call reuses the first's.
	hc := &http.Client{Transport: &http.Transport{
		MaxConnsPerHost: 1,
		DialContext:     (&net.Dialer{Timeout: time.Second}).DialContext,
	}}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := New(srv.URL+"/gpubms/v1", testKeyID, testSecret,
		WithHTTPClient(hc), WithRetry(3, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := c.DescribeGpuRegions(t.Context(), &DescribeGpuRegionsRequest{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(nonces) != 3 {
		t.Fatalf("provider saw %d requests, want 3 (one, one dropped, its retry)", len(nonces))
	}
	seen := map[string]bool{}
	for _, n := range nonces {
		if seen[n] {
			t.Fatalf("nonce %q sent twice: %q", n, nonces)
		}
		seen[n] = true
	}
}
