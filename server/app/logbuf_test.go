package app

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  int // writes
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestBufferedLogger: info lines are written in batches, a warning at
// once with what came before it, every line by Close, none lost.
func TestBufferedLogger(t *testing.T) {
	var out lockedBuffer
	cfg := Config{LogFormat: "json", LogLevel: slog.LevelInfo}
	l, b := cfg.BufferedLogger(&out)
	for i := range 500 {
		l.Info("finished call", "i", i)
	}
	if strings.Count(out.String(), "\n") == 500 {
		t.Log("all 500 lines written before a flush (slow machine?)")
	}
	l.Warn("provider call failed")
	s := out.String()
	if !strings.Contains(s, "provider call failed") || strings.Count(s, "\n") != 501 {
		t.Errorf("after a warning: %d lines written, want all 501", strings.Count(s, "\n"))
	}
	l.Info("after")
	deadline := time.Now().Add(5 * logFlushEvery)
	for !strings.Contains(out.String(), `"after"`) && time.Now().Before(deadline) {
		time.Sleep(logFlushEvery / 4)
	}
	if !strings.Contains(out.String(), `"after"`) {
		t.Error("an info line is not written within a few flush intervals")
	}
	l.Info("last")
	b.Close()
	if !strings.Contains(out.String(), `"last"`) {
		t.Error("Close did not write the last line")
	}
	if out.n > 100 {
		t.Errorf("%d writes for 503 lines: not batched", out.n)
	}
}
