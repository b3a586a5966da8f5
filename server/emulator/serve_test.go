package emulator

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gpubms/gpubms/server/signature"
)

// signedURL is the URL of a signed GET of action on an emulator at base.
func signedURL(base, action string, now time.Time) string {
	q := signature.Common(nil, action, testKey, uuid.NewString(), now)
	return base + "/?" + signature.SignedQuery(http.MethodGet, q, testSecret)
}

func TestServe(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := BaseURL(ln)
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/gpubms/v1") {
		t.Fatalf("BaseURL = %s, want http://127.0.0.1:PORT/gpubms/v1", base)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h.e) }()

	resp, err := http.Get(signedURL(base, "DescribeGpuRegions", h.clock.Now()))
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	var env struct{ Code string }
	err = json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if err != nil || env.Code != codeSuccess {
		t.Fatalf("DescribeGpuRegions over HTTP: got %q (%v), want Success", env.Code, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: got %v, want nil", err)
		}
	case <-time.After(30 * time.Second): // a bound on a hang, not a timing assertion
		t.Fatal("Serve did not return after its context was cancelled")
	}
	if _, err := http.Get(signedURL(base, "DescribeGpuRegions", h.clock.Now())); err == nil {
		t.Errorf("GET after shutdown: got a reply, want a connection error")
	}
}

func TestServeReportsListenerErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := Serve(context.Background(), ln, http.NotFoundHandler()); err == nil {
		t.Errorf("Serve on a closed listener: got nil, want an error")
	}
}

type addrListener struct {
	net.Listener
	addr string
}

func (l addrListener) Addr() net.Addr { return fakeAddr(l.addr) }

type fakeAddr string

func (fakeAddr) Network() string  { return "tcp" }
func (a fakeAddr) String() string { return string(a) }

func TestBaseURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1:8099", "http://127.0.0.1:8099/gpubms/v1"},
		{"0.0.0.0:8099", "http://127.0.0.1:8099/gpubms/v1"},
		{"[::]:8099", "http://127.0.0.1:8099/gpubms/v1"},
		{"[::1]:8099", "http://[::1]:8099/gpubms/v1"},
		{"localhost:8099", "http://localhost:8099/gpubms/v1"},
	} {
		if got := BaseURL(addrListener{addr: tt.addr}); got != tt.want {
			t.Errorf("BaseURL(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}
