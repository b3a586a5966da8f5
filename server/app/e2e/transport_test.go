package e2e_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/app"
	"github.com/gpubms/gpubms/server/h2test"
)

// A gRPC connection's receive windows are fixed, so the server does not ping
// its callers to size them: grpc-go's dynamic windows ping on nearly every
// request (bandwidth-delay estimation), a frame each way per call. The
// frames the server sends on a connection that makes many calls hold no
// ping, and its settings give the windows: the largest request at once.
func TestNoFlowControlPings(t *testing.T) {
	h := start(t)
	var rec h2test.Recorder
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		h.peers.add(c.LocalAddr().String())
		return rec.Conn(c), nil
	}
	c := h.newClient(t, grpc.WithContextDialer(dial))
	for range 50 {
		if _, err := c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.conn.Close(); err != nil {
		t.Fatal(err)
	}

	fs := h2test.CallsWithoutPings(t, rec.Read(), "server", 50)
	if want := uint32(app.DefaultHTTPMaxBodyBytes + 5); fs.InitialWindowSize != want {
		t.Errorf("stream window = %d; want %d (the largest request and its prefix)", fs.InitialWindowSize, want)
	}
	if want := uint32(16<<20 - 65535); fs.ConnWindowIncrement < want {
		t.Errorf("connection window raised by %d; want at least %d (to 16 MiB)", fs.ConnWindowIncrement, want)
	}
}
