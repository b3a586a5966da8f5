package gpubms_test

import (
	"bytes"
	"context"
	"net"
	"testing"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/h2test"
)

// Dial's connections have fixed receive windows, so the client does not ping
// the server to size them (grpc-go's dynamic windows ping on nearly every
// reply): the frames it sends over many calls hold no ping, and its settings
// take a reply of up to 4 MiB at once.
func TestDialFixedWindows(t *testing.T) {
	t.Parallel()
	ts := startServer(&fakeService{})
	t.Cleanup(ts.stop)
	var rec h2test.Recorder
	dial := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		c, err := ts.lis.DialContext(ctx)
		if err != nil {
			return nil, err
		}
		return rec.Conn(c), nil
	})
	c, err := gpubms.Dial(context.Background(), bufTarget, gpubms.WithInsecure(), gpubms.WithDialOptions(dial))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	for range 50 {
		if _, err := c.DescribeGpuRegions(context.Background(), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
			t.Fatalf("DescribeGpuRegions: %v", err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	sent := rec.Written()
	if !bytes.HasPrefix(sent, []byte(http2.ClientPreface)) {
		t.Fatalf("the client's bytes do not open with the HTTP/2 preface: %q", sent[:min(len(sent), 24)])
	}
	fs := h2test.CallsWithoutPings(t, sent, "client", 50)
	if want := uint32(4<<20 + 5); fs.InitialWindowSize != want {
		t.Errorf("stream window = %d; want %d", fs.InitialWindowSize, want)
	}
	if want := uint32(16<<20 - 65535); fs.ConnWindowIncrement < want {
		t.Errorf("connection window raised by %d; want at least %d (to 16 MiB)", fs.ConnWindowIncrement, want)
	}
}
