package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// TestBinaryRefusesExposure: gpubmsd will not listen beyond loopback with
// no caller authentication: it exits 1 with a message naming the fix. With
// GPUBMS_ALLOW_UNAUTHENTICATED=true it starts, and warns.
func TestBinaryRefusesExposure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := command(bin, nil, "--grpc-addr", "0.0.0.0:0")
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("got %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"refusing to listen on", "GPUBMS_AUTH_TOKENS", "GPUBMS_ALLOW_UNAUTHENTICATED=true"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	srv := startBinary(t, bin, []string{"GPUBMS_ALLOW_UNAUTHENTICATED=true"}, "--grpc-addr", "0.0.0.0:0")
	if !strings.Contains(srv.log(), "GPUBMS_ALLOW_UNAUTHENTICATED: no caller authentication") {
		t.Errorf("no warning that callers are not authenticated:\n%s", srv.log())
	}
	if code := srv.stop(t); code != 0 {
		t.Errorf("exit status after SIGTERM = %d, want 0", code)
	}
}

// TestBinaryReloadsTokensOnSIGHUP: SIGHUP re-reads the tokens file: the
// removed token is refused, the new one accepted, and the server goes on.
func TestBinaryReloadsTokensOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const oldToken, newToken = "sighup-old-T0ken-abcdef12", "sighup-new-T0ken-3456789a"
	file := filepath.Join(t.TempDir(), "tokens")
	write := func(s string) {
		if err := os.WriteFile(file+".tmp", []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	write("ci operator " + oldToken + "\n")
	srv := startBinary(t, buildBinary(t), []string{"GPUBMS_AUTH_TOKENS_FILE=" + file})
	conn, err := grpc.NewClient(srv.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := gpubmsv1.NewGpuServiceClient(conn)
	call := func(token string) error {
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+token), 10*time.Second)
		defer cancel()
		_, err := c.DescribeGpuRegions(ctx, &gpubmsv1.DescribeGpuRegionsRequest{})
		return err
	}
	if err := call(oldToken); err != nil {
		t.Fatalf("before SIGHUP: %v", err)
	}
	write("ci operator " + newToken + "\n")
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var last error
	for range 100 {
		if last = call(oldToken); status.Code(last) == codes.Unauthenticated {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status.Code(last) != codes.Unauthenticated {
		t.Fatalf("the old token after SIGHUP: got %v, want Unauthenticated", last)
	}
	if err := call(newToken); err != nil {
		t.Errorf("the new token after SIGHUP: %v", err)
	}
	if code := srv.stop(t); code != 0 {
		t.Errorf("exit status after SIGTERM = %d, want 0\n%s", code, srv.log())
	}
	logs := srv.log()
	if !strings.Contains(logs, "callers: reloaded") {
		t.Errorf("the reload is not logged:\n%s", logs)
	}
	for _, tok := range []string{oldToken, newToken} {
		if strings.Contains(logs, tok) {
			t.Errorf("the log holds a token")
		}
	}
}
