package e2e_test

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

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/app"
)

// A gRPC connection's receive windows are fixed, so the server does not ping
// its callers to size them: grpc-go's dynamic windows ping on nearly every
// request (bandwidth-delay estimation), a frame each way per call. The
// frames the server sends on a connection that makes many calls hold no
// ping, and its settings give the windows: the largest request at once.
func TestNoFlowControlPings(t *testing.T) {
	h := start(t)
	var (
		mu      sync.Mutex
		fromSrv bytes.Buffer
	)
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		h.peers.add(c.LocalAddr().String())
		return &teeConn{Conn: c, mu: &mu, w: &fromSrv}, nil
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

	mu.Lock()
	defer mu.Unlock()
	fr := http2.NewFramer(io.Discard, bytes.NewReader(fromSrv.Bytes()))
	var pings, frames int
	var streamWindow, connUpdate uint32
	sawSettings := false
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			t.Fatalf("frame %d from the server: %v", frames, err)
		}
		frames++
		switch f := f.(type) {
		case *http2.PingFrame:
			if !f.IsAck() {
				pings++
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				sawSettings = true
				if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
					streamWindow = v
				}
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connUpdate += f.Increment
			}
		}
	}
	if !sawSettings || frames < 50 {
		t.Fatalf("read %d frames from the server (settings: %v); want its settings and a reply per call", frames, sawSettings)
	}
	if pings != 0 {
		t.Errorf("the server sent %d pings over 50 calls; want none", pings)
	}
	if want := uint32(app.DefaultHTTPMaxBodyBytes + 5); streamWindow != want {
		t.Errorf("stream window = %d; want %d (the largest request and its prefix)", streamWindow, want)
	}
	if want := uint32(16<<20 - 65535); connUpdate < want {
		t.Errorf("connection window raised by %d; want at least %d (to 16 MiB)", connUpdate, want)
	}
}

// teeConn copies what it reads into w.
type teeConn struct {
	net.Conn
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (c *teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.w.Write(p[:n])
	c.mu.Unlock()
	return n, err
}
