package upstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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

// TestGetFraming: a GET goes out non-replayable (a body net/http cannot
// rewind) yet with no body and no body framing on the wire, and without the
// body probe net/http runs for a body of unknown length (TransferEncoding
// identity tells it to send the body as it is: nothing).
func TestGetFraming(t *testing.T) {
	t.Parallel()
	c, err := New("http://127.0.0.1:1/gpubms/v1", testKeyID, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.newRequest(t.Context(), getCall(ActionDescribeGpuDetail, setString(nil, "ResourceId", "r")))
	if err != nil {
		t.Fatal(err)
	}
	if req.Body == nil || req.Body == http.NoBody || req.GetBody != nil {
		t.Errorf("got Body %T, GetBody set %v; want a body that cannot be rewound (not replayable)", req.Body, req.GetBody != nil)
	}
	if len(req.TransferEncoding) != 1 || req.TransferEncoding[0] != "identity" {
		t.Errorf("got TransferEncoding %q, want [identity]", req.TransferEncoding)
	}
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		t.Fatal(err)
	}
	head := wire.String()
	if !strings.HasSuffix(head, "\r\n\r\n") {
		t.Errorf("request does not end with its header: %q", head)
	}
	for _, h := range []string{"Content-Length", "Transfer-Encoding"} {
		if strings.Contains(head, h) {
			t.Errorf("request carries %s: %q", h, head)
		}
	}
	// io.Copy, which net/http sends a body of unknown length with, must
	// find a WriterTo: else the copy to a TCP connection allocates 32 KiB.
	if _, ok := req.Body.(io.WriterTo); !ok {
		t.Errorf("the GET body %T is not an io.WriterTo", req.Body)
	}
}

type ctxKey struct{}

// TestRequestContextShallow: a request's context holds none of the caller's
// values, carries its deadline, and ends when the caller's does.
func TestRequestContextShallow(t *testing.T) {
	t.Parallel()
	got := make(chan context.Context, 1)
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got <- r.Context()
		<-r.Context().Done()
		return nil, r.Context().Err()
	})}
	c, err := New("http://127.0.0.1:1/gpubms/v1", testKeyID, testSecret, WithHTTPClient(hc), WithRetry(1, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Hour)
	ctx, cancel := context.WithDeadline(context.WithValue(t.Context(), ctxKey{}, "caller's"), deadline)
	ctx, _ = WithAttemptCounter(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := c.DeleteGpuInstances(ctx, &DeleteGpuInstancesRequest{ResourceIDs: []string{"r"}})
		done <- err
	}()
	rctx := <-got
	if rctx.Value(ctxKey{}) != nil || AttemptCounterFrom(rctx) != nil {
		t.Error("the request's context holds the caller's values")
	}
	if dl, ok := rctx.Deadline(); !ok || !dl.Equal(deadline) {
		t.Errorf("got deadline %v, %v; want the caller's %v", dl, ok, deadline)
	}
	cancel()
	select {
	case <-rctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the request's context did not end with the caller's")
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
