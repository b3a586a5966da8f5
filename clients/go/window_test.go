package gpubms_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// Dial's connections have fixed receive windows, so the client does not ping
// the server to size them (grpc-go's dynamic windows ping on nearly every
// reply): the frames it sends over many calls hold no ping, and its settings
// take a reply of up to 4 MiB at once.
func TestDialFixedWindows(t *testing.T) {
	t.Parallel()
	ts := startServer(&fakeService{})
	t.Cleanup(ts.stop)
	var (
		mu    sync.Mutex
		toSrv bytes.Buffer
	)
	dial := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		c, err := ts.lis.DialContext(ctx)
		if err != nil {
			return nil, err
		}
		return &teeConn{Conn: c, mu: &mu, w: &toSrv}, nil
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

	mu.Lock()
	defer mu.Unlock()
	b := toSrv.Bytes()
	if !bytes.HasPrefix(b, []byte(http2.ClientPreface)) {
		t.Fatalf("the client's bytes do not open with the HTTP/2 preface: %q", b[:min(len(b), 24)])
	}
	fr := http2.NewFramer(io.Discard, bytes.NewReader(b[len(http2.ClientPreface):]))
	var pings, frames int
	var streamWindow, connUpdate uint32
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			t.Fatalf("frame %d from the client: %v", frames, err)
		}
		frames++
		switch f := f.(type) {
		case *http2.PingFrame:
			if !f.IsAck() {
				pings++
			}
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok && !f.IsAck() {
				streamWindow = v
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connUpdate += f.Increment
			}
		}
	}
	if frames < 50 {
		t.Fatalf("read %d frames from the client; want a request per call", frames)
	}
	if pings != 0 {
		t.Errorf("the client sent %d pings over 50 calls; want none", pings)
	}
	if want := uint32(4<<20 + 5); streamWindow != want {
		t.Errorf("stream window = %d; want %d", streamWindow, want)
	}
	if want := uint32(16<<20 - 65535); connUpdate < want {
		t.Errorf("connection window raised by %d; want at least %d (to 16 MiB)", connUpdate, want)
	}
}

// teeConn copies what it writes into w.
type teeConn struct {
	net.Conn
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (c *teeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.w.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}
