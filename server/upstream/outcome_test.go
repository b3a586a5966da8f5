package upstream

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestOutcomeUnknown: a mutating action whose reply is lost after the
// request may have reached the provider is flagged OutcomeUnknown, so it is
// never reported as safe to retry; one that never connected, one the
// provider declined with 503, and every read are not.
func TestOutcomeUnknown(t *testing.T) {
	t.Parallel()
	drop := func(w http.ResponseWriter, _ *http.Request) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			_ = conn.Close()
		}
	}
	html := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte("<html>oops</html>"))
		}
	}
	// A port with nothing listening: the connection is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/gpubms/v1"
	_ = ln.Close()

	// A provider that takes its time: the call's deadline passes after the
	// request reached it.
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
	}
	tests := []struct {
		name     string
		handler  http.HandlerFunc // nil: connection refused
		read     bool
		deadline time.Duration
		want     bool
	}{
		{"create, reply lost", drop, false, 0, true},
		{"create, deadline passed after sending", slow, false, 100 * time.Millisecond, true},
		{"read, deadline passed", slow, true, 100 * time.Millisecond, false},
		{"create, 200 not JSON", html(http.StatusOK), false, 0, true},
		{"create, 500 not JSON", html(http.StatusInternalServerError), false, 0, true},
		{"create, 503 not JSON", html(http.StatusServiceUnavailable), false, 0, false},
		{"create, connection refused", nil, false, 0, false},
		{"read, reply lost", drop, true, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := refused
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				t.Cleanup(srv.Close)
				base = srv.URL + "/gpubms/v1"
			}
			c, err := New(base, testKeyID, testSecret, WithRetry(1, 1, 1))
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			if tt.read {
				_, err = c.DescribeGpuRegions(ctx, &DescribeGpuRegionsRequest{})
			} else {
				_, err = c.DeleteGpuInstances(ctx, &DeleteGpuInstancesRequest{ResourceIDs: []string{"r1"}})
			}
			te, ok := AsTransportError(err)
			if !ok {
				t.Fatalf("err = %v, want a *TransportError", err)
			}
			if te.OutcomeUnknown != tt.want {
				t.Errorf("OutcomeUnknown = %v, want %v (err %v)", te.OutcomeUnknown, tt.want, err)
			}
		})
	}
}
