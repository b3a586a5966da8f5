package app

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Batching of log writes: a line per call, each its own write to stderr,
// costs a system call per call, and more when a slow reader (a pipe to a
// log collector) holds the writer back. A LogBuffer gathers lines and
// writes them every logFlushEvery, at once when logFlushSize have gathered,
// and at once after any record at Warn or above, so nothing that matters
// waits. It never drops a line: a full buffer is written before more is
// taken, which slows the writers instead.
const (
	logFlushEvery = 100 * time.Millisecond
	logFlushSize  = 64 << 10
)

// LogBuffer batches writes to an io.Writer. It is safe for concurrent use.
type LogBuffer struct {
	mu   sync.Mutex // guards buf, and orders writes to w
	w    io.Writer
	buf  []byte
	stop chan struct{}
	done chan struct{}
}

// NewLogBuffer batches writes to w until Close.
func NewLogBuffer(w io.Writer) *LogBuffer {
	b := &LogBuffer{w: w, buf: make([]byte, 0, logFlushSize), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

func (b *LogBuffer) run() {
	defer close(b.done)
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			b.Flush()
			return
		case <-t.C:
			b.Flush()
		}
	}
}

// Write takes p (one log record) into the buffer.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > logFlushSize {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) > logFlushSize {
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes what has gathered.
func (b *LogBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *LogBuffer) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// Close writes what is left and stops the background writes.
func (b *LogBuffer) Close() error {
	close(b.stop)
	<-b.done
	return nil
}

// flushingHandler flushes the buffer after each record at Warn or above.
type flushingHandler struct {
	slog.Handler
	b *LogBuffer
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		_ = h.b.Flush()
	}
	return err
}

func (h flushingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(as), h.b}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.b}
}

// BufferedLogger is Logger writing through a LogBuffer on w; close the
// buffer last, to write what is left.
func (c *Config) BufferedLogger(w io.Writer) (*slog.Logger, *LogBuffer) {
	b := NewLogBuffer(w)
	l := c.Logger(b)
	return slog.New(flushingHandler{l.Handler(), b}), b
}
