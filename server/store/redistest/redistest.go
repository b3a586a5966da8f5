// Package redistest runs a real redis-server for tests: on a free loopback
// port, in a temporary directory, with no persistence, stopped when the
// test ends. It needs the redis-server binary (Debian's redis-server
// package; .ci/run installs it).
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	Addr string // host:port
	cmd  *exec.Cmd
	args []string
	t    testing.TB
}

// URL is the server's redis:// URL, with the database db.
func (s *Server) URL(db int) string { return fmt.Sprintf("redis://%s/%d", s.Addr, db) }

// Start runs a redis-server until t ends, keeping nothing on disk.
func Start(t testing.TB) *Server { return start(t, false) }

// StartPersistent is Start with an append-only file synced at every write
// (appendfsync always), so that Stop and Restart lose nothing.
func StartPersistent(t testing.TB) *Server { return start(t, true) }

func start(t testing.TB, persist bool) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed: apt-get install redis-server (.ci/run does)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	aof := []string{"--appendonly", "no"}
	if persist {
		aof = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), t: t, args: append([]string{bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--dir", dir, "--protected-mode", "no", "--loglevel", "warning"}, aof...)}
	t.Cleanup(s.Stop)
	s.run()
	return s
}

// run starts the process and waits (at most 10 s) until it answers.
func (s *Server) run() {
	t := s.t
	t.Helper()
	// Its log goes nowhere: the start-up check says when it does not start.
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(s.Addr) == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer within 10s", s.Addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills the server (an outage); Restart starts it again on the same
// port, empty unless it was started with StartPersistent.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// Restart starts a stopped server again.
func (s *Server) Restart() { s.run() }

func ping(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redis answered %q", line)
	}
	return nil
}
