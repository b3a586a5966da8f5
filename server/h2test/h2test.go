// Package h2test records the bytes of a connection and reads the HTTP/2
// frames in them, for tests of what goes over the wire.
package h2test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"golang.org/x/net/http2"
)

// Recorder keeps what the connections it wraps read and write.
type Recorder struct {
	mu            sync.Mutex
	read, written bytes.Buffer
}

// Conn wraps c, recording both directions.
func (r *Recorder) Conn(c net.Conn) net.Conn { return &conn{Conn: c, r: r} }

// Read is a copy of every byte read so far.
func (r *Recorder) Read() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.read.Bytes())
}

// Written is a copy of every byte written so far.
func (r *Recorder) Written() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.written.Bytes())
}

type conn struct {
	net.Conn
	r *Recorder
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r.mu.Lock()
	c.r.read.Write(p[:n])
	c.r.mu.Unlock()
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	c.r.mu.Lock()
	c.r.written.Write(p)
	c.r.mu.Unlock()
	return c.Conn.Write(p)
}

// Frames sums up the frames one side of a connection sent.
type Frames struct {
	Count int
	// Pings counts the pings sent, not their acknowledgements.
	Pings int
	// Settings reports a SETTINGS frame (not an acknowledgement), and
	// InitialWindowSize its SETTINGS_INITIAL_WINDOW_SIZE, 0 if none.
	Settings          bool
	InitialWindowSize uint32
	// ConnWindowIncrement sums the connection's WINDOW_UPDATEs.
	ConnWindowIncrement uint32
}

// Parse reads the frames in b, after the client's preface if b opens with
// it. A frame cut short at the end (the connection closed) ends the frames;
// one over HTTP/2's default size of 16 KiB, which neither grpc-go side
// raises, is an error.
func Parse(b []byte) (Frames, error) {
	b = bytes.TrimPrefix(b, []byte(http2.ClientPreface))
	fr := http2.NewFramer(io.Discard, bytes.NewReader(b))
	fr.SetMaxReadFrameSize(16 << 10)
	var fs Frames
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fs, nil
		}
		if err != nil {
			return fs, fmt.Errorf("frame %d: %w", fs.Count, err)
		}
		fs.Count++
		switch f := f.(type) {
		case *http2.PingFrame:
			if !f.IsAck() {
				fs.Pings++
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fs.Settings = true
				if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
					fs.InitialWindowSize = v
				}
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				fs.ConnWindowIncrement += f.Increment
			}
		}
	}
}

// CallsWithoutPings reads the frames side ("client" or "server") sent in b
// over calls calls. It fails tb unless they parse, hold side's settings and
// at least a frame per call, and include no ping.
func CallsWithoutPings(tb testing.TB, b []byte, side string, calls int) Frames {
	tb.Helper()
	fs, err := Parse(b)
	if err != nil {
		tb.Fatalf("the %s's frames: %v", side, err)
	}
	if !fs.Settings || fs.Count < calls {
		tb.Fatalf("read %+v from the %s; want its settings and a frame per call", fs, side)
	}
	if fs.Pings != 0 {
		tb.Errorf("the %s sent %d pings over %d calls; want none", side, fs.Pings, calls)
	}
	return fs
}
